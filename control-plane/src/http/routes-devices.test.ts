import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorBody, newId } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { signAccessToken } from "../auth/jwt.js";
import { createApiToken } from "../auth/api-tokens.js";
import { createDevice } from "../devices/registry.js";
import { Ledger } from "../billing/ledger.js";
import { createPlan } from "../plans/store.js";
import { enrollTestHost, tempDb, testAppDeps } from "../testing/fixtures.js";
import { createApp, type App } from "./app.js";

const SECRET = "device-routes-test-secret-0123456789abcdef";
const ADMIN = "admin-token-for-tests-0123456789";
const SPEC = { cpuMillis: 500, memoryMb: 512, diskMb: 1024, width: 720, height: 1280, dpi: 320, fps: 30 };
let db: Db;
let cleanup: () => void;
let app: App;
let ledger: Ledger;

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

/** A device as the order saga creates it: owned, optionally with a plan (metered). */
function ownedDevice(ownerId: string, planId: string | null = null): string {
  const r = createDevice(db, { ...SPEC, ownerId }, undefined, Date.now(), { planId });
  if (!r.ok) throw new Error(r.message);
  return r.device.id;
}

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  const deps = testAppDeps(db, { adminToken: ADMIN, config: { jwtSecret: SECRET, defaultQuotaDevices: 2 } });
  ledger = deps.ledger;
  app = createApp(deps);
  enrollTestHost(db, { cpuMillis: 64_000, memoryMb: 65_536, diskMb: 1_000_000, deviceSlots: 50 });
  db.prepare("UPDATE hosts SET status = 'online'").run();
});
afterEach(() => cleanup());

describe("device routes: ownership, quota, funds (Q1, B3)", () => {
  it("keeps POST /api/devices for admins and enforces the owner's quota there", async () => {
    const u = user();
    const denied = await call(u.token, "POST", "/api/devices", { ...SPEC, ownerId: u.id });
    expect(denied.status).toBe(403);
    expect(denied.body.error?.code).toBe("forbidden");
    expect((await call(ADMIN, "POST", "/api/devices", { ...SPEC, ownerId: u.id })).status).toBe(201);
    expect((await call(ADMIN, "POST", "/api/devices", { ...SPEC, ownerId: u.id })).status).toBe(201);
    const over = await call(ADMIN, "POST", "/api/devices", { ...SPEC, ownerId: u.id });
    expect(over.status).toBe(409);
    expect(over.body.error?.code).toBe("quota_exceeded");
    expect(over.body.error?.message).toContain("devices");
    // Fleet devices without an owner are not subject to any user quota.
    for (let i = 0; i < 3; i++) expect((await call(ADMIN, "POST", "/api/devices", SPEC)).status).toBe(201);
  });

  it("shows a user only their own devices; another's answers exactly like a missing one", async () => {
    const a = user();
    const b = user();
    const da = ownedDevice(a.id);
    const db_ = ownedDevice(b.id);
    const list = await call(a.token, "GET", "/api/devices");
    expect((list.body.devices as { id: string }[]).map((d) => d.id)).toEqual([da]);
    // Asking for someone else's owner id changes nothing for a user.
    const sneaky = await call(a.token, "GET", `/api/devices?ownerId=${b.id}`);
    expect((sneaky.body.devices as { id: string }[]).map((d) => d.id)).toEqual([da]);
    expect((await call(a.token, "GET", `/api/devices/${da}`)).status).toBe(200);

    const missingId = newId();
    const theirs = await call(a.token, "GET", `/api/devices/${db_}`);
    const missing = await call(a.token, "GET", `/api/devices/${missingId}`);
    expect(theirs.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(theirs.body.error?.code).toBe("device_not_found");
    expect(theirs.body.error?.message.replace(db_, "X")).toBe(missing.body.error?.message.replace(missingId, "X"));
    for (const [method, path] of [
      ["GET", `/api/devices/${db_}/events`],
      ["POST", `/api/devices/${db_}/stop`],
      ["POST", `/api/devices/${db_}/start`],
      ["POST", `/api/devices/${db_}/restart`],
      ["DELETE", `/api/devices/${db_}`],
    ] as const) {
      const r = await call(a.token, method, path);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.body.error?.code).toBe("device_not_found");
    }
    expect(db.prepare("SELECT COUNT(*) AS n FROM commands WHERE device_id = ?").get(db_)).toEqual({ n: 1 });
    expect((await call(a.token, "POST", `/api/devices/${da}/stop`)).status).toBe(202);

    const all = await call(ADMIN, "GET", "/api/devices");
    expect((all.body.devices as unknown[]).length).toBe(2);
    const filtered = await call(ADMIN, "GET", `/api/devices?ownerId=${b.id}`);
    expect((filtered.body.devices as { id: string }[]).map((d) => d.id)).toEqual([db_]);
    expect((await call(ADMIN, "GET", `/api/devices/${db_}`)).status).toBe(200);
  });

  it("needs devices:read for GETs and devices:write for actions", async () => {
    const u = user();
    const d = ownedDevice(u.id);
    const r = createApiToken(db, u.id, { name: "ro", scopes: ["devices:read"] });
    if (!r.ok) throw new Error(r.code);
    expect((await call(r.token, "GET", `/api/devices/${d}`)).status).toBe(200);
    const stop = await call(r.token, "POST", `/api/devices/${d}/stop`);
    expect(stop.status).toBe(403);
    expect(stop.body.error?.code).toBe("insufficient_scope");
  });

  it("refuses to start a metered device while the owner's balance is not positive (402)", async () => {
    const u = user();
    const plan = createPlan(db, { name: "p", description: "", priceMinor: 0, usageModel: "per_minute", usageRateMinor: 1, spec: SPEC, active: true });
    const metered = ownedDevice(u.id, plan.id);
    const free = ownedDevice(u.id);
    expect((await call(u.token, "POST", `/api/devices/${metered}/stop`)).status).toBe(202);
    expect((await call(u.token, "POST", `/api/devices/${free}/stop`)).status).toBe(202);
    for (const action of ["start", "restart"]) {
      const r = await call(u.token, "POST", `/api/devices/${metered}/${action}`);
      expect(r.status).toBe(402);
      expect(r.body.error?.code).toBe("insufficient_funds");
    }
    expect((db.prepare("SELECT desired FROM devices WHERE id = ?").get(metered) as { desired: string }).desired).toBe("stopped");
    // A device without a plan costs nothing to run.
    expect((await call(u.token, "POST", `/api/devices/${free}/start`)).status).toBe(202);
    ledger.post({ userId: u.id, kind: "recharge", amountMinor: 100, idempotencyKey: "k" });
    expect((await call(u.token, "POST", `/api/devices/${metered}/start`)).status).toBe(202);
  });

  it("an owner's own stop clears the funds-suspension mark, so the device is not restarted behind their back", async () => {
    const u = user();
    const d = ownedDevice(u.id);
    db.prepare("UPDATE devices SET desired = 'stopped', suspended_at = 1 WHERE id = ?").run(d);
    expect((await call(u.token, "POST", `/api/devices/${d}/stop`)).status).toBe(202);
    expect(db.prepare("SELECT suspended_at FROM devices WHERE id = ?").get(d)).toEqual({ suspended_at: null });
  });
});
