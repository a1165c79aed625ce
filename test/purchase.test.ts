// Purchase saga end to end (B2, Q1, B1): a real control plane, a real agent and real dockerd. A user buys a plan,
// the device runs, the price is taken exactly once and the order becomes active; refusals write nothing; failures
// after the order was written (no capacity, host offline) compensate; 100 parallel purchases respect quota 5.
// The tests run in file order on one host with 6 device slots: the first and third fill it, the fourth needs it full.
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, startControlPlane, type AgentHandle, type ControlPlaneHandle } from "./support/processes.js";
import { api } from "./support/api.js";
import { waitFor } from "./support/wait.js";
import { callAs, registerUser } from "./support/users.js";
import { listManagedContainers } from "./support/docker.js";

const SLOTS = 6;
const PRICE = 1500;
const SPEC = { cpuMillis: 100, memoryMb: 256, diskMb: 256, width: 720, height: 1280, dpi: 320, fps: 30 };

let cp: ControlPlaneHandle;
let agent: AgentHandle;
let planId: string;
let db: Database.Database;

interface Order {
  id: string;
  status: string;
  deviceId: string | null;
  failureCode: string | null;
  saga: { status: string; step: string } | null;
}
interface Entry {
  kind: string;
  amountMinor: number;
  orderId: string | null;
}

const call = <T = Record<string, unknown>>(token: string, method: string, path: string, body?: unknown) => callAs<T>(cp.httpUrl, token, method, path, body);
const newUser = (name: string, balance: number) => registerUser(cp.httpUrl, name, balance);

const balanceOf = async (token: string) => (await call<{ balanceMinor: number }>(token, "GET", "/api/billing/balance")).body.balanceMinor;
const ledgerOf = async (token: string) => (await call<{ entries: Entry[] }>(token, "GET", "/api/billing/ledger?limit=500")).body.entries;
const orderOf = async (token: string, id: string) => (await call<Order>(token, "GET", `/api/orders/${id}`)).body;
const platformEvents = (name: string, userId: string) =>
  (db.prepare("SELECT data FROM platform_outbox WHERE name = ? AND user_id = ?").pluck().all(name, userId) as string[]).map(
    (d) => JSON.parse(d) as Record<string, unknown>,
  );

async function waitOrder(token: string, id: string, status: string): Promise<Order> {
  return waitFor(async () => {
    const o = await orderOf(token, id);
    return o.status === status ? o : undefined;
  }, { timeoutMs: 60_000, message: `order ${id} ${status}` });
}

beforeAll(async () => {
  cp = await startControlPlane({ env: { CLOUDPHONE_CP_RATE_LIMIT_PER_MINUTE: "100000" } });
  agent = await startAgent({
    controlPlane: cp,
    token: await api(cp).createEnrollmentToken(),
    capacity: { cpuMillis: 64_000, memoryMb: 262_144, diskMb: 1_000_000, deviceSlots: SLOTS },
  });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
  const plan = await call<{ id: string }>(cp.adminToken, "POST", "/api/admin/plans", {
    name: "Small phone",
    priceMinor: PRICE,
    usageModel: "per_hour",
    usageRateMinor: 0,
    spec: SPEC,
  });
  expect(plan.status).toBe(201);
  planId = plan.body.id;
  db = new Database(join(cp.dataDir, "control-plane.db"), { readonly: true, fileMustExist: true });
});

afterAll(async () => {
  db?.close();
  await agent?.stop();
  await cp?.stop();
});

describe("purchase saga", () => {
  it("buys a plan: the device runs, the price is taken exactly once, the order is active", async () => {
    const user = await newUser("alice", 10_000);
    const r = await call<{ order: Order; sagaId: string }>(user.token, "POST", "/api/orders", { planId, name: "alice phone" });
    expect(r.status).toBe(202);
    expect(r.body.order).toMatchObject({ status: "pending", saga: { step: "device_allocated", status: "running" } });
    const deviceId = r.body.order.deviceId!;

    const order = await waitOrder(user.token, r.body.order.id, "active");
    expect(order.saga).toMatchObject({ status: "completed", step: "activated" });
    const containers = (await listManagedContainers(agent.hostId)).filter((c) => c.Labels["io.cloudphone.device-id"] === deviceId);
    expect(containers.map((c) => c.State)).toEqual(["running"]);
    expect(containers[0]!.Labels["io.cloudphone.owner-id"]).toBe(user.id);

    const deducts = (await ledgerOf(user.token)).filter((e) => e.kind === "deduct");
    expect(deducts).toEqual([expect.objectContaining({ amountMinor: -PRICE, orderId: order.id })]);
    expect(await balanceOf(user.token)).toBe(10_000 - PRICE);
    expect(platformEvents("order.completed", user.id)).toEqual([{ orderId: order.id, deviceId, planId }]);
  });

  it("refuses a purchase the balance does not cover with 402, and writes nothing", async () => {
    const user = await newUser("bob", PRICE - 1);
    const r = await call<{ error: { code: string } }>(user.token, "POST", "/api/orders", { planId });
    expect([r.status, r.body.error.code]).toEqual([402, "insufficient_funds"]);
    expect((await call<{ orders: Order[] }>(user.token, "GET", "/api/orders")).body.orders).toEqual([]);
    expect(db.prepare("SELECT COUNT(*) FROM devices WHERE owner_id = ?").pluck().get(user.id)).toBe(0);
    expect(await balanceOf(user.token)).toBe(PRICE - 1);
  });

  it("100 parallel purchases by a user with quota 5 give exactly 5 devices and 5 payments", async () => {
    const user = await newUser("carol", 1_000_000);
    const q = await call(cp.adminToken, "PUT", `/api/admin/users/${user.id}/quota`, {
      maxDevices: 5,
      maxCpuMillis: 1_000_000,
      maxMemoryMb: 1_000_000,
      maxDiskMb: 1_000_000,
    });
    expect(q.status).toBe(200);
    const replies = await Promise.all(Array.from({ length: 100 }, () => call<{ order?: Order; error?: { code: string } }>(user.token, "POST", "/api/orders", { planId })));
    const accepted = replies.filter((r) => r.status === 202);
    expect(accepted).toHaveLength(5);
    expect(new Set(replies.filter((r) => r.status !== 202).map((r) => `${r.status} ${r.body.error?.code}`))).toEqual(new Set(["409 quota_exceeded"]));
    for (const r of accepted) await waitOrder(user.token, r.body.order!.id, "active");

    expect(db.prepare("SELECT COUNT(*) FROM devices WHERE owner_id = ? AND deleted_at IS NULL AND desired != 'deleted'").pluck().get(user.id)).toBe(5);
    const deducts = (await ledgerOf(user.token)).filter((e) => e.kind === "deduct");
    expect(deducts).toHaveLength(5);
    expect(new Set(deducts.map((e) => e.orderId)).size).toBe(5);
    expect(await balanceOf(user.token)).toBe(1_000_000 - 5 * PRICE);
    const mine = (await listManagedContainers(agent.hostId)).filter((c) => c.Labels["io.cloudphone.owner-id"] === user.id);
    expect(mine.filter((c) => c.State === "running")).toHaveLength(5);
  });

  it("compensates when no host has room: order failed, balance untouched, user notified", async () => {
    const host = await waitFor(async () => {
      const h = (await api(cp).listHosts()).find((x) => x.id === agent.hostId) as { free?: { deviceSlots: number } } | undefined;
      return h?.free?.deviceSlots === 0 ? h : undefined;
    }, { message: "host full (the earlier tests use all slots)" });
    expect(host.free?.deviceSlots).toBe(0);
    const user = await newUser("dave", 10_000);
    const r = await call<{ error: { code: string }; orderId: string }>(user.token, "POST", "/api/orders", { planId });
    expect([r.status, r.body.error.code]).toEqual([409, "no_capacity"]);
    const order = await orderOf(user.token, r.body.orderId);
    expect(order).toMatchObject({ status: "failed", failureCode: "no_capacity", deviceId: null, saga: { status: "compensated" } });
    expect(await balanceOf(user.token)).toBe(10_000);
    expect(platformEvents("order.failed", user.id)).toEqual([expect.objectContaining({ notification: "ORDER_FAILED", code: "no_capacity", orderId: order.id })]);
  });

  it("compensates when the host is offline: order failed, balance untouched, user notified", async () => {
    await agent.stop();
    await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "offline"), { message: "host offline" });
    const user = await newUser("erin", 10_000);
    const r = await call<{ error: { code: string }; orderId: string }>(user.token, "POST", "/api/orders", { planId });
    expect([r.status, r.body.error.code]).toEqual([409, "no_host_online"]);
    expect(await orderOf(user.token, r.body.orderId)).toMatchObject({ status: "failed", failureCode: "no_host_online" });
    expect(await balanceOf(user.token)).toBe(10_000);
    expect((await ledgerOf(user.token)).map((e) => e.kind)).toEqual(["recharge"]);
    expect(platformEvents("order.failed", user.id)).toEqual([expect.objectContaining({ notification: "ORDER_FAILED", code: "no_host_online" })]);
    const verify = await call<{ consistent: boolean }>(cp.adminToken, "GET", "/api/admin/billing/verify");
    expect([verify.status, verify.body.consistent]).toEqual([200, true]);
    expect(db.prepare("SELECT COUNT(*) FROM sagas WHERE status NOT IN ('completed','compensated')").pluck().get()).toBe(0);
  });
});
