import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorBody, MeResponse, SessionResponse } from "@cloudphone/shared-protocol";
import type { ConfigInput } from "../config.js";
import type { Db } from "../store/db.js";
import { tempDb, testAppDeps } from "../testing/fixtures.js";
import { TEST_JWT_SECRET } from "../users/testing.js";
import { createApp, type App } from "./app.js";

let db: Db;
let cleanup: () => void;
let app: App;

function makeApp(config: ConfigInput = {}) {
  app = createApp(testAppDeps(db, { config: { jwtSecret: TEST_JWT_SECRET, ...config } }));
}
beforeEach(() => {
  ({ db, cleanup } = tempDb());
  makeApp();
});
afterEach(() => cleanup());

const post = (path: string, body: unknown, token?: string) =>
  app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
const get = (path: string, token: string) => app.request(path, { headers: { authorization: `Bearer ${token}` } });
const code = async (r: Response) => ErrorBody.parse(await r.json()).error.code;
const events = (name: string) =>
  db.prepare("SELECT user_id AS userId, data, request_id AS requestId FROM platform_outbox WHERE name = ? ORDER BY seq").all(name) as {
    userId: string;
    data: string;
    requestId: string;
  }[];

const PW = "a-long-enough-password";

async function registerUser(email = "alice@example.com", password = PW): Promise<SessionResponse> {
  const r = await post("/api/auth/register", { email, password });
  expect(r.status).toBe(201);
  return SessionResponse.parse(await r.json());
}

describe("register and login", () => {
  it("registers a user with a session, hashes the password and records user.registered in the same transaction", async () => {
    const s = await registerUser("  Alice@Example.COM ");
    expect(s).toMatchObject({ tokenType: "Bearer", expiresIn: 900, user: { email: "alice@example.com", role: "user", status: "active" } });
    expect(s.refreshToken).toMatch(/^cpr_/);
    const me = MeResponse.parse(await (await get("/api/me", s.accessToken)).json());
    expect(me).toMatchObject({ id: s.user.id, email: "alice@example.com", auth: { via: "jwt", scopes: "all" } });
    const row = db.prepare("SELECT password_hash FROM users WHERE id = ?").get(s.user.id) as { password_hash: string };
    expect(row.password_hash).toMatch(/^scrypt\$/);
    expect(row.password_hash).not.toContain(PW);
    const ev = events("user.registered");
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ userId: s.user.id });
    expect(JSON.parse(ev[0]!.data)).toEqual({ email: "alice@example.com" });
  });

  it("validates email and password and refuses a taken email (case-insensitive)", async () => {
    const short = await post("/api/auth/register", { email: "a@example.com", password: "short" });
    expect(short.status).toBe(400);
    expect(ErrorBody.parse(await short.json()).error.fields?.[0]?.path).toBe("password");
    const long = await post("/api/auth/register", { email: "a@example.com", password: "x".repeat(257) });
    expect(ErrorBody.parse(await long.json()).error.fields?.[0]?.path).toBe("password");
    const email = await post("/api/auth/register", { email: "not-an-email", password: PW });
    expect(ErrorBody.parse(await email.json()).error.fields?.[0]?.path).toBe("email");
    const extra = await post("/api/auth/register", { email: "a@example.com", password: PW, role: "admin" });
    expect(ErrorBody.parse(await extra.json()).error.fields?.[0]?.path).toBe("role");
    await registerUser("bob@example.com");
    const taken = await post("/api/auth/register", { email: "BOB@example.com", password: PW });
    expect(taken.status).toBe(409);
    expect(await code(taken)).toBe("email_taken");
  });

  it("logs in with the right password only; unknown emails get the same answer", async () => {
    const reg = await registerUser();
    const ok = await post("/api/auth/login", { email: "ALICE@example.com", password: PW });
    expect(ok.status).toBe(200);
    const s = SessionResponse.parse(await ok.json());
    expect(s.user.id).toBe(reg.user.id);
    expect(s.accessToken).not.toBe(reg.accessToken);
    const wrong = await post("/api/auth/login", { email: "alice@example.com", password: "wrong-password-123" });
    expect(wrong.status).toBe(401);
    const unknown = await post("/api/auth/login", { email: "nobody@example.com", password: "wrong-password-123" });
    expect(unknown.status).toBe(401);
    const [a, b] = [ErrorBody.parse(await wrong.json()).error, ErrorBody.parse(await unknown.json()).error];
    expect(a).toEqual(b);
    expect(a.code).toBe("invalid_credentials");
    const failed = events("user.login_failed");
    expect(failed).toHaveLength(1); // unknown emails have no user to record it against
    expect(failed[0]!.userId).toBe(reg.user.id);
    expect(failed[0]!.data).not.toContain("wrong-password");
    expect(JSON.parse(failed[0]!.data)).toMatchObject({ reason: "invalid_password", consecutiveFailures: 1, locked: false });
  });

  it("locks the account after loginMaxFailures failures, with Retry-After, and unlocks after the lockout", async () => {
    makeApp({ loginMaxFailures: 3, loginLockoutSeconds: 120 });
    const reg = await registerUser();
    const bad = { email: "alice@example.com", password: "wrong-password-123" };
    expect((await post("/api/auth/login", bad)).status).toBe(401);
    expect((await post("/api/auth/login", bad)).status).toBe(401);
    const third = await post("/api/auth/login", bad);
    expect(third.status).toBe(429);
    expect(await code(third)).toBe("account_locked");
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(100);
    // Even the right password is refused while locked, and a locked attempt is not another failure event.
    const right = await post("/api/auth/login", { email: "alice@example.com", password: PW });
    expect(right.status).toBe(429);
    expect(await code(right)).toBe("account_locked");
    expect(events("user.login_failed").map((e) => JSON.parse(e.data) as { locked: boolean }).map((d) => d.locked)).toEqual([false, false, true]);
    // Time passes (the lock lies in the past): the right password works and resets the counter.
    db.prepare("UPDATE users SET locked_until = ? WHERE id = ?").run(Date.now() - 1, reg.user.id);
    expect((await post("/api/auth/login", { email: "alice@example.com", password: PW })).status).toBe(200);
    expect(db.prepare("SELECT failed_logins, locked_until FROM users WHERE id = ?").get(reg.user.id)).toEqual({ failed_logins: 0, locked_until: null });
  });

  it("limits register and login attempts per client address", async () => {
    makeApp({ rateLimitPerMinute: 180 }); // → 3 per minute per address for each of register and login
    for (let i = 0; i < 3; i++) expect((await post("/api/auth/login", { email: "x@example.com", password: "p" })).status).toBe(401);
    const r = await post("/api/auth/login", { email: "x@example.com", password: "p" });
    expect(r.status).toBe(429);
    expect(await code(r)).toBe("rate_limited");
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(r.headers.get("ratelimit-limit")).toBe("3");
    expect(r.headers.get("ratelimit-remaining")).toBe("0");
    // Register has its own budget.
    expect((await post("/api/auth/register", { email: "y@example.com", password: PW })).status).toBe(201);
  });
});

describe("refresh, logout and password change", () => {
  it("rotates refresh tokens; a reused one is refused and revokes the user's other refresh tokens", async () => {
    const s1 = await registerUser();
    const r2 = await post("/api/auth/refresh", { refreshToken: s1.refreshToken });
    expect(r2.status).toBe(200);
    const s2 = SessionResponse.parse(await r2.json());
    expect(s2.refreshToken).not.toBe(s1.refreshToken);
    expect((await get("/api/me", s2.accessToken)).status).toBe(200);
    const reuse = await post("/api/auth/refresh", { refreshToken: s1.refreshToken });
    expect(reuse.status).toBe(401);
    expect(await code(reuse)).toBe("invalid_refresh_token");
    // Theft response: the legitimately rotated token s2 is dead too.
    expect((await post("/api/auth/refresh", { refreshToken: s2.refreshToken })).status).toBe(401);
    expect((await post("/api/auth/refresh", { refreshToken: "cpr_unknown" })).status).toBe(401);
  });

  it("refuses an expired refresh token, and only one of two concurrent uses wins", async () => {
    const s = await registerUser();
    const both = await Promise.all([post("/api/auth/refresh", { refreshToken: s.refreshToken }), post("/api/auth/refresh", { refreshToken: s.refreshToken })]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 401]);
    const login = SessionResponse.parse(await (await post("/api/auth/login", { email: "alice@example.com", password: PW })).json());
    db.prepare("UPDATE refresh_tokens SET expires_at = 1 WHERE revoked_at IS NULL").run();
    const expired = await post("/api/auth/refresh", { refreshToken: login.refreshToken });
    expect(expired.status).toBe(401);
    expect(ErrorBody.parse(await expired.json()).error.message).toContain("expired");
  });

  it("logout revokes the refresh token; logout all also kills access tokens", async () => {
    const s = await registerUser();
    const s2 = SessionResponse.parse(await (await post("/api/auth/login", { email: "alice@example.com", password: PW })).json());
    expect((await post("/api/auth/logout", { refreshToken: s.refreshToken })).status).toBe(401); // needs a bearer token
    expect((await post("/api/auth/logout", { refreshToken: s.refreshToken }, s.accessToken)).status).toBe(204);
    expect((await post("/api/auth/refresh", { refreshToken: s.refreshToken })).status).toBe(401);
    expect((await get("/api/me", s.accessToken)).status).toBe(200); // access tokens live until exp
    expect((await post("/api/auth/logout", { all: true }, s.accessToken)).status).toBe(204);
    expect(await code(await get("/api/me", s.accessToken))).toBe("invalid_token");
    expect((await get("/api/me", s2.accessToken)).status).toBe(401);
    expect((await post("/api/auth/refresh", { refreshToken: s2.refreshToken })).status).toBe(401);
  });

  it("changes the password: older access and refresh tokens die, user.password_changed is recorded", async () => {
    const s = await registerUser();
    const wrong = await post("/api/me/password", { currentPassword: "not-the-password", newPassword: "another-long-password" }, s.accessToken);
    expect(wrong.status).toBe(403);
    expect(await code(wrong)).toBe("invalid_credentials");
    const same = await post("/api/me/password", { currentPassword: PW, newPassword: PW }, s.accessToken);
    expect(same.status).toBe(400);
    expect(ErrorBody.parse(await same.json()).error.fields?.[0]?.path).toBe("newPassword");
    const short = await post("/api/me/password", { currentPassword: PW, newPassword: "short" }, s.accessToken);
    expect(ErrorBody.parse(await short.json()).error.fields?.[0]?.path).toBe("newPassword");

    const r = await post("/api/me/password", { currentPassword: PW, newPassword: "another-long-password" }, s.accessToken);
    expect(r.status).toBe(200);
    const fresh = SessionResponse.parse(await r.json());
    const old = await get("/api/me", s.accessToken);
    expect(old.status).toBe(401);
    expect(await code(old)).toBe("invalid_token");
    expect((await post("/api/auth/refresh", { refreshToken: s.refreshToken })).status).toBe(401);
    expect((await get("/api/me", fresh.accessToken)).status).toBe(200);
    expect((await post("/api/auth/login", { email: "alice@example.com", password: PW })).status).toBe(401);
    expect((await post("/api/auth/login", { email: "alice@example.com", password: "another-long-password" })).status).toBe(200);
    const ev = events("user.password_changed");
    expect(ev).toHaveLength(1);
    expect(ev[0]!.userId).toBe(s.user.id);
    expect(ev[0]!.data).not.toContain("password-");
    // The wrong current password counted as a failure (and is an event).
    expect(JSON.parse(events("user.login_failed")[0]!.data)).toMatchObject({ reason: "password_change_wrong_password" });
  });
});
