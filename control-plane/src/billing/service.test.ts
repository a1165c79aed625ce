import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SCHEMA_VERSION, newId, topics } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { Inbox } from "../inbox/inbox.js";
import { createDevice } from "../devices/registry.js";
import { CommandPublisher } from "../devices/publisher.js";
import { Metrics } from "../metrics/metrics.js";
import { Notifier } from "../notify/notifier.js";
import { parseConfigObject } from "../config.js";
import { createPlan } from "../plans/store.js";
import { enrollTestHost, silentLogger, statusMessage, payloadOf, tempDb } from "../testing/fixtures.js";
import { Ledger, verifyBalances } from "./ledger.js";
import { UsageCharger } from "./charging.js";
import { createBillingService } from "./service.js";

const SPEC = { cpuMillis: 500, memoryMb: 512, diskMb: 1024, width: 720, height: 1280, dpi: 320, fps: 30 };
const MIN = 60_000;

let db: Db;
let cleanup: () => void;
let ledger: Ledger;
let inbox: Inbox;
let hostId: string;
let seq = 10;

beforeEach(async () => {
  ({ db, cleanup } = tempDb());
  ledger = new Ledger(db, { lowBalanceThresholdMinor: 50 });
  inbox = new Inbox(db, silentLogger());
  for (const u of ["u1", "u2"]) {
    db.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES (?, ?, 'user', 0, 0)").run(u, `${u}@example.com`);
  }
  ({ hostId } = enrollTestHost(db));
  const m = statusMessage(hostId, "online", 1);
  await inbox.ingest(m.topic, payloadOf(m), hostId);
});
afterEach(() => {
  inbox.close();
  cleanup();
});

function perMinutePlan(rate = 10) {
  return createPlan(db, { name: "basic", description: "", priceMinor: 0, usageModel: "per_minute", usageRateMinor: rate, spec: SPEC, active: true });
}

function device(ownerId: string | undefined, planId: string | null): string {
  const r = createDevice(db, { ...SPEC, ...(ownerId ? { ownerId } : {}) }, undefined, Date.now(), { planId });
  if (!r.ok) throw new Error(r.message);
  return r.device.id;
}

/** A usage record through the real inbox, as the agent publishes it. Returns the record id. */
async function usage(deviceId: string, from: number, to: number, recordId = newId()): Promise<string> {
  const body = { id: newId(), seq: seq++, ts: Date.now(), v: SCHEMA_VERSION, hostId, deviceId, recordId, from, to };
  await inbox.ingest(topics.usage(hostId), Buffer.from(JSON.stringify(body)), hostId);
  return recordId;
}

function service(config: Record<string, unknown> = {}) {
  const log = silentLogger();
  const cfg = parseConfigObject({ dataDir: "/nonexistent", logLevel: "silent", zeroBalanceGraceSeconds: 60, ...config });
  const notifier = new Notifier();
  return createBillingService({ db, log, config: cfg, ledger, publisher: new CommandPublisher(db, log, 10_000), metrics: new Metrics({ db, inboxStats: inbox.stats, notifier }) });
}

const events = (name: string) => db.prepare("SELECT user_id AS userId, data FROM platform_outbox WHERE name = ? ORDER BY seq").all(name) as { userId: string; data: string }[];

describe("usage charging (B3)", () => {
  it("charges each record the delta over what the device already paid, exactly once", async () => {
    const plan = perMinutePlan(10);
    const d = device("u1", plan.id);
    ledger.post({ userId: "u1", kind: "recharge", amountMinor: 1_000, idempotencyKey: "r1" });
    const charger = new UsageCharger(db, ledger);
    const r1 = await usage(d, 0, 30_000); // starts minute 1
    const r2 = await usage(d, 30_000, 60_000); // still minute 1
    const r3 = await usage(d, 60_000, 61_000); // minute 2
    expect(charger.charge(r1).chargeMinor).toBe(10);
    expect(charger.charge(r2).chargeMinor).toBe(0);
    expect(charger.charge(r3).chargeMinor).toBe(10);
    // Re-running never charges twice.
    expect(charger.charge(r1)).toMatchObject({ status: "already", chargeMinor: 0 });
    expect(ledger.balance("u1")).toBe(980);
    expect(db.prepare("SELECT metered_ms, charged_units, charged_minor FROM device_meters WHERE device_id = ?").get(d)).toEqual({ metered_ms: 61_000, charged_units: 2, charged_minor: 20 });
    const rows = db.prepare("SELECT record_id, charge_minor FROM usage_records ORDER BY from_ms").all() as { record_id: string; charge_minor: number }[];
    expect(rows.map((r) => r.charge_minor)).toEqual([10, 0, 10]);
    expect(db.prepare("SELECT idempotency_key FROM ledger_entries WHERE kind = 'usage' ORDER BY id").all()).toEqual([
      { idempotency_key: `usage:${r1}` },
      { idempotency_key: `usage:${r3}` },
    ]);
    expect(verifyBalances(db)).toEqual([]);
  });

  it("a re-delivered record (same record id, new message) is neither stored nor charged twice", async () => {
    const plan = perMinutePlan(10);
    const d = device("u1", plan.id);
    const rid = await usage(d, 0, 5 * MIN);
    await usage(d, 0, 5 * MIN, rid);
    const svc = service();
    expect(await svc.tick()).toMatchObject({ charged: 1, chargedMinor: 50 });
    expect(await svc.tick()).toMatchObject({ charged: 0, chargedMinor: 0 });
    expect(ledger.balance("u1")).toBe(-50);
  });

  it("meters devices without a plan or without an account owner, but charges nothing", async () => {
    const plan = perMinutePlan(10);
    const unplanned = device("u1", null);
    const fleet = device(undefined, plan.id);
    const stranger = device("not-a-user", plan.id);
    for (const d of [unplanned, fleet, stranger]) await usage(d, 0, 10 * MIN);
    expect(await service().tick()).toMatchObject({ charged: 3, chargedMinor: 0, failed: 0 });
    expect(db.prepare("SELECT COUNT(*) AS n FROM ledger_entries").get()).toEqual({ n: 0 });
    expect(db.prepare("SELECT SUM(metered_ms) AS ms FROM device_meters").get()).toEqual({ ms: 30 * MIN });
    expect(db.prepare("SELECT COUNT(*) AS n FROM usage_records WHERE charged_at IS NULL").get()).toEqual({ n: 0 });
  });

  it("still charges the records of a deleted device, and usage may take the balance below zero", async () => {
    const plan = perMinutePlan(60);
    const d = device("u1", plan.id);
    ledger.post({ userId: "u1", kind: "recharge", amountMinor: 100, idempotencyKey: "r1" });
    db.prepare("UPDATE devices SET desired = 'deleted', deleted_at = ? WHERE id = ?").run(Date.now(), d);
    await usage(d, 0, 2 * MIN);
    await service().tick();
    expect(ledger.balance("u1")).toBe(-20);
    expect(events("billing.funds_depleted")).toHaveLength(1);
    expect(events("billing.low_balance")).toHaveLength(1);
  });

  it("charges a purchased device only once its order is active; a failed purchase is never charged", async () => {
    const plan = perMinutePlan(10);
    const order = (id: string, status: string) =>
      db.prepare("INSERT INTO orders (id, user_id, plan_id, status, amount_minor, created_at, updated_at) VALUES (?, 'u1', ?, ?, 0, 0, 0)").run(id, plan.id, status);
    order("o-ok", "pending");
    order("o-bad", "pending");
    const ok = createDevice(db, { ...SPEC, ownerId: "u1" }, undefined, Date.now(), { planId: plan.id, orderId: "o-ok" });
    const bad = createDevice(db, { ...SPEC, ownerId: "u1" }, undefined, Date.now(), { planId: plan.id, orderId: "o-bad" });
    if (!ok.ok || !bad.ok) throw new Error("allocation failed");
    await usage(ok.device.id, 0, MIN);
    await usage(bad.device.id, 0, MIN);
    const svc = service();
    expect(await svc.tick()).toMatchObject({ charged: 0, deferred: 2 });
    db.prepare("UPDATE orders SET status = 'active' WHERE id = 'o-ok'").run();
    db.prepare("UPDATE orders SET status = 'failed' WHERE id = 'o-bad'").run();
    expect(await svc.tick()).toMatchObject({ charged: 2, deferred: 0, chargedMinor: 10 });
    expect(ledger.balance("u1")).toBe(-10);
  });

  it("charges a backlog larger than one batch in one tick", async () => {
    const plan = perMinutePlan(1);
    const d = device("u1", plan.id);
    // Stored directly (one transaction) to keep the test fast; the inbox path is covered above.
    const insert = db.prepare("INSERT INTO usage_records (record_id, msg_id, host_id, device_id, from_ms, to_ms, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    db.transaction(() => {
      for (let i = 0; i < 250; i++) insert.run(newId(), newId(), hostId, d, i * MIN, (i + 1) * MIN, 1_000 + (i % 7));
    })();
    expect(await service().tick()).toMatchObject({ charged: 250, chargedMinor: 250 });
    expect(ledger.balance("u1")).toBe(-250);
  });
});

describe("zero-balance suspension (B3)", () => {
  it("stops metered running devices after the grace period and starts them again after a recharge", async () => {
    const plan = perMinutePlan(10);
    const d1 = device("u1", plan.id);
    const d2 = device("u1", plan.id);
    const free = device("u1", null);
    const other = device("u2", plan.id);
    ledger.post({ userId: "u2", kind: "recharge", amountMinor: 1_000, idempotencyKey: "u2" });
    const t0 = Date.now();
    await usage(d1, 0, MIN); // u1 goes to -10: depleted now
    const svc = service({ zeroBalanceGraceSeconds: 60 });
    expect(await svc.tick(t0)).toMatchObject({ suspendedDevices: 0 });
    expect(await svc.tick(t0 + 61_000)).toMatchObject({ suspendedDevices: 2 });
    const state = (id: string) => db.prepare("SELECT desired, suspended_at, generation FROM devices WHERE id = ?").get(id) as { desired: string; suspended_at: number | null; generation: number };
    expect(state(d1)).toMatchObject({ desired: "stopped", generation: 2 });
    expect(state(d1).suspended_at).not.toBeNull();
    expect(state(d2).desired).toBe("stopped");
    expect(state(free)).toMatchObject({ desired: "running", suspended_at: null });
    expect(state(other)).toMatchObject({ desired: "running", suspended_at: null });
    expect(db.prepare("SELECT action FROM commands WHERE device_id = ? ORDER BY rowid").all(d1)).toEqual([{ action: "create" }, { action: "stop" }]);
    const suspended = events("billing.devices_suspended");
    expect(suspended).toHaveLength(1);
    // Devices created in the same millisecond have no defined order: compare as sets.
    const suspendedData = JSON.parse(suspended[0]!.data) as { deviceIds: string[]; balanceMinor: number };
    expect(suspendedData.deviceIds.sort()).toEqual([d1, d2].sort());
    expect(suspendedData.balanceMinor).toBe(-10);
    // Nothing more while still broke.
    expect(await svc.tick(t0 + 120_000)).toMatchObject({ suspendedDevices: 0, resumedDevices: 0 });

    ledger.post({ userId: "u1", kind: "recharge", amountMinor: 500, idempotencyKey: "u1" });
    expect(await svc.tick()).toMatchObject({ resumedDevices: 2 });
    expect(state(d1)).toMatchObject({ desired: "running", suspended_at: null, generation: 3 });
    const resumedData = JSON.parse(events("billing.devices_resumed")[0]!.data) as { deviceIds: string[]; balanceMinor: number };
    expect(resumedData.deviceIds.sort()).toEqual([d1, d2].sort());
    expect(resumedData.balanceMinor).toBe(490);
    expect(await svc.tick()).toMatchObject({ resumedDevices: 0 });
  });

  it("does not restart a suspended device its owner deleted meanwhile", async () => {
    const plan = perMinutePlan(10);
    const d = device("u1", plan.id);
    await usage(d, 0, MIN);
    const svc = service({ zeroBalanceGraceSeconds: 0 });
    expect(await svc.tick()).toMatchObject({ suspendedDevices: 1 });
    db.prepare("UPDATE devices SET desired = 'deleted' WHERE id = ?").run(d);
    ledger.post({ userId: "u1", kind: "recharge", amountMinor: 500, idempotencyKey: "u1" });
    expect(await svc.tick()).toMatchObject({ resumedDevices: 0 });
    expect(db.prepare("SELECT desired, suspended_at FROM devices WHERE id = ?").get(d)).toEqual({ desired: "deleted", suspended_at: null });
  });

  it("stop() waits for the running tick and the service can be started and stopped twice", async () => {
    const svc = service({ billingIntervalMs: 100 });
    svc.start();
    svc.start();
    await new Promise((r) => setTimeout(r, 250));
    await svc.stop();
    await svc.stop();
  });
});
