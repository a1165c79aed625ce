import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AdminDeleteUserResponse, AdminUserList, AdminUserView, ApiTokenView, ErrorBody, MeResponse, type CreateDeviceRequest } from "@cloudphone/shared-protocol";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import { createDevice } from "../devices/registry.js";
import { enrollTestHost, payloadOf, statusMessage, tempDb, testAppDeps } from "../testing/fixtures.js";
import { TEST_JWT_SECRET, testUser } from "../users/testing.js";
import { createApp, type App } from "./app.js";
import type { AppDeps } from "./app.js";

const ADMIN = "admin-token-for-tests-0123456789";
let db: Db;
let cleanup: () => void;
let app: App;
let deps: AppDeps;
let config: Config;

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  deps = testAppDeps(db, { adminToken: ADMIN, config: { jwtSecret: TEST_JWT_SECRET } });
  config = deps.config;
  app = createApp(deps);
});
afterEach(() => cleanup());

const call = (method: string, path: string, token: string, body?: unknown) =>
  app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const error = async (r: Response) => ErrorBody.parse(await r.json()).error;

describe("API tokens", () => {
  it("shows the secret once, lists without secrets, enforces scopes and dies on revocation", async () => {
    const u = testUser(db, config);
    const created = await call("POST", "/api/me/tokens", u.token, { name: "ci", scopes: ["devices:read"] });
    expect(created.status).toBe(201);
    const t = (await created.json()) as ApiTokenView & { token: string };
    expect(t.token).toMatch(/^cpt_[A-Za-z0-9_-]{43}$/);
    expect(t).toMatchObject({ name: "ci", scopes: ["devices:read"], expiresAt: null, lastUsedAt: null });
    const stored = db.prepare("SELECT token_hash FROM api_tokens WHERE id = ?").pluck().get(t.id) as string;
    expect(stored).not.toContain(t.token.slice(4));

    const list = (await (await call("GET", "/api/me/tokens", u.token)).json()) as { tokens: Record<string, unknown>[] };
    expect(list.tokens).toHaveLength(1);
    expect(list.tokens[0]).not.toHaveProperty("token");
    expect(JSON.stringify(list)).not.toContain(t.token);

    // devices:read only: /api/me needs account:read → 403 insufficient_scope.
    const denied = await call("GET", "/api/me", t.token);
    expect(denied.status).toBe(403);
    expect((await error(denied)).code).toBe("insufficient_scope");

    const t2 = (await (await call("POST", "/api/me/tokens", u.token, { name: "me", scopes: ["account:read"], expiresInDays: 30 })).json()) as { token: string; id: string; expiresAt: number };
    expect(t2.expiresAt).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    const me = MeResponse.parse(await (await call("GET", "/api/me", t2.token)).json());
    expect(me).toMatchObject({ id: u.userId, auth: { via: "api_token", scopes: ["account:read"], tokenId: t2.id } });

    expect((await call("DELETE", `/api/me/tokens/${t2.id}`, u.token)).status).toBe(204);
    expect((await call("DELETE", `/api/me/tokens/${t2.id}`, u.token)).status).toBe(204); // idempotent
    const revoked = await call("GET", "/api/me", t2.token);
    expect(revoked.status).toBe(401);
    expect(await error(revoked)).toMatchObject({ code: "invalid_token", message: "API token has been revoked" });
    expect(((await (await call("GET", "/api/me/tokens", u.token)).json()) as { tokens: unknown[] }).tokens).toHaveLength(1);
  });

  it("refuses to grant admin to a non-admin or more scopes than the calling token holds", async () => {
    const u = testUser(db, config);
    const admin = await call("POST", "/api/me/tokens", u.token, { name: "x", scopes: ["admin"] });
    expect(admin.status).toBe(403);
    expect((await error(admin)).message).toContain("admin role");
    const narrow = (await (await call("POST", "/api/me/tokens", u.token, { name: "n", scopes: ["account:write"] })).json()) as { token: string };
    const wider = await call("POST", "/api/me/tokens", narrow.token, { name: "w", scopes: ["account:write", "devices:write"] });
    expect(wider.status).toBe(403);
    expect((await error(wider)).message).toContain("devices:write");
    expect((await call("POST", "/api/me/tokens", narrow.token, { name: "same", scopes: ["account:write"] })).status).toBe(201);
    const bad = await call("POST", "/api/me/tokens", u.token, { name: "b", scopes: ["devices:read", "root"] });
    expect((await error(bad)).fields?.[0]?.path).toBe("scopes.1");
    const dup = await call("POST", "/api/me/tokens", u.token, { name: "d", scopes: ["devices:read", "devices:read"] });
    expect(dup.status).toBe(400);
    // An admin may grant admin, and such a token passes requireAdmin.
    const a = testUser(db, config, { role: "admin" });
    const at = (await (await call("POST", "/api/me/tokens", a.token, { name: "ops", scopes: ["admin"] })).json()) as { token: string };
    expect((await call("GET", "/api/admin/users", at.token)).status).toBe(200);
  });

  it("answers 404 for another user's token, and token_expired for an expired one", async () => {
    const alice = testUser(db, config);
    const bob = testUser(db, config);
    const t = (await (await call("POST", "/api/me/tokens", alice.token, { name: "a", scopes: ["account:read"], expiresInDays: 1 })).json()) as { id: string; token: string };
    const other = await call("DELETE", `/api/me/tokens/${t.id}`, bob.token);
    expect(other.status).toBe(404);
    expect((await error(other)).code).toBe("token_not_found");
    expect((await call("DELETE", "/api/me/tokens/nope", bob.token)).status).toBe(404);
    expect((await call("GET", "/api/me", t.token)).status).toBe(200);
    db.prepare("UPDATE api_tokens SET expires_at = ? WHERE id = ?").run(Date.now() - 1, t.id);
    expect((await error(await call("GET", "/api/me", t.token))).code).toBe("token_expired");
  });

  it("records last use at most once a minute", async () => {
    const u = testUser(db, config);
    const t = (await (await call("POST", "/api/me/tokens", u.token, { name: "a", scopes: ["account:read"] })).json()) as { id: string; token: string };
    const lastUsed = () => db.prepare("SELECT last_used_at FROM api_tokens WHERE id = ?").pluck().get(t.id) as number | null;
    await call("GET", "/api/me", t.token);
    const first = lastUsed();
    expect(first).not.toBeNull();
    db.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").run(first! - 30_000, t.id);
    await call("GET", "/api/me", t.token);
    expect(lastUsed()).toBe(first! - 30_000); // less than a minute ago: not rewritten
    db.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").run(first! - 61_000, t.id);
    await call("GET", "/api/me", t.token);
    expect(lastUsed()).toBeGreaterThanOrEqual(first!);
  });
});

async function onlineHost(): Promise<string> {
  const { hostId } = enrollTestHost(db);
  const m = statusMessage(hostId, "online", 1);
  await deps.inbox.ingest(m.topic, payloadOf(m), hostId);
  return hostId;
}

const spec = (ownerId: string): CreateDeviceRequest => ({ ownerId, cpuMillis: 1000, memoryMb: 1024, diskMb: 1024, width: 720, height: 1280, dpi: 320, fps: 30 });

describe("admin: users", () => {
  it("is admin-only and lists users paged with an email filter", async () => {
    const u = testUser(db, config, { email: "plain@example.com" });
    expect((await error(await call("GET", "/api/admin/users", u.token))).code).toBe("forbidden");
    for (const e of ["ann@corp.test", "ben@corp.test", "cat@other.test", "100%_x@corp.test"]) testUser(db, config, { email: e });
    const all = AdminUserList.parse(await (await call("GET", "/api/admin/users?limit=2", ADMIN)).json());
    expect(all.total).toBe(6); // 5 + the bootstrap admin
    expect(all.users).toHaveLength(2);
    const page2 = AdminUserList.parse(await (await call("GET", "/api/admin/users?limit=2&offset=2", ADMIN)).json());
    expect(page2.users[0]!.id).not.toBe(all.users[0]!.id);
    const corp = AdminUserList.parse(await (await call("GET", "/api/admin/users?email=CORP.test", ADMIN)).json());
    expect(corp.users.map((x) => x.email).sort()).toEqual(["100%_x@corp.test", "ann@corp.test", "ben@corp.test"]);
    const literal = AdminUserList.parse(await (await call("GET", "/api/admin/users?email=%25_", ADMIN)).json());
    expect(literal.users.map((x) => x.email)).toEqual(["100%_x@corp.test"]);
    const admins = AdminUserList.parse(await (await call("GET", "/api/admin/users?role=admin", ADMIN)).json());
    expect(admins.users.map((x) => x.email)).toEqual(["admin@cloudphone.local"]);
    expect((await error(await call("GET", "/api/admin/users?limit=0", ADMIN))).fields?.[0]?.path).toBe("limit");
  });

  it("shows one user, changes roles, unlocks, and protects the bootstrap admin", async () => {
    const u = testUser(db, config);
    db.prepare("UPDATE users SET failed_logins = 2, locked_until = ? WHERE id = ?").run(Date.now() + 60_000, u.userId);
    const view = AdminUserView.parse(await (await call("GET", `/api/admin/users/${u.userId}`, ADMIN)).json());
    expect(view).toMatchObject({ role: "user", failedLogins: 2, liveDevices: 0, activeApiTokens: 0, bootstrap: false });
    expect((await call("GET", "/api/admin/users/nope", ADMIN)).status).toBe(404);
    const patched = AdminUserView.parse(await (await call("PATCH", `/api/admin/users/${u.userId}`, ADMIN, { role: "admin", unlock: true })).json());
    expect(patched).toMatchObject({ role: "admin", failedLogins: 0, lockedUntil: null });
    expect((await call("GET", "/api/admin/users", u.token)).status).toBe(200);
    expect((await error(await call("PATCH", `/api/admin/users/${u.userId}`, ADMIN, {}))).code).toBe("invalid_request");
    const me = MeResponse.parse(await (await call("GET", "/api/me", ADMIN)).json());
    const demote = await call("PATCH", `/api/admin/users/${me.id}`, ADMIN, { role: "user" });
    expect(demote.status).toBe(409);
    expect((await error(demote)).code).toBe("bootstrap_admin");
    expect((await call("DELETE", `/api/admin/users/${me.id}`, ADMIN)).status).toBe(409);
    expect((await call("DELETE", `/api/admin/users/${u.userId}`, u.token)).status).toBe(409); // self
  });

  it("deletes a user: tokens revoked, devices released with commands, user.deleted recorded once", async () => {
    const hostId = await onlineHost();
    const u = testUser(db, config, { email: "leaving@example.com" });
    const other = testUser(db, config);
    const t = (await (await call("POST", "/api/me/tokens", u.token, { name: "a", scopes: ["account:read"] })).json()) as { token: string };
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = createDevice(db, { ...spec(u.userId), hostId }, "test");
      if (!r.ok) throw new Error(r.message);
      ids.push(r.device.id);
    }
    const keep = createDevice(db, { ...spec(other.userId), hostId }, "test");
    if (!keep.ok) throw new Error(keep.message);
    expect(AdminUserView.parse(await (await call("GET", `/api/admin/users/${u.userId}`, ADMIN)).json()).liveDevices).toBe(2);

    const r = await app.request(`/api/admin/users/${u.userId}`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN}`, "x-request-id": "del-1" } });
    expect(r.status).toBe(200);
    const body = AdminDeleteUserResponse.parse(await r.json());
    expect(body.user).toMatchObject({ status: "deleted", email: "leaving@example.com" });
    expect(body.releasedDevices.map((d) => d.deviceId).sort()).toEqual([...ids].sort());
    for (const id of ids) {
      expect(db.prepare("SELECT desired FROM devices WHERE id = ?").pluck().get(id)).toBe("deleted");
      expect(db.prepare("SELECT request_id FROM commands WHERE device_id = ? AND action = 'delete'").pluck().get(id)).toBe("del-1");
    }
    expect(db.prepare("SELECT desired FROM devices WHERE id = ?").pluck().get(keep.device.id)).toBe("running");
    expect((await error(await call("GET", "/api/me", u.token))).code).toBe("invalid_token");
    expect((await error(await call("GET", "/api/me", t.token))).code).toBe("invalid_token");
    const login = await app.request("/api/auth/register", { method: "POST", body: JSON.stringify({ email: "leaving@example.com", password: "a-long-enough-password" }) });
    expect(login.status).toBe(409); // the email stays reserved

    const again = AdminDeleteUserResponse.parse(await (await call("DELETE", `/api/admin/users/${u.userId}`, ADMIN)).json());
    expect(again.releasedDevices).toEqual([]);
    const ev = db.prepare("SELECT user_id, data, request_id FROM platform_outbox WHERE name = 'user.deleted'").all() as { user_id: string; data: string; request_id: string }[];
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ user_id: u.userId, request_id: "del-1" });
    expect((JSON.parse(ev[0]!.data) as { releasedDevices: string[] }).releasedDevices.sort()).toEqual([...ids].sort());
    expect((await call("DELETE", "/api/admin/users/nope", ADMIN)).status).toBe(404);
  });
});
