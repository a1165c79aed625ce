import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CreateOrderResponse, ErrorBody, ListOrdersResponse, OrderDetail } from "@cloudphone/shared-protocol";
import type { Principal, Scope } from "../auth/principal.js";
import { parseConfigObject } from "../config.js";
import type { App, AppDeps, AppEnv } from "../http/app.js";
import { ApiError, errorBody } from "../http/errors.js";
import { registerOrderRoutes } from "../http/routes-orders.js";
import { Inbox } from "../inbox/inbox.js";
import type { Db } from "../store/db.js";
import { enrollTestHost, payloadOf, silentLogger, statusMessage, tempDb, testAppDeps } from "../testing/fixtures.js";

/**
 * The order routes in-process. Authentication is another module's job (tested there); here a header names the caller
 * so that ownership, scopes and roles can be exercised directly against the real routes and a real database.
 */
const SPEC = { cpuMillis: 1000, memoryMb: 1024, diskMb: 2048, width: 720, height: 1280, dpi: 320, fps: 30 };

let db: Db;
let cleanup: () => void;
let deps: AppDeps;
let app: App;
let inbox: Inbox;
let hostId: string;

function compose(d: AppDeps): App {
  const a = new Hono<AppEnv>();
  a.use("*", async (c, next) => {
    c.set("requestId", c.req.header("x-request-id") ?? "test-request");
    const who = c.req.header("x-test-user");
    if (who) {
      const scopes = c.req.header("x-test-scopes");
      const principal: Principal = {
        userId: who,
        role: who.startsWith("admin") ? "admin" : "user",
        scopes: scopes === undefined ? "all" : (scopes.split(",") as Scope[]),
        via: scopes === undefined ? "jwt" : "api_token",
      };
      c.set("principal", principal);
    }
    await next();
  });
  registerOrderRoutes(a, d);
  a.onError((err, c) => {
    if (err instanceof ApiError) return c.json(errorBody(err.code, err.message, c.get("requestId"), err.fields), err.status);
    throw err;
  });
  return a;
}

const call = (user: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  app.request(path, {
    method,
    headers: { "content-type": "application/json", ...(user ? { "x-test-user": user } : {}), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

function seedUser(id: string, balance: number): void {
  const now = Date.now();
  db.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)").run(id, `${id}@example.test`, id.startsWith("admin") ? "admin" : "user", now, now);
  if (balance > 0) deps.ledger.post({ userId: id, kind: "recharge", amountMinor: balance, idempotencyKey: `seed:${id}` });
}

function seedPlan(id: string, price: number, active = true, spec: unknown = SPEC): void {
  const now = Date.now();
  db.prepare(
    `INSERT INTO plans (id, name, price_minor, usage_model, usage_rate_minor, spec, active, created_at, updated_at)
     VALUES (?, ?, ?, 'per_hour', 10, ?, ?, ?, ?)`,
  ).run(id, `Plan ${id}`, price, JSON.stringify(spec), active ? 1 : 0, now, now);
}

const count = (table: string) => db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;

beforeEach(async () => {
  ({ db, cleanup } = tempDb());
  deps = { ...testAppDeps(db), config: parseConfigObject({ dataDir: "/nonexistent", logLevel: "silent", sagaRetryBaseMs: 10 }) };
  app = compose(deps);
  inbox = new Inbox(db, silentLogger());
  hostId = enrollTestHost(db, { cpuMillis: 64_000, memoryMb: 262_144, diskMb: 1_000_000, deviceSlots: 100 }).hostId;
  const m = statusMessage(hostId, "online", 1);
  await inbox.ingest(m.topic, payloadOf(m), hostId);
  seedUser("alice", 10_000);
  seedUser("bob", 10_000);
  seedUser("admin-1", 0);
  seedPlan("basic", 2500);
});
afterEach(() => {
  inbox.close();
  cleanup();
});

describe("order routes", () => {
  it("buys a plan: 202 with the pending order whose device is allocated", async () => {
    const r = await call("alice", "POST", "/api/orders", { planId: "basic", name: "my phone" }, { "x-request-id": "buy-1" });
    expect(r.status).toBe(202);
    const body = CreateOrderResponse.parse(await r.json());
    expect(body.order).toMatchObject({ userId: "alice", planId: "basic", status: "pending", amountMinor: 2500, requestId: "buy-1" });
    expect(body.order.saga).toMatchObject({ id: body.sagaId, step: "device_allocated", status: "running" });
    const device = db.prepare("SELECT name, owner_id FROM devices WHERE id = ?").get(body.order.deviceId);
    expect(device).toEqual({ name: "my phone", owner_id: "alice" });
    expect(db.prepare("SELECT request_id FROM commands WHERE device_id = ?").pluck().get(body.order.deviceId)).toBe("buy-1");
  });

  it("refuses too little balance with 402 and writes nothing", async () => {
    seedUser("carol", 2499);
    const r = await call("carol", "POST", "/api/orders", { planId: "basic" });
    expect(r.status).toBe(402);
    expect(ErrorBody.parse(await r.json()).error.code).toBe("insufficient_funds");
    expect([count("orders"), count("sagas"), count("devices"), count("platform_outbox")]).toEqual([0, 0, 0, 0]);
  });

  it("validates the body and the plan", async () => {
    const bad = await call("alice", "POST", "/api/orders", { planId: "", extra: 1 });
    expect(bad.status).toBe(400);
    const paths = ErrorBody.parse(await bad.json()).error.fields?.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(["planId", "extra"]));
    expect((await call("alice", "POST", "/api/orders", { planId: "nope" })).status).toBe(404);
    seedPlan("old", 100, false);
    const inactive = await call("alice", "POST", "/api/orders", { planId: "old" });
    expect([inactive.status, ErrorBody.parse(await inactive.json()).error.code]).toEqual([409, "plan_inactive"]);
    seedPlan("broken", 100, true, { cpuMillis: "lots" });
    expect(ErrorBody.parse(await (await call("alice", "POST", "/api/orders", { planId: "broken" })).json()).error.code).toBe("plan_unavailable");
    expect(count("orders")).toBe(0);
  });

  it("answers 409 with the order id when allocation fails, the order already failed and nothing charged", async () => {
    const off = statusMessage(hostId, "offline", 2);
    await inbox.ingest(off.topic, payloadOf(off), hostId);
    const r = await call("alice", "POST", "/api/orders", { planId: "basic" });
    expect(r.status).toBe(409);
    const body = (await r.json()) as ErrorBody & { orderId: string; sagaId: string };
    expect(body.error.code).toBe("no_host_online");
    const order = OrderDetail.parse(await (await call("alice", "GET", `/api/orders/${body.orderId}`)).json());
    expect(order).toMatchObject({ status: "failed", failureCode: "no_host_online", deviceId: null, saga: { status: "compensated" } });
    expect(deps.ledger.balance("alice")).toBe(10_000);
    const ev = db.prepare("SELECT user_id, data FROM platform_outbox WHERE name = 'order.failed'").get() as { user_id: string; data: string };
    expect(ev.user_id).toBe("alice");
    expect(JSON.parse(ev.data)).toMatchObject({ notification: "ORDER_FAILED", code: "no_host_online", orderId: body.orderId });
  });

  it("answers 409 no_capacity when the hosts are full", async () => {
    db.prepare("UPDATE hosts SET device_slots = 0").run();
    const r = await call("alice", "POST", "/api/orders", { planId: "basic" });
    expect(r.status).toBe(409);
    const body = (await r.json()) as ErrorBody & { orderId: string };
    expect(body.error.code).toBe("no_capacity");
    expect(db.prepare("SELECT status, failure_code FROM orders WHERE id = ?").get(body.orderId)).toEqual({ status: "failed", failure_code: "no_capacity" });
  });

  it("answers 409 quota_exceeded early, writing nothing", async () => {
    db.prepare("INSERT INTO quotas (user_id, max_devices, max_cpu_millis, max_memory_mb, max_disk_mb, source, updated_at) VALUES ('alice', 0, 0, 0, 0, 'admin', 0)").run();
    const r = await call("alice", "POST", "/api/orders", { planId: "basic" });
    expect([r.status, ErrorBody.parse(await r.json()).error.code]).toEqual([409, "quota_exceeded"]);
    expect(count("orders")).toBe(0);
  });

  it("shows users only their own orders; another user's order is a 404 like a missing one", async () => {
    const a = CreateOrderResponse.parse(await (await call("alice", "POST", "/api/orders", { planId: "basic" })).json());
    const b = CreateOrderResponse.parse(await (await call("bob", "POST", "/api/orders", { planId: "basic" })).json());
    const mine = ListOrdersResponse.parse(await (await call("alice", "GET", "/api/orders?userId=bob")).json());
    expect(mine.orders.map((o) => o.id)).toEqual([a.order.id]);
    const detail = OrderDetail.parse(await (await call("alice", "GET", `/api/orders/${a.order.id}`)).json());
    expect(detail.sagaLog.map((l) => l.step)).toEqual(["order_created", "device_allocated"]);

    const foreign = await call("alice", "GET", `/api/orders/${b.order.id}`);
    const missing = await call("alice", "GET", "/api/orders/does-not-exist");
    expect([foreign.status, missing.status]).toEqual([404, 404]);
    const fb = ErrorBody.parse(await foreign.json()).error;
    expect(fb.code).toBe(ErrorBody.parse(await missing.json()).error.code);
    expect((await call("alice", "POST", `/api/orders/${b.order.id}/cancel`)).status).toBe(404);

    const all = ListOrdersResponse.parse(await (await call("admin-1", "GET", "/api/orders")).json());
    expect(all.orders.map((o) => o.id).sort()).toEqual([a.order.id, b.order.id].sort());
    const bobs = ListOrdersResponse.parse(await (await call("admin-1", "GET", "/api/orders?userId=bob")).json());
    expect(bobs.orders.map((o) => o.id)).toEqual([b.order.id]);
    expect((await call("admin-1", "GET", `/api/orders/${b.order.id}`)).status).toBe(200);
  });

  it("pages orders newest first", async () => {
    deps.ledger.post({ userId: "alice", kind: "recharge", amountMinor: 100_000, idempotencyKey: "more" });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(CreateOrderResponse.parse(await (await call("alice", "POST", "/api/orders", { planId: "basic" })).json()).order.id);
    const p1 = ListOrdersResponse.parse(await (await call("alice", "GET", "/api/orders?limit=2")).json());
    expect(p1.orders.map((o) => o.id)).toEqual([ids[2], ids[1]]);
    const p2 = ListOrdersResponse.parse(await (await call("alice", "GET", `/api/orders?limit=2&before=${p1.nextBefore}`)).json());
    expect(p2.orders.map((o) => o.id)).toEqual([ids[0]]);
    expect(p2.nextBefore).toBeUndefined();
    expect((await call("alice", "GET", "/api/orders?limit=0")).status).toBe(400);
  });

  it("cancels a pending order before payment", async () => {
    const a = CreateOrderResponse.parse(await (await call("alice", "POST", "/api/orders", { planId: "basic" })).json());
    const r = await call("alice", "POST", `/api/orders/${a.order.id}/cancel`);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { order: { status: string } }).order.status).toBe("cancelled");
    const again = await call("alice", "POST", `/api/orders/${a.order.id}/cancel`);
    expect([again.status, ErrorBody.parse(await again.json()).error.code]).toEqual([409, "order_not_cancellable"]);
  });

  it("requires authentication and the billing scopes", async () => {
    expect((await call(null, "GET", "/api/orders")).status).toBe(401);
    const noWrite = await call("alice", "POST", "/api/orders", { planId: "basic" }, { "x-test-scopes": "billing:read" });
    expect([noWrite.status, ErrorBody.parse(await noWrite.json()).error.code]).toEqual([403, "insufficient_scope"]);
    expect((await call("alice", "GET", "/api/orders", undefined, { "x-test-scopes": "devices:read" })).status).toBe(403);
    expect((await call("alice", "GET", "/api/orders", undefined, { "x-test-scopes": "billing:read" })).status).toBe(200);
  });
});
