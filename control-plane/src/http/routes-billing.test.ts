import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorBody, MAX_AMOUNT_MINOR, newId } from "@cloudphone/shared-protocol";
import { MAX_AMOUNT_MINOR as LEDGER_MAX } from "../billing/ledger.js";
import type { Db } from "../store/db.js";
import { signAccessToken } from "../auth/jwt.js";
import { createApiToken } from "../auth/api-tokens.js";
import type { Scope } from "../auth/principal.js";
import { createPlan } from "../plans/store.js";
import { tempDb, testAppDeps } from "../testing/fixtures.js";
import { createApp, type App } from "./app.js";

const SECRET = "billing-routes-test-secret-0123456789abcdef";
const SPEC = { cpuMillis: 500, memoryMb: 512, diskMb: 1024, width: 720, height: 1280, dpi: 320, fps: 30 };
let db: Db;
let cleanup: () => void;
let app: App;

function user(role: "user" | "admin" = "user"): { id: string; token: string } {
  const id = newId();
  db.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)").run(id, `${id}@example.com`, role, Date.now(), Date.now());
  return { id, token: signAccessToken(SECRET, { sub: id, role, tv: 0 }, 900).token };
}

function apiToken(userId: string, scopes: Scope[]): string {
  const r = createApiToken(db, userId, { name: "t", scopes });
  if (!r.ok) throw new Error(r.code);
  return r.token;
}

function setup(config: Record<string, unknown> = {}) {
  app = createApp(testAppDeps(db, { config: { jwtSecret: SECRET, currency: "EUR", ...config } }));
}

async function call(token: string, method: string, path: string, body?: unknown) {
  const r = await app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> & Partial<ErrorBody> };
}

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  setup();
});
afterEach(() => cleanup());

describe("balance and ledger routes (B1)", () => {
  it("validates amounts with the ledger's own bound", () => {
    expect(MAX_AMOUNT_MINOR).toBe(LEDGER_MAX);
  });

  it("recharges idempotently by key and pages the ledger", async () => {
    const u = user();
    expect((await call(u.token, "GET", "/api/billing/balance")).body).toEqual({ balanceMinor: 0, currency: "EUR", lowBalanceThresholdMinor: 500 });
    const first = await call(u.token, "POST", "/api/billing/recharge", { amountMinor: 1_500, idempotencyKey: "pay-1" });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ balanceMinor: 1_500, duplicate: false, entry: { kind: "recharge", amountMinor: 1_500, balanceAfterMinor: 1_500 } });
    const again = await call(u.token, "POST", "/api/billing/recharge", { amountMinor: 1_500, idempotencyKey: "pay-1" });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ balanceMinor: 1_500, duplicate: true });
    const conflict = await call(u.token, "POST", "/api/billing/recharge", { amountMinor: 999, idempotencyKey: "pay-1" });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error?.code).toBe("idempotency_conflict");
    // Another user's identical key is their own.
    const other = user();
    expect((await call(other.token, "POST", "/api/billing/recharge", { amountMinor: 7, idempotencyKey: "pay-1" })).status).toBe(201);

    for (let i = 2; i <= 4; i++) await call(u.token, "POST", "/api/billing/recharge", { amountMinor: i, idempotencyKey: `pay-${i}` });
    const page1 = await call(u.token, "GET", "/api/billing/ledger?limit=3");
    const entries = page1.body.entries as { id: number; amountMinor: number }[];
    expect(entries.map((e) => e.amountMinor)).toEqual([4, 3, 2]);
    expect(page1.body.nextBeforeId).toBe(entries[2]!.id);
    const page2 = await call(u.token, "GET", `/api/billing/ledger?limit=3&beforeId=${String(page1.body.nextBeforeId)}`);
    expect((page2.body.entries as { amountMinor: number }[]).map((e) => e.amountMinor)).toEqual([1_500]);
    expect(page2.body.nextBeforeId).toBeNull();
    expect(Object.keys((page2.body.entries as object[])[0]!)).not.toContain("idempotencyKey");
  });

  it.each([
    ["negative", -1],
    ["zero", 0],
    ["fractional", 1.5],
    ["a string", "100"],
    ["absurd", 1e20],
    ["just over the maximum", 1_000_000_000_001],
    ["missing", undefined],
  ])("refuses an amount that is %s with a 400 naming amountMinor", async (_what, amountMinor) => {
    const u = user();
    const r = await call(u.token, "POST", "/api/billing/recharge", { ...(amountMinor === undefined ? {} : { amountMinor }), idempotencyKey: "k" });
    expect(r.status).toBe(400);
    expect(r.body.error?.code).toBe("invalid_request");
    expect([...new Set(r.body.error?.fields?.map((f) => f.path))]).toEqual(["amountMinor"]);
    expect((await call(u.token, "GET", "/api/billing/balance")).body.balanceMinor).toBe(0);
  });

  it("refuses self-service recharge when selfRecharge is off", async () => {
    setup({ selfRecharge: false });
    const u = user();
    const r = await call(u.token, "POST", "/api/billing/recharge", { amountMinor: 100, idempotencyKey: "k" });
    expect(r.status).toBe(403);
    expect(r.body.error?.code).toBe("self_recharge_disabled");
  });

  it("checks the billing scopes of API tokens", async () => {
    const u = user();
    const readOnly = apiToken(u.id, ["billing:read"]);
    expect((await call(readOnly, "GET", "/api/billing/balance")).status).toBe(200);
    const w = await call(readOnly, "POST", "/api/billing/recharge", { amountMinor: 100, idempotencyKey: "k" });
    expect(w.status).toBe(403);
    expect(w.body.error?.code).toBe("insufficient_scope");
    const devicesOnly = apiToken(u.id, ["devices:read"]);
    expect((await call(devicesOnly, "GET", "/api/billing/ledger")).status).toBe(403);
    expect((await call(devicesOnly, "GET", "/api/plans")).status).toBe(200);
  });
});

describe("plans, quota and invoices for users (Q1, B2, B4)", () => {
  it("lists only active plans", async () => {
    const u = user();
    createPlan(db, { name: "on", description: "", priceMinor: 100, usageModel: "per_hour", usageRateMinor: 5, spec: SPEC, active: true });
    createPlan(db, { name: "off", description: "", priceMinor: 100, usageModel: "per_hour", usageRateMinor: 5, spec: SPEC, active: false });
    const r = await call(u.token, "GET", "/api/plans");
    expect(r.status).toBe(200);
    expect((r.body.plans as { name: string }[]).map((p) => p.name)).toEqual(["on"]);
    expect(r.body.currency).toBe("EUR");
  });

  it("shows the caller's quota limits (platform default) and live usage", async () => {
    setup({ defaultQuotaDevices: 3 });
    const u = user();
    const r = await call(u.token, "GET", "/api/me/quota");
    expect(r.body).toEqual({
      limits: { maxDevices: 3, maxCpuMillis: 16_000, maxMemoryMb: 32_768, maxDiskMb: 262_144, source: "default" },
      usage: { devices: 0, cpuMillis: 0, memoryMb: 0, diskMb: 0 },
    });
  });

  it("serves the current month's invoice and refuses bad or unknown periods", async () => {
    const u = user();
    await call(u.token, "POST", "/api/billing/recharge", { amountMinor: 250, idempotencyKey: "k" });
    const list = await call(u.token, "GET", "/api/billing/invoices");
    const invoices = list.body.invoices as { period: string; status: string; closingMinor: number }[];
    expect(invoices).toHaveLength(1);
    expect(invoices[0]).toMatchObject({ status: "open", closingMinor: 250, currency: "EUR", userId: u.id });
    const one = await call(u.token, "GET", `/api/billing/invoices/${invoices[0]!.period}`);
    expect(one.body).toEqual(invoices[0]);
    const bad = await call(u.token, "GET", "/api/billing/invoices/2026-13");
    expect(bad.status).toBe(400);
    expect(bad.body.error?.fields?.[0]?.path).toBe("period");
    const future = await call(u.token, "GET", "/api/billing/invoices/2999-01");
    expect(future.status).toBe(404);
    expect(future.body.error?.code).toBe("invoice_not_found");
  });
});
