import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfigObject, type ConfigInput } from "../config.js";
import { Ledger, verifyBalances } from "../billing/ledger.js";
import { Inbox } from "../inbox/inbox.js";
import { openDatabase, type Db } from "../store/db.js";
import { deviceStateMessage, enrollTestHost, payloadOf, silentLogger, statusMessage, tempDb, testAppDeps } from "../testing/fixtures.js";
import { SagaEngine } from "./engine.js";
import { cancelOrder, purchase } from "./purchase.js";
import { createSagaRunner, type SagaDeps } from "./runner.js";
import { sagaCountsByStatus } from "./stats.js";
import { getOrderDetail, insertOrderAndSaga, loadSaga, readPlan, sagaOfOrder } from "./store.js";

const PRICE = 1000;
const START_BALANCE = 5000;
const SPEC = { cpuMillis: 1000, memoryMb: 1024, diskMb: 2048, width: 720, height: 1280, dpi: 320, fps: 30 };
const BIG_HOST = { cpuMillis: 64_000, memoryMb: 262_144, diskMb: 1_000_000, deviceSlots: 100 };

let db: Db;
let dir: string;
let cleanup: () => void;
let deps: SagaDeps;
let hostId: string;
let inbox: Inbox;
let seq = 1;

function makeDeps(database: Db, config: ConfigInput = {}): SagaDeps {
  const app = testAppDeps(database);
  const cfg = parseConfigObject({ dataDir: "/nonexistent", logLevel: "silent", sagaRetryBaseMs: 10, defaultQuotaDevices: 50, ...config });
  return { ...app, config: cfg, tickMs: 10_000 }; // tests tick by hand
}

function seed(database: Db, userId = "u1"): void {
  const now = Date.now();
  database.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES (?, ?, 'user', ?, ?)").run(userId, `${userId}@example.test`, now, now);
  database
    .prepare(
      `INSERT OR IGNORE INTO plans (id, name, price_minor, usage_model, usage_rate_minor, spec, active, created_at, updated_at)
       VALUES ('p1', 'Basic phone', ?, 'per_minute', 1, ?, 1, ?, ?)`,
    )
    .run(PRICE, JSON.stringify(SPEC), now, now);
  const r = new Ledger(database, { lowBalanceThresholdMinor: 0 }).post({ userId, kind: "recharge", amountMinor: START_BALANCE, idempotencyKey: `seed:${userId}` });
  if (!r.ok) throw new Error(r.message);
}

async function report(deviceId: string, state: string, desired = "running"): Promise<void> {
  const m = deviceStateMessage(hostId, deviceId, state, ++seq, desired);
  await inbox.ingest(m.topic, payloadOf(m), hostId);
}

async function buy(d: SagaDeps = deps, userId = "u1") {
  const r = await purchase(d, new SagaEngine(d), { userId, planId: "p1", requestId: "req-1" });
  if (!r.ok) throw new Error(`purchase refused: ${r.code} ${r.message}`);
  return { orderId: r.order.id, sagaId: r.sagaId, deviceId: r.order.deviceId! };
}

const deducts = (orderId: string) =>
  db.prepare("SELECT amount_minor FROM ledger_entries WHERE order_id = ? AND kind = 'deduct'").pluck().all(orderId) as number[];
const events = (name: string) =>
  (db.prepare("SELECT user_id, data FROM platform_outbox WHERE name = ? ORDER BY seq").all(name) as { user_id: string | null; data: string }[]).map((r) => ({
    userId: r.user_id,
    data: JSON.parse(r.data) as Record<string, unknown>,
  }));
const balance = (userId = "u1") => deps.ledger.balance(userId);

/** A real SQLite failure: a temp trigger calling a JS function that throws for the next `times` calls. */
function injectFailure(database: Db, name: string, table: string, op: "INSERT" | "UPDATE", when: string, times = Infinity): void {
  let left = times;
  database.function(`fault_${name}`, () => {
    if (left <= 0) return 0;
    left -= 1;
    throw new Error(`injected ${name} failure`);
  });
  database.exec(`CREATE TEMP TRIGGER fault_${name} BEFORE ${op} ON ${table} WHEN ${when} BEGIN SELECT fault_${name}(); END`);
}

beforeEach(async () => {
  ({ db, dir, cleanup } = tempDb());
  deps = makeDeps(db);
  hostId = enrollTestHost(db, BIG_HOST).hostId;
  inbox = new Inbox(db, silentLogger());
  const m = statusMessage(hostId, "online", ++seq);
  await inbox.ingest(m.topic, payloadOf(m), hostId);
  seed(db);
});
afterEach(() => {
  inbox?.close();
  cleanup();
});

describe("purchase saga runner", () => {
  it("allocates in the request, then the runner waits for the device, takes payment once and activates", async () => {
    const { orderId, sagaId, deviceId } = await buy();
    const device = db.prepare("SELECT owner_id, plan_id, order_id, desired FROM devices WHERE id = ?").get(deviceId);
    expect(device).toEqual({ owner_id: "u1", plan_id: "p1", order_id: orderId, desired: "running" });
    expect(db.prepare("SELECT action FROM commands WHERE device_id = ?").pluck().all(deviceId)).toEqual(["create"]);

    const runner = createSagaRunner(deps);
    await runner.tick();
    expect(loadSaga(db, sagaId)).toMatchObject({ status: "running", step: "device_allocated" });
    expect(deducts(orderId)).toEqual([]);

    await report(deviceId, "creating");
    await runner.tick();
    expect(loadSaga(db, sagaId)?.step).toBe("device_allocated");
    await report(deviceId, "running");
    await runner.tick();

    const detail = getOrderDetail(db, orderId)!;
    expect(detail).toMatchObject({ status: "active", deviceId, amountMinor: PRICE, saga: { status: "completed", step: "activated" } });
    expect(detail.activatedAt).toBeTypeOf("number");
    expect(detail.sagaLog.map((l) => l.step)).toEqual(["order_created", "device_allocated", "device_ready", "payment_taken", "activated"]);
    expect(deducts(orderId)).toEqual([-PRICE]);
    expect(balance()).toBe(START_BALANCE - PRICE);
    expect(events("order.completed")).toEqual([{ userId: "u1", data: { orderId, deviceId, planId: "p1" } }]);
    // Ticking again changes nothing.
    await runner.tick();
    expect(deducts(orderId)).toEqual([-PRICE]);
    expect(verifyBalances(db)).toEqual([]);
  });

  it("compensates a device that fails before it is ready: released, nothing charged, user told", async () => {
    const { orderId, sagaId, deviceId } = await buy();
    await report(deviceId, "failed");
    await createSagaRunner(deps).tick();
    expect(loadSaga(db, sagaId)).toMatchObject({ status: "compensated", step: "order_cancelled" });
    const detail = getOrderDetail(db, orderId)!;
    expect(detail).toMatchObject({ status: "failed", failureCode: "device_failed" });
    expect(detail.sagaLog.map((l) => `${l.step}:${l.outcome}`)).toEqual([
      "order_created:done",
      "device_allocated:done",
      "device_allocated:failed",
      "device_released:done",
      "order_cancelled:compensated",
    ]);
    expect(db.prepare("SELECT desired FROM devices WHERE id = ?").pluck().get(deviceId)).toBe("deleted");
    expect(db.prepare("SELECT action FROM commands WHERE device_id = ? ORDER BY rowid").pluck().all(deviceId)).toEqual(["create", "delete"]);
    expect(deducts(orderId)).toEqual([]);
    expect(balance()).toBe(START_BALANCE);
    expect(events("order.failed")).toEqual([
      { userId: "u1", data: expect.objectContaining({ notification: "ORDER_FAILED", orderId, code: "device_failed", refunded: false }) },
    ]);
  });

  it("times out when the device is not ready by the deadline", async () => {
    const { orderId, sagaId, deviceId } = await buy();
    await report(deviceId, "starting");
    db.prepare("UPDATE sagas SET deadline_at = ? WHERE id = ?").run(Date.now() - 1, sagaId);
    await createSagaRunner(deps).tick();
    expect(loadSaga(db, sagaId)?.status).toBe("compensated");
    expect(getOrderDetail(db, orderId)).toMatchObject({ status: "failed", failureCode: "saga_timeout" });
    expect(db.prepare("SELECT desired FROM devices WHERE id = ?").pluck().get(deviceId)).toBe("deleted");
  });

  it("never allocates to an account deleted after the order was written", async () => {
    const plan = readPlan(db, "p1")!;
    const { orderId, sagaId } = db
      .transaction(() => insertOrderAndSaga(db, { userId: "u1", plan: { ...plan, spec: plan.spec! }, name: "x", requestId: null, deadlineAt: Date.now() + 60_000 }, Date.now()))
      .immediate();
    db.prepare("UPDATE users SET status = 'deleted', deleted_at = ? WHERE id = 'u1'").run(Date.now());
    await createSagaRunner(deps).tick();
    expect(loadSaga(db, sagaId)?.status).toBe("compensated");
    expect(getOrderDetail(db, orderId)).toMatchObject({ status: "failed", failureCode: "user_deleted", deviceId: null });
    expect(db.prepare("SELECT COUNT(*) FROM devices").pluck().get()).toBe(0);
  });

  it("compensates at once, without retrying, when the funds are gone by payment time", async () => {
    const { orderId, sagaId, deviceId } = await buy();
    deps.ledger.post({ userId: "u1", kind: "deduct", amountMinor: START_BALANCE, idempotencyKey: "elsewhere" });
    await report(deviceId, "running");
    await createSagaRunner(deps).tick();
    expect(loadSaga(db, sagaId)).toMatchObject({ status: "compensated", attempts: 0 });
    expect(getOrderDetail(db, orderId)).toMatchObject({ status: "failed", failureCode: "insufficient_funds" });
    expect(db.prepare("SELECT COUNT(*) FROM ledger_entries WHERE order_id = ?").pluck().get(orderId)).toBe(0);
    expect(db.prepare("SELECT desired FROM devices WHERE id = ?").pluck().get(deviceId)).toBe("deleted");
  });

  it("retries a transient failure with back-off and then succeeds, charging once", async () => {
    injectFailure(db, "pay", "ledger_entries", "INSERT", "NEW.kind = 'deduct'", 2);
    const { orderId, sagaId, deviceId } = await buy();
    await report(deviceId, "running");
    await createSagaRunner(deps).tick();
    const detail = getOrderDetail(db, orderId)!;
    expect(detail.saga).toMatchObject({ status: "completed", attempts: 0 });
    expect(detail.sagaLog.filter((l) => l.outcome === "retry").map((l) => l.detail)).toEqual([
      "attempt 1: injected pay failure",
      "attempt 2: injected pay failure",
    ]);
    expect(deducts(orderId)).toEqual([-PRICE]);
    expect(loadSaga(db, sagaId)?.lastError).toBeNull();
  });

  it("after the last retry of a step past payment it refunds, releases and fails the order", async () => {
    injectFailure(db, "activate", "orders", "UPDATE", "NEW.status = 'active'");
    const { orderId, sagaId, deviceId } = await buy();
    await report(deviceId, "running");
    await createSagaRunner(deps).tick();
    const detail = getOrderDetail(db, orderId)!;
    expect(detail).toMatchObject({ status: "failed", failureCode: "step_failed", saga: { status: "compensated" } });
    expect(detail.sagaLog.filter((l) => l.outcome === "retry")).toHaveLength(4); // first attempt + 3 retries
    expect(detail.sagaLog.filter((l) => l.outcome !== "retry").map((l) => l.step)).toEqual([
      "order_created",
      "device_allocated",
      "device_ready",
      "payment_taken",
      "payment_taken", // failed → compensating
      "refunded",
      "device_released",
      "order_cancelled",
    ]);
    const entries = db.prepare("SELECT kind, amount_minor AS amount FROM ledger_entries WHERE order_id = ? ORDER BY id").all(orderId);
    expect(entries).toEqual([
      { kind: "deduct", amount: -PRICE },
      { kind: "refund", amount: PRICE },
    ]);
    expect(balance()).toBe(START_BALANCE);
    expect(events("order.failed")[0]?.data).toMatchObject({ code: "step_failed", refunded: true });
    expect(db.prepare("SELECT desired FROM devices WHERE id = ?").pluck().get(deviceId)).toBe("deleted");
    expect(verifyBalances(db)).toEqual([]);
  });

  it("parks a saga whose compensation keeps failing and raises a critical alert for operators", async () => {
    const { orderId, sagaId, deviceId } = await buy();
    injectFailure(db, "release", "commands", "INSERT", "NEW.action = 'delete'");
    await report(deviceId, "failed");
    await createSagaRunner(deps).tick();
    expect(loadSaga(db, sagaId)).toMatchObject({ status: "compensation_failed", attempts: 4, lastError: "injected release failure" });
    expect(getOrderDetail(db, orderId)?.status).toBe("pending");
    const alert = db.prepare("SELECT kind, severity, subject_id, resolved_at, data FROM alerts").get() as Record<string, unknown>;
    expect(alert).toMatchObject({ kind: "saga.compensation_failed", severity: "critical", subject_id: sagaId, resolved_at: null });
    expect(JSON.parse(alert.data as string)).toMatchObject({ orderId, userId: "u1", error: "injected release failure" });
    expect(events("alert.raised")).toEqual([{ userId: null, data: expect.objectContaining({ kind: "saga.compensation_failed", severity: "critical" }) }]);
    // Parked: later ticks leave it for an operator.
    await createSagaRunner(deps).tick();
    expect(loadSaga(db, sagaId)?.status).toBe("compensation_failed");
    expect(sagaCountsByStatus(db)).toEqual({ running: 0, compensating: 0, completed: 0, compensated: 0, compensation_failed: 1 });
  });

  it("persists failed attempts so a restarted runner continues the same budget", async () => {
    deps = makeDeps(db, { sagaRetryBaseMs: 60_000 });
    injectFailure(db, "pay", "ledger_entries", "INSERT", "NEW.kind = 'deduct'", 1);
    const { orderId, sagaId, deviceId } = await buy();
    await report(deviceId, "running");
    const first = createSagaRunner(deps);
    first.start(); // the first attempt fails, then p-retry waits 60 s …
    await expect.poll(() => loadSaga(db, sagaId)?.attempts).toBe(1);
    await first.stop(); // … and the process "dies" during the back-off.
    const s = loadSaga(db, sagaId)!;
    expect(s).toMatchObject({ status: "running", step: "device_ready", lastError: "injected pay failure" });
    expect(s.nextAttemptAt).toBeGreaterThan(Date.now() + 50_000);

    const second = createSagaRunner(deps);
    await second.tick();
    expect(loadSaga(db, sagaId)?.step).toBe("device_ready"); // not due yet
    db.prepare("UPDATE sagas SET next_attempt_at = ? WHERE id = ?").run(Date.now(), sagaId); // time passes
    await second.tick();
    expect(loadSaga(db, sagaId)).toMatchObject({ status: "completed", attempts: 0 });
    expect(deducts(orderId)).toEqual([-PRICE]);
  });

  it("compensates at once a saga resumed with its retry budget already spent", async () => {
    const { orderId, sagaId, deviceId } = await buy();
    await report(deviceId, "running");
    await new SagaEngine(deps).drive(sagaId, { until: (x) => x.step === "device_ready" });
    db.prepare("UPDATE sagas SET attempts = 4, last_error = 'disk full' WHERE id = ?").run(sagaId);
    await createSagaRunner(deps).tick();
    expect(getOrderDetail(db, orderId)).toMatchObject({ status: "failed", failureCode: "step_failed" });
    expect(deducts(orderId)).toEqual([]);
  });

  it("resumes after a crash at every step: a new runner on a reopened database finishes each saga once", async () => {
    const file = join(dir, "control-plane.db");
    const stops = ["order_created", "device_allocated", "device_ready", "payment_taken", "activated"] as const;
    const orders: string[] = [];
    for (const stop of stops) {
      let orderId: string;
      if (stop === "order_created") {
        const plan = readPlan(db, "p1")!;
        orderId = db
          .transaction(() =>
            insertOrderAndSaga(db, { userId: "u1", plan: { ...plan, spec: plan.spec! }, name: "x", requestId: null, deadlineAt: Date.now() + 60_000 }, Date.now()),
          )
          .immediate().orderId;
      } else {
        const b = await buy();
        orderId = b.orderId;
        if (stop !== "device_allocated") await report(b.deviceId, "running");
        await new SagaEngine(deps).drive(b.sagaId, { until: (x) => x.step === stop });
      }
      expect(sagaOfOrder(db, orderId)?.step).toBe(stop);
      orders.push(orderId);
    }
    // "Crash": drop every in-memory object and reopen the file with a fresh connection.
    inbox.close();
    db.close();
    db = openDatabase(file, { synchronous: "FULL" });
    inbox = new Inbox(db, silentLogger());
    deps = makeDeps(db);
    const runner = createSagaRunner(deps);
    await runner.tick();
    for (const o of orders) {
      const d = getOrderDetail(db, o)!;
      if (d.saga?.step === "device_allocated") await report(d.deviceId!, "running");
    }
    await runner.tick();
    await runner.tick();
    for (const o of orders) {
      expect(getOrderDetail(db, o)).toMatchObject({ status: "active", saga: { status: "completed" } });
      expect(deducts(o)).toEqual([-PRICE]);
    }
    expect(balance()).toBe(START_BALANCE - stops.length * PRICE);
    expect(events("order.completed")).toHaveLength(stops.length);
    expect(verifyBalances(db)).toEqual([]);
  });

  it("cancels before payment (device released, order cancelled) and refuses after payment", async () => {
    const engine = new SagaEngine(deps);
    const a = await buy();
    const c = await cancelOrder(deps, engine, a.orderId);
    expect(c).toMatchObject({ ok: true, done: true, order: { status: "cancelled", failureCode: "cancelled" } });
    expect(db.prepare("SELECT desired FROM devices WHERE id = ?").pluck().get(a.deviceId)).toBe("deleted");
    expect(events("order.cancelled")).toEqual([{ userId: "u1", data: { orderId: a.orderId, planId: "p1", refunded: false } }]);
    expect(events("order.failed")).toEqual([]);

    const b = await buy();
    await report(b.deviceId, "running");
    await createSagaRunner(deps).tick();
    expect(await cancelOrder(deps, engine, b.orderId)).toMatchObject({ ok: false, status: 409, code: "order_not_cancellable" });
    expect(await cancelOrder(deps, engine, "nope")).toMatchObject({ ok: false, status: 404 });
    expect(await cancelOrder(deps, engine, a.orderId)).toMatchObject({ ok: false, code: "order_not_cancellable" });
  });

  it("never over-allocates: 100 concurrent purchases with quota 5 give 5 devices and 5 payments", async () => {
    deps = makeDeps(db, { defaultQuotaDevices: 5 });
    deps.ledger.post({ userId: "u1", kind: "recharge", amountMinor: 1_000_000, idempotencyKey: "more" });
    const engine = new SagaEngine(deps);
    const results = await Promise.all(Array.from({ length: 100 }, () => purchase(deps, engine, { userId: "u1", planId: "p1", requestId: null })));
    const ok = results.filter((r) => r.ok);
    expect(ok).toHaveLength(5);
    expect(new Set(results.filter((r) => !r.ok).map((r) => (r.ok ? "" : `${r.status} ${r.code}`)))).toEqual(new Set(["409 quota_exceeded"]));
    for (const r of ok) if (r.ok) await report(r.order.deviceId!, "running");
    await createSagaRunner(deps).tick();
    expect(db.prepare("SELECT COUNT(*) FROM devices WHERE owner_id = 'u1'").pluck().get()).toBe(5);
    expect(db.prepare("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'deduct' AND order_id IS NOT NULL").pluck().get()).toBe(5);
    expect(db.prepare("SELECT COUNT(*) FROM orders WHERE status = 'active'").pluck().get()).toBe(5);
    expect(verifyBalances(db)).toEqual([]);
  });
});
