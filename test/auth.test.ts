// Users and authentication (U1, M4) against a real spawned control plane: register → login → /api/me → refresh
// rotation → API tokens (scope, revocation) → expired and forged JWTs → password change → lockout, and the
// control plane's log never contains a password or a token.
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startControlPlane, type ControlPlaneHandle } from "./support/processes.js";
import { api, type Json } from "./support/api.js";

let cp: ControlPlaneHandle;
/** Every secret the test sees; none may appear in the control plane's log. */
const secrets = new Set<string>();

const PASSWORD = `pw-${randomBytes(9).toString("hex")}`;
const NEW_PASSWORD = `new-pw-${randomBytes(9).toString("hex")}`;
const WRONG_PASSWORD = `wrong-pw-${randomBytes(9).toString("hex")}`;
const EMAIL = "alice@example.com";
[PASSWORD, NEW_PASSWORD, WRONG_PASSWORD].forEach((s) => secrets.add(s));

interface Session {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: { id: string; email: string; role: string };
}

/** A request as an end user: no Authorization header unless a token is given. */
const call = <T = Json>(method: string, path: string, body?: unknown, token?: string) => api(cp).raw<T>(method, path, body, { token: token ?? null });
const errorCode = (body: unknown) => (body as { error: { code: string } }).error.code;

function remember(s: Session): Session {
  secrets.add(s.accessToken);
  secrets.add(s.refreshToken);
  return s;
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
function hs256(secret: string, claims: Record<string, unknown>, alg = "HS256"): string {
  const input = `${b64({ alg, typ: "JWT" })}.${b64(claims)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

beforeAll(async () => {
  cp = await startControlPlane({
    logLevel: "debug",
    env: { CLOUDPHONE_CP_LOGIN_MAX_FAILURES: "3", CLOUDPHONE_CP_LOGIN_LOCKOUT_SECONDS: "60" },
  });
  secrets.add(cp.adminToken);
});
afterAll(async () => cp?.stop());

describe("users and authentication (real control plane)", () => {
  let session: Session;

  it("registers, logs in and answers /api/me", async () => {
    const reg = await call<Session>("POST", "/api/auth/register", { email: EMAIL, password: PASSWORD });
    expect(reg.status).toBe(201);
    remember(reg.body);
    expect(reg.body.user).toMatchObject({ email: EMAIL, role: "user" });
    expect((await call("POST", "/api/auth/register", { email: "ALICE@example.com", password: PASSWORD })).status).toBe(409);

    const login = await call<Session>("POST", "/api/auth/login", { email: EMAIL, password: PASSWORD });
    expect(login.status).toBe(200);
    session = remember(login.body);
    const me = await call("GET", "/api/me", undefined, session.accessToken);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: reg.body.user.id, email: EMAIL, auth: { via: "jwt" } });
    expect(me.headers.get("ratelimit-limit")).toBe("1200");
    expect((await call("GET", "/api/me")).status).toBe(401);
  });

  it("rotates refresh tokens and refuses a reused one", async () => {
    const r = await call<Session>("POST", "/api/auth/refresh", { refreshToken: session.refreshToken });
    expect(r.status).toBe(200);
    const rotated = remember(r.body);
    const reuse = await call("POST", "/api/auth/refresh", { refreshToken: session.refreshToken });
    expect(reuse.status).toBe(401);
    expect(errorCode(reuse.body)).toBe("invalid_refresh_token");
    // Reuse revoked the whole family: sign in again for the rest of the test.
    expect((await call("POST", "/api/auth/refresh", { refreshToken: rotated.refreshToken })).status).toBe(401);
    session = remember((await call<Session>("POST", "/api/auth/login", { email: EMAIL, password: PASSWORD })).body);
  });

  it("API tokens: scope enforced, listed without secret, refused once revoked", async () => {
    const created = await call<{ id: string; token: string }>("POST", "/api/me/tokens", { name: "ci", scopes: ["devices:read"] }, session.accessToken);
    expect(created.status).toBe(201);
    secrets.add(created.body.token);
    const t = created.body.token;
    expect(t.startsWith("cpt_")).toBe(true);
    expect((await call("GET", "/api/devices", undefined, t)).status).toBe(200);
    const noScope = await call("GET", "/api/me", undefined, t);
    expect(noScope.status).toBe(403);
    expect(errorCode(noScope.body)).toBe("insufficient_scope");
    const list = await call<{ tokens: Json[] }>("GET", "/api/me/tokens", undefined, session.accessToken);
    expect(list.body.tokens.map((x) => x.id)).toEqual([created.body.id]);
    expect(JSON.stringify(list.body)).not.toContain(t);
    expect((await call("POST", "/api/me/tokens", { name: "x", scopes: ["admin"] }, session.accessToken)).status).toBe(403);
    expect((await call("DELETE", `/api/me/tokens/${created.body.id}`, undefined, session.accessToken)).status).toBe(204);
    const revoked = await call("GET", "/api/devices", undefined, t);
    expect(revoked.status).toBe(401);
    expect(errorCode(revoked.body)).toBe("invalid_token");
  });

  it("refuses expired, forged and alg-none JWTs with precise codes", async () => {
    const file = join(cp.dataDir, "jwt-secret");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const key = readFileSync(file, "utf8").trim();
    secrets.add(key);
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: session.user.id, role: "user", tv: 0, iat: now - 120, exp: now - 60, jti: "expired-1" };
    const expired = await call("GET", "/api/me", undefined, hs256(key, claims));
    expect(expired.status).toBe(401);
    expect(errorCode(expired.body)).toBe("token_expired");
    // The same key with a valid exp is accepted: the test signs exactly like the control plane.
    const valid = hs256(key, { ...claims, exp: now + 60, jti: "valid-1" });
    secrets.add(valid);
    expect((await call("GET", "/api/me", undefined, valid)).status).toBe(200);
    const forged = await call("GET", "/api/me", undefined, hs256("not-the-key-" + randomBytes(16).toString("hex"), { ...claims, exp: now + 60 }));
    expect(errorCode(forged.body)).toBe("invalid_token");
    const none = `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims, exp: now + 60 })}.`;
    expect(errorCode((await call("GET", "/api/me", undefined, none)).body)).toBe("invalid_token");
  });

  it("a password change invalidates the older access token", async () => {
    const old = session.accessToken;
    const r = await call<Session>("POST", "/api/me/password", { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }, old);
    expect(r.status).toBe(200);
    session = remember(r.body);
    const refused = await call("GET", "/api/me", undefined, old);
    expect(refused.status).toBe(401);
    expect(errorCode(refused.body)).toBe("invalid_token");
    expect((await call("GET", "/api/me", undefined, session.accessToken)).status).toBe(200);
    expect((await call("POST", "/api/auth/login", { email: EMAIL, password: PASSWORD })).status).toBe(401);
  });

  it("locks the account after loginMaxFailures failures (429 account_locked, Retry-After)", async () => {
    // The login with the old password above was failure 1 of 3; failure 2 is a plain 401, failure 3 locks.
    expect((await call("POST", "/api/auth/login", { email: EMAIL, password: WRONG_PASSWORD })).status).toBe(401);
    const third = await call("POST", "/api/auth/login", { email: EMAIL, password: WRONG_PASSWORD });
    expect(third.status).toBe(429);
    expect(errorCode(third.body)).toBe("account_locked");
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(50);
    const right = await call("POST", "/api/auth/login", { email: EMAIL, password: NEW_PASSWORD });
    expect(right.status).toBe(429);
    // The admin sees the lock and can lift it.
    const admin = api(cp);
    const users = await admin.raw<{ users: { id: string; email: string }[] }>("GET", `/api/admin/users?email=alice`);
    expect(users.body.users.map((u) => u.email)).toEqual([EMAIL]);
    const unlocked = await admin.raw("PATCH", `/api/admin/users/${session.user.id}`, { unlock: true });
    expect(unlocked.body).toMatchObject({ lockedUntil: null, failedLogins: 0 });
    const again = await call<Session>("POST", "/api/auth/login", { email: EMAIL, password: NEW_PASSWORD });
    expect(again.status).toBe(200);
    remember(again.body);
    // Failures were recorded as platform events, without the password.
    const events = await admin.raw<{ events: { name: string; data: Json }[] }>("GET", "/api/notifications?all=true&limit=100");
    expect(events.status).toBe(200);
    const failed = events.body.events.filter((e) => e.name === "user.login_failed");
    expect(failed.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(failed)).not.toContain(WRONG_PASSWORD);
  });

  it("takes ?access_token= for event streams only (EventSource cannot set headers)", async () => {
    const url = `${cp.httpUrl}/api/me?access_token=${encodeURIComponent(session.accessToken)}`;
    expect((await fetch(url, { headers: { accept: "text/event-stream" } })).status).toBe(200);
    expect((await fetch(url)).status).toBe(401);
  });

  it("never writes a password or a token into the log", async () => {
    // Request logging is synchronous with the answer, but give stdout a moment to drain to the harness.
    await new Promise((r) => setTimeout(r, 300));
    const log = cp.logs().join("\n");
    expect(log).toContain('"msg":"user registered"');
    expect(log).toContain('"msg":"login failed"');
    for (const s of secrets) {
      expect(log.includes(s), `log contains a secret (${s.slice(0, 6)}…)`).toBe(false);
    }
    // No fragment of a JWT signature or a refresh-token body either.
    expect(log).not.toMatch(/cpr_[A-Za-z0-9_-]{20}/);
    expect(log).not.toMatch(/cpt_[A-Za-z0-9_-]{20}/);
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
  });
});
