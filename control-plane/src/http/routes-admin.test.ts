import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorBody, PlanView, StatsView, newId } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { signAccessToken } from "../auth/jwt.js";
import { createDevice } from "../devices/registry.js";
import { periodOf } from "../billing/invoices.js";
import { enrollTestHost, tempDb, testAppDeps } from "../testing/fixtures.js";
import { createApp, type App } from "./app.js";

const SECRET = "admin-routes-test-secret-0123456789abcdef";
const ADMIN = "admin-token-for-tests-0123456789";
const SPEC = { cpuMillis: 500, memoryMb: 512, diskMb: 1024, width: 720, height: 1280, dpi: 320, fps: 30 };
const PLAN = { name: "Basic", priceMinor: 1_000, usageModel: "per_hour", usageRateMinor: 20, spec: SPEC };
let db: Db;
let cleanup: () => void;
let app: App;

function user(): { id: string; token: string } {
  const id = newId();
  db.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES (?, ?, 'user', ?, ?)").run(id, `${id}@example.com`, Date.now(), Date.now());
  return { id, token: signAccessToken(SECRET, { sub: id, role: "user", tv: 0 }, 900).token };
}

async function call(token: string, method: string, path: string, body?: unknown) {
  const r = await app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> & Partial<ErrorBody> };
}

const fieldsOf = (r: { body: Partial<ErrorBody> }) => [...new Set(r.body.error?.fields?.map((f) => f.path))];

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  app = createApp(testAppDeps(db, { adminToken: ADMIN, config: { jwtSecret: SECRET, currency: "USD" } }));
});
afterEach(() => cleanup());

describe("admin routes", () => {
  it("are refused to non-admins", async () => {
    const u = user();
    for (const [method, path] of [
      ["POST", "/api/admin/plans"],
      ["GET", "/api/admin/plans"],
      ["PATCH", "/api/admin/plans/x"],
      ["POST", `/api/admin/users/${u.id}/recharge`],
      ["POST", `/api/admin/users/${u.id}/adjust`],
      ["PUT", `/api/admin/users/${u.id}/quota`],
      ["GET", "/api/admin/invoices?period=2026-01"],
      ["GET", "/api/admin/stats"],
      ["GET", "/api/admin/alerts"],
      ["POST", "/api/admin/alerts/x/resolve"],
    ] as const) {
      const r = await call(u.token, method, path, method === "GET" ? undefined : {});
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error?.code).toBe("forbidden");
    }
  });

  it("creates, validates and updates plans; usage terms are immutable", async () => {
    for (const [bad, field] of [
      [{ ...PLAN, usageModel: "per_second" }, "usageModel"],
      [{ ...PLAN, priceMinor: -1 }, "priceMinor"],
      [{ ...PLAN, priceMinor: 9.99 }, "priceMinor"],
      [{ ...PLAN, usageRateMinor: "5" }, "usageRateMinor"],
      [{ ...PLAN, spec: { ...SPEC, cpuMillis: 1 } }, "spec.cpuMillis"],
      [{ ...PLAN, quota: { maxDevices: -1, maxCpuMillis: 0, maxMemoryMb: 0, maxDiskMb: 0 } }, "quota.maxDevices"],
    ] as const) {
      const r = await call(ADMIN, "POST", "/api/admin/plans", bad);
      expect(r.status, field).toBe(400);
      expect(fieldsOf(r)).toEqual([field]);
    }
    const created = await call(ADMIN, "POST", "/api/admin/plans", { ...PLAN, quota: { maxDevices: 2, maxCpuMillis: 4000, maxMemoryMb: 4096, maxDiskMb: 20_000 } });
    expect(created.status).toBe(201);
    const plan = PlanView.parse(created.body);
    expect(plan).toMatchObject({ name: "Basic", active: true, priceMinor: 1_000, usageModel: "per_hour", quota: { maxDevices: 2 } });

    const patched = await call(ADMIN, "PATCH", `/api/admin/plans/${plan.id}`, { priceMinor: 1_200, active: false });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ priceMinor: 1_200, active: false, usageRateMinor: 20 });
    expect(((await call(ADMIN, "GET", "/api/plans")).body.plans as unknown[]).length).toBe(0);
    expect(((await call(ADMIN, "GET", "/api/admin/plans")).body.plans as unknown[]).length).toBe(1);
    expect(fieldsOf(await call(ADMIN, "PATCH", `/api/admin/plans/${plan.id}`, { usageRateMinor: 1 }))).toEqual(["usageRateMinor"]);
    expect((await call(ADMIN, "PATCH", `/api/admin/plans/${plan.id}`, {})).status).toBe(400);
    const missing = await call(ADMIN, "PATCH", "/api/admin/plans/nope", { active: true });
    expect(missing.status).toBe(404);
    expect(missing.body.error?.code).toBe("plan_not_found");
  });

  it("recharges and adjusts a user's balance, and the ledger stays consistent", async () => {
    const u = user();
    const r1 = await call(ADMIN, "POST", `/api/admin/users/${u.id}/recharge`, { amountMinor: 5_000, idempotencyKey: "wire-77" });
    expect(r1.status).toBe(201);
    expect((await call(ADMIN, "POST", `/api/admin/users/${u.id}/recharge`, { amountMinor: 5_000, idempotencyKey: "wire-77" })).body.duplicate).toBe(true);
    const adj = await call(ADMIN, "POST", `/api/admin/users/${u.id}/adjust`, { amountMinor: -1_250, reason: "goodwill reversal" });
    expect(adj.status).toBe(201);
    expect(adj.body).toMatchObject({ balanceMinor: 3_750, entry: { kind: "adjustment", amountMinor: -1_250 } });
    expect((adj.body.entry as { description: string }).description).toContain("goodwill reversal");
    expect(fieldsOf(await call(ADMIN, "POST", `/api/admin/users/${u.id}/adjust`, { amountMinor: 0, reason: "x" }))).toEqual(["amountMinor"]);
    expect(fieldsOf(await call(ADMIN, "POST", `/api/admin/users/${u.id}/adjust`, { amountMinor: 5, reason: "  " }))).toEqual(["reason"]);
    expect(fieldsOf(await call(ADMIN, "POST", `/api/admin/users/${u.id}/recharge`, { amountMinor: -5, idempotencyKey: "k" }))).toEqual(["amountMinor"]);
    const unknown = await call(ADMIN, "POST", `/api/admin/users/nobody/recharge`, { amountMinor: 5, idempotencyKey: "k" });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error?.code).toBe("user_not_found");
    expect((await call(u.token, "GET", "/api/billing/balance")).body.balanceMinor).toBe(3_750);
    expect((await call(ADMIN, "GET", `/api/admin/users/${u.id}/balance`)).body).toMatchObject({ balanceMinor: 3_750 });
    expect((await call(ADMIN, "GET", "/api/admin/billing/verify")).body).toEqual({ consistent: true, mismatches: [] });
  });

  it("sets a user's quota", async () => {
    const u = user();
    const r = await call(ADMIN, "PUT", `/api/admin/users/${u.id}/quota`, { maxDevices: 1, maxCpuMillis: 2000, maxMemoryMb: 2048, maxDiskMb: 10_000 });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ limits: { maxDevices: 1, maxCpuMillis: 2000, maxMemoryMb: 2048, maxDiskMb: 10_000, source: "admin" }, usage: { devices: 0, cpuMillis: 0, memoryMb: 0, diskMb: 0 } });
    expect((await call(u.token, "GET", "/api/me/quota")).body).toEqual(r.body);
    expect(fieldsOf(await call(ADMIN, "PUT", `/api/admin/users/${u.id}/quota`, { maxDevices: 1 }))).toEqual(["maxCpuMillis", "maxMemoryMb", "maxDiskMb"]);
    expect((await call(ADMIN, "PUT", "/api/admin/users/nobody/quota", { maxDevices: 1, maxCpuMillis: 0, maxMemoryMb: 0, maxDiskMb: 0 })).status).toBe(404);
  });

  it("reports platform statistics", async () => {
    const a = user();
    user();
    const { hostId } = enrollTestHost(db);
    db.prepare("UPDATE hosts SET status = 'online' WHERE id = ?").run(hostId);
    enrollTestHost(db);
    const plan = PlanView.parse((await call(ADMIN, "POST", "/api/admin/plans", PLAN)).body);
    const d1 = createDevice(db, { ...SPEC, ownerId: a.id }, undefined, Date.now(), { planId: plan.id });
    createDevice(db, { ...SPEC }, undefined);
    if (!d1.ok) throw new Error(d1.message);
    db.prepare("UPDATE devices SET state = 'running' WHERE id = ?").run(d1.device.id);
    await call(ADMIN, "POST", `/api/admin/users/${a.id}/recharge`, { amountMinor: 5_000, idempotencyKey: "k" });
    const r = await call(ADMIN, "GET", "/api/admin/stats");
    expect(r.status).toBe(200);
    const s = StatsView.parse(r.body);
    // Two users plus the bootstrap admin the admin token acts as.
    expect(s.users).toEqual({ total: 3, newToday: 3 });
    expect(s.devices).toEqual({ total: 2, online: 1, byState: { pending: 1, running: 1 } });
    expect(s.hosts).toEqual({ total: 2, online: 1 });
    expect(s.plans).toEqual([{ planId: plan.id, name: "Basic", activeOrders: 0, liveDevices: 1 }]);
    expect(s.revenue).toEqual({ period: periodOf(Date.now()), currency: "USD", paymentsMinor: 0, usageMinor: 0, refundsMinor: 0, netMinor: 0 });
  });

  it("lists all users' invoices of a month", async () => {
    const a = user();
    await call(ADMIN, "POST", `/api/admin/users/${a.id}/recharge`, { amountMinor: 300, idempotencyKey: "k" });
    const period = periodOf(Date.now());
    const r = await call(ADMIN, "GET", `/api/admin/invoices?period=${period}`);
    expect(r.body).toMatchObject({ period, invoices: [{ userId: a.id, closingMinor: 300, status: "open" }] });
    expect(fieldsOf(await call(ADMIN, "GET", "/api/admin/invoices"))).toEqual(["period"]);
  });

  it("lists and resolves operator alerts", async () => {
    const insert = db.prepare("INSERT INTO alerts (id, kind, severity, subject_id, message, data, created_at) VALUES (?, 'saga.compensation_failed', 'critical', ?, ?, ?, ?)");
    insert.run("a1", "order-1", "refund failed", JSON.stringify({ step: "refund" }), 1_000);
    insert.run("a2", "order-2", "release failed", "{}", 2_000);
    const open = await call(ADMIN, "GET", "/api/admin/alerts?open=true");
    expect((open.body.alerts as { id: string }[]).map((a) => a.id)).toEqual(["a2", "a1"]);
    expect((open.body.alerts as { data: unknown }[])[1]!.data).toEqual({ step: "refund" });
    const resolved = await call(ADMIN, "POST", "/api/admin/alerts/a1/resolve");
    expect(resolved.status).toBe(200);
    expect(resolved.body.resolvedAt).toEqual(expect.any(Number));
    expect(resolved.body.resolvedBy).toEqual(expect.any(String));
    const again = await call(ADMIN, "POST", "/api/admin/alerts/a1/resolve");
    expect(again.body.resolvedAt).toBe(resolved.body.resolvedAt);
    expect(((await call(ADMIN, "GET", "/api/admin/alerts?open=true")).body.alerts as { id: string }[]).map((a) => a.id)).toEqual(["a2"]);
    expect(((await call(ADMIN, "GET", "/api/admin/alerts?open=false")).body.alerts as { id: string }[]).map((a) => a.id)).toEqual(["a1"]);
    expect(((await call(ADMIN, "GET", "/api/admin/alerts")).body.alerts as unknown[]).length).toBe(2);
    expect((await call(ADMIN, "POST", "/api/admin/alerts/nope/resolve")).status).toBe(404);
  });
});
