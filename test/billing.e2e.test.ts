// Billing end to end (B1, B3): a real control plane, agent and dockerd. A user buys a per-minute plan; the agent's
// usage records are charged by the plan, exactly and once each; the balance runs out, so after the grace period the
// device is stopped; a top-up starts it again. Everything is read back through the user's own API and the SQLite file.
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, startControlPlane, type AgentHandle, type ControlPlaneHandle } from "./support/processes.js";
import { api } from "./support/api.js";
import { waitFor } from "./support/wait.js";
import { callAs, registerUser } from "./support/users.js";
import { inspect, listManagedContainers } from "./support/docker.js";

const PRICE = 100;
/** Per started minute of running time. */
const RATE = 150;
const SPEC = { cpuMillis: 100, memoryMb: 256, diskMb: 256, width: 720, height: 1280, dpi: 320, fps: 30 };

let cp: ControlPlaneHandle;
let agent: AgentHandle;
let db: Database.Database;

const call = <T = Record<string, unknown>>(token: string, method: string, path: string, body?: unknown) => callAs<T>(cp.httpUrl, token, method, path, body);

const containerState = async (deviceId: string) =>
  (await listManagedContainers(agent.hostId)).find((c) => c.Labels["io.cloudphone.device-id"] === deviceId)?.State;
const events = (name: string, userId: string) =>
  db.prepare("SELECT COUNT(*) FROM platform_outbox WHERE name = ? AND user_id = ?").pluck().get(name, userId) as number;

beforeAll(async () => {
  cp = await startControlPlane({
    env: {
      CLOUDPHONE_CP_RATE_LIMIT_PER_MINUTE: "100000",
      CLOUDPHONE_CP_BILLING_INTERVAL_MS: "300",
      CLOUDPHONE_CP_ZERO_BALANCE_GRACE_SECONDS: "1",
      CLOUDPHONE_CP_LOW_BALANCE_THRESHOLD_MINOR: "100",
    },
  });
  agent = await startAgent({
    controlPlane: cp,
    token: await api(cp).createEnrollmentToken(),
    capacity: { cpuMillis: 64_000, memoryMb: 262_144, diskMb: 1_000_000, deviceSlots: 4 },
    config: { metering: { intervalMs: 1000 }, reconcileIntervalMs: 1000 },
  });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
  db = new Database(join(cp.dataDir, "control-plane.db"), { readonly: true, fileMustExist: true });
});

afterAll(async () => {
  db?.close();
  await agent?.stop();
  await cp?.stop();
});

describe("billing end to end", () => {
  it("charges usage per started minute exactly once, stops the device when funds run out and restarts it on top-up", async () => {
    const plan = await call<{ id: string }>(cp.adminToken, "POST", "/api/admin/plans", {
      name: "Per-minute phone",
      priceMinor: PRICE,
      usageModel: "per_minute",
      usageRateMinor: RATE,
      spec: SPEC,
    });
    expect(plan.status).toBe(201);

    const { token, id: userId } = await registerUser(cp.httpUrl, "dora");
    // 220 pays the price (100) but not the first started minute (150): the balance goes to -30.
    expect((await call(token, "POST", "/api/billing/recharge", { amountMinor: 220, idempotencyKey: "first" })).status).toBe(201);

    const order = await call<{ order: { id: string; deviceId: string } }>(token, "POST", "/api/orders", { planId: plan.body.id });
    expect(order.status).toBe(202);
    const deviceId = order.body.order.deviceId;

    // The first usage record charges the first started minute; the balance is then negative, so after the 1 s grace
    // period the platform stops the device.
    await waitFor(async () => ((await containerState(deviceId)) === "exited" ? true : undefined), {
      timeoutMs: 60_000,
      message: "device stopped for lack of funds",
    });
    const suspended = await call<{ suspendedAt: number | null; desired: string }>(token, "GET", `/api/devices/${deviceId}`);
    expect(suspended.body.desired).toBe("stopped");
    expect(events("billing.low_balance", userId)).toBe(1);
    expect(events("billing.funds_depleted", userId)).toBe(1);
    expect(events("billing.devices_suspended", userId)).toBe(1);
    expect((await call<{ balanceMinor: number }>(token, "GET", "/api/billing/balance")).body.balanceMinor).toBe(220 - PRICE - RATE);

    // Starting it by hand is refused while the balance is not positive.
    const refused = await call<{ error: { code: string } }>(token, "POST", `/api/devices/${deviceId}/start`);
    expect([refused.status, refused.body.error.code]).toEqual([402, "insufficient_funds"]);

    // A top-up restarts it.
    expect((await call(token, "POST", "/api/billing/recharge", { amountMinor: 1000, idempotencyKey: "second" })).status).toBe(201);
    await waitFor(async () => ((await containerState(deviceId)) === "running" ? true : undefined), {
      timeoutMs: 60_000,
      message: "device restarted after top-up",
    });
    expect(events("billing.devices_resumed", userId)).toBe(1);
    await new Promise((r) => setTimeout(r, 2500));

    // Stop it, let the last usage record arrive and be charged, then compare.
    expect((await call(token, "POST", `/api/devices/${deviceId}/stop`)).status).toBe(202);
    await waitFor(async () => ((await containerState(deviceId)) === "exited" ? true : undefined), { timeoutMs: 60_000, message: "stopped" });
    await waitFor(
      () => {
        const open = db.prepare("SELECT COUNT(*) FROM usage_records WHERE device_id = ? AND charged_at IS NULL").pluck().get(deviceId) as number;
        const meter = agentMeterOpen(deviceId);
        return open === 0 && !meter ? true : undefined;
      },
      { timeoutMs: 30_000, message: "every usage record charged" },
    );

    const records = db.prepare("SELECT record_id, from_ms, to_ms FROM usage_records WHERE device_id = ? ORDER BY from_ms").all(deviceId) as {
      record_id: string;
      from_ms: number;
      to_ms: number;
    }[];
    expect(records.length).toBeGreaterThan(2);
    for (let i = 1; i < records.length; i++) expect(records[i]!.from_ms).toBeGreaterThanOrEqual(records[i - 1]!.to_ms);
    const meteredMs = records.reduce((s, r) => s + (r.to_ms - r.from_ms), 0);
    const meter = db.prepare("SELECT metered_ms, charged_units, charged_minor FROM device_meters WHERE device_id = ?").get(deviceId) as {
      metered_ms: number;
      charged_units: number;
      charged_minor: number;
    };
    expect(meter.metered_ms).toBe(meteredMs);
    expect(meter.charged_units).toBe(Math.ceil(meteredMs / 60_000));
    expect(meter.charged_minor).toBe(meter.charged_units * RATE);

    // The ledger: one deduct (the price), usage entries summing to the meter's charge, each keyed by a record id.
    const ledger = (await call<{ entries: { kind: string; amountMinor: number }[] }>(token, "GET", "/api/billing/ledger?limit=500")).body.entries;
    expect(ledger.filter((e) => e.kind === "deduct").map((e) => e.amountMinor)).toEqual([-PRICE]);
    const usage = ledger.filter((e) => e.kind === "usage");
    expect(usage.reduce((s, e) => s + e.amountMinor, 0)).toBe(-meter.charged_minor);
    const keys = db.prepare("SELECT idempotency_key FROM ledger_entries WHERE user_id = ? AND kind = 'usage'").pluck().all(userId) as string[];
    expect(keys.every((k) => records.some((r) => k === `usage:${r.record_id}`))).toBe(true);
    expect(new Set(keys).size).toBe(keys.length);
    expect((await call<{ balanceMinor: number }>(token, "GET", "/api/billing/balance")).body.balanceMinor).toBe(
      220 + 1000 - PRICE - meter.charged_minor,
    );

    // Charged time equals Docker's running time of the container's runs within one reporting interval: the last run
    // is in `docker inspect`; the first run ended when the platform stopped it.
    const info = await inspect(`cloudphone-${deviceId}`);
    const lastRunMs = Date.parse(info.State.FinishedAt) - Date.parse(info.State.StartedAt);
    expect(meteredMs).toBeGreaterThanOrEqual(lastRunMs - 1000);

    const verify = await call<{ consistent: boolean }>(cp.adminToken, "GET", "/api/admin/billing/verify");
    expect(verify.body.consistent).toBe(true);
  });
});

/** Whether the agent still has an open meter for the device (its running time not yet reported). */
function agentMeterOpen(deviceId: string): boolean {
  const adb = new Database(join(agent.dataDir, "agent.db"), { readonly: true, fileMustExist: true });
  try {
    return adb.prepare("SELECT COUNT(*) FROM meter WHERE device_id = ?").pluck().get(deviceId) !== 0;
  } finally {
    adb.close();
  }
}
