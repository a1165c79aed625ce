import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CreateDeviceRequest } from "@cloudphone/shared-protocol";
import { createApp, type App, type AppDeps } from "../http/app.js";
import { createDevice } from "../devices/registry.js";
import { recordPlatformEvent } from "../platform/record.js";
import type { Db } from "../store/db.js";
import { deviceStateMessage, enrollTestHost, payloadOf, statusMessage, tempDb, testAppDeps } from "../testing/fixtures.js";
import { Metrics } from "./metrics.js";

let db: Db;
let cleanup: () => void;
let deps: AppDeps;
let app: App;
beforeEach(() => {
  ({ db, cleanup } = tempDb());
  deps = testAppDeps(db);
  app = createApp(deps);
});
afterEach(() => cleanup());

const auth = () => ({ authorization: `Bearer ${deps.adminToken}` });

async function scrape(): Promise<string> {
  const r = await app.request("/metrics");
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toContain("text/plain");
  return r.text();
}

/** The value of one series, e.g. `cloudphone_devices{state="running"}`. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function seedUsersAndSagas() {
  const now = Date.now();
  const user = db.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)");
  user.run("u1", "u1@example.test", "user", now, now);
  user.run("u2", "u2@example.test", "user", now, now);
  user.run("a1", "a1@example.test", "admin", now, now);
  db.prepare("UPDATE users SET status = 'deleted' WHERE id = 'u2'").run();
  db.prepare("INSERT INTO plans (id, name, price_minor, usage_model, usage_rate_minor, spec, created_at, updated_at) VALUES ('p1', 'basic', 100, 'per_hour', 10, '{}', ?, ?)").run(now, now);
  const order = db.prepare("INSERT INTO orders (id, user_id, plan_id, status, amount_minor, created_at, updated_at) VALUES (?, 'u1', 'p1', ?, 100, ?, ?)");
  const saga = db.prepare(
    "INSERT INTO sagas (id, kind, order_id, user_id, step, status, deadline_at, next_attempt_at, created_at, updated_at) VALUES (?, 'purchase', ?, 'u1', 'activated', ?, ?, ?, ?, ?)",
  );
  for (const [i, status] of ["completed", "completed", "compensated", "running"].entries()) {
    order.run(`o${i}`, status === "completed" ? "active" : status === "running" ? "pending" : "failed", now, now);
    saga.run(`s${i}`, `o${i}`, status, now, now, now, now);
  }
}

describe("GET /metrics", () => {
  it("times HTTP requests by method, route pattern and status (never the raw path)", async () => {
    await app.request("/health");
    await app.request("/health");
    await app.request("/api/devices/01abcdefghjkmnpqrstvwxyz00", { headers: auth() });
    await app.request("/api/devices/01abcdefghjkmnpqrstvwxyz11", { headers: auth() });
    await app.request("/no/such/path");
    const text = await scrape();
    expect(value(text, 'cloudphone_http_request_duration_seconds_count{method="GET",route="/health",status="200"}')).toBe(2);
    expect(value(text, 'cloudphone_http_request_duration_seconds_count{method="GET",route="/api/devices/:id",status="404"}')).toBe(2);
    expect(value(text, 'cloudphone_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}')).toBe(1);
    expect(text).toContain('cloudphone_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/health",status="200"}');
    expect(text).not.toContain("01abcdefghjkmnpqrstvwxyz00");
  });

  it("reads sagas, ledger, balances, outbox, commands, hosts, devices, users and inbox counters from the store at scrape time", async () => {
    seedUsersAndSagas();
    expect(deps.ledger.post({ userId: "u1", kind: "recharge", amountMinor: 1000, idempotencyKey: "r1" }).ok).toBe(true);
    expect(deps.ledger.post({ userId: "u1", kind: "deduct", amountMinor: 300, idempotencyKey: "d1" }).ok).toBe(true);
    expect(deps.ledger.post({ userId: "a1", kind: "recharge", amountMinor: 50, idempotencyKey: "r2" }).ok).toBe(true);

    const { hostId } = enrollTestHost(db);
    enrollTestHost(db); // a second host that never connects
    const online = statusMessage(hostId, "online", 1);
    await deps.inbox.ingest(online.topic, payloadOf(online), hostId);
    const devices = [0, 1, 2].map(() => {
      const r = createDevice(db, CreateDeviceRequest.parse({ hostId }), undefined);
      if (!r.ok) throw new Error(r.message);
      return r.device.id;
    });
    const running = deviceStateMessage(hostId, devices[0]!, "running", 2);
    await deps.inbox.ingest(running.topic, payloadOf(running), hostId);
    await deps.inbox.ingest(running.topic, payloadOf(running), hostId); // duplicate
    await deps.inbox.ingest(`cloudphone/v1/hosts/${hostId}/usage`, Buffer.from("{not json"), hostId); // parked
    db.prepare("UPDATE commands SET result_at = ?, result_outcome = 'applied' WHERE device_id = ?").run(Date.now(), devices[2]);
    recordPlatformEvent(db, { name: "user.registered", userId: "u1", data: {} });

    const text = await scrape();
    expect(value(text, 'cloudphone_sagas{status="completed"}')).toBe(2);
    expect(value(text, 'cloudphone_sagas{status="compensated"}')).toBe(1);
    expect(value(text, 'cloudphone_sagas{status="running"}')).toBe(1);
    expect(value(text, 'cloudphone_sagas{status="compensation_failed"}')).toBe(0);
    expect(value(text, 'cloudphone_ledger_entries{kind="recharge"}')).toBe(2);
    expect(value(text, 'cloudphone_ledger_entries{kind="deduct"}')).toBe(1);
    expect(value(text, 'cloudphone_ledger_entries{kind="usage"}')).toBe(0);
    expect(value(text, 'cloudphone_ledger_amount_minor{kind="deduct"}')).toBe(-300);
    expect(value(text, "cloudphone_balances_total_minor")).toBe(750);
    expect(value(text, 'cloudphone_platform_outbox{status="pending"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'cloudphone_platform_outbox{status="failed"}')).toBe(0);
    expect(value(text, "cloudphone_commands_pending")).toBe(2);
    expect(value(text, 'cloudphone_hosts{status="online"}')).toBe(1);
    expect(value(text, 'cloudphone_hosts{status="never"}')).toBe(1);
    expect(value(text, 'cloudphone_devices{state="running"}')).toBe(1);
    expect(value(text, 'cloudphone_devices{state="pending"}')).toBe(2);
    expect(value(text, 'cloudphone_users{role="user"}')).toBe(1);
    expect(value(text, 'cloudphone_users{role="admin"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'cloudphone_inbox_accepted_total{kind="deviceState"}')).toBe(1);
    expect(value(text, "cloudphone_inbox_duplicates_total")).toBe(1);
    expect(value(text, 'cloudphone_inbox_rejected_total{code="malformed_json"}')).toBe(1);
    expect(value(text, "cloudphone_rejected_messages_stored")).toBe(1);
    expect(value(text, "cloudphone_notification_subscribers")).toBe(0);
    expect(text).toContain("# TYPE cloudphone_inbox_accepted_total counter");
    expect(text).toContain("# TYPE cloudphone_sagas gauge");
  });

  it("is public, like /health", async () => {
    const r = await app.request("/metrics");
    expect(r.status).toBe(200);
  });

  it("adds the default process metrics when asked, in its own registry", async () => {
    const a = new Metrics({ db }, { processMetrics: true });
    const b = new Metrics({ db });
    const text = await a.render();
    expect(text).toContain("process_cpu_user_seconds_total");
    expect(text).toContain("nodejs_eventloop_lag_seconds");
    expect(await b.render()).not.toContain("process_cpu_user_seconds_total");
  });

  it("still answers when the database is closed (store families empty, no error)", async () => {
    const m = new Metrics({ db });
    db.close();
    const text = await m.render();
    expect(text).toContain("# TYPE cloudphone_devices gauge");
    expect(value(text, 'cloudphone_devices{state="running"}')).toBe(0);
  });
});
