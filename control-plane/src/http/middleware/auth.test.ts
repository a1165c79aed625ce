import { createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorBody, MeResponse } from "@cloudphone/shared-protocol";
import type { Config } from "../../config.js";
import type { Db } from "../../store/db.js";
import { tempDb, testAppDeps } from "../../testing/fixtures.js";
import { accessTokenFor, insertTestUser, TEST_JWT_SECRET, testUser } from "../../users/testing.js";
import { createApp, type App } from "../app.js";
import { isPublicRoute } from "./auth.js";

const ADMIN = "admin-token-for-tests-0123456789";
let db: Db;
let cleanup: () => void;
let app: App;
let config: Config;

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  const deps = testAppDeps(db, { adminToken: ADMIN, config: { jwtSecret: TEST_JWT_SECRET } });
  config = deps.config;
  app = createApp(deps);
});
afterEach(() => cleanup());

const get = (path: string, headers: Record<string, string> = {}) => app.request(path, { headers });
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const error = async (r: Response) => ErrorBody.parse(await r.json()).error;
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("auth middleware", () => {
  it("lets public routes through and asks for a token everywhere else under /api", async () => {
    expect(isPublicRoute("GET", "/health")).toBe(true);
    expect(isPublicRoute("GET", "/ui/index.html")).toBe(true);
    expect(isPublicRoute("GET", "/api/openapi.json")).toBe(true);
    expect(isPublicRoute("POST", "/api/auth/login")).toBe(true);
    expect(isPublicRoute("GET", "/api/auth/login")).toBe(false);
    expect(isPublicRoute("POST", "/api/auth/logout")).toBe(false);
    expect((await get("/health")).status).toBe(200);
    // Reaches the route (validation), not the auth check.
    expect((await app.request("/api/auth/register", { method: "POST", body: "{}" })).status).toBe(400);
    expect((await app.request("/api/hosts/enroll", { method: "POST", body: "{}" })).status).toBe(400);
    const r = await get("/api/me");
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toContain("Bearer");
    expect((await error(r)).code).toBe("unauthorized");
    expect((await get("/api/no-such-route")).status).toBe(401);
    expect((await get("/api/me", { authorization: "Basic abc" })).status).toBe(401);
  });

  it("maps the admin token to the bootstrap admin user", async () => {
    const me = MeResponse.parse(await (await get("/api/me", bearer(ADMIN))).json());
    expect(me).toMatchObject({ email: "admin@cloudphone.local", role: "admin", auth: { via: "admin_token", scopes: "all" } });
    expect(me.id).toHaveLength(26);
    const again = MeResponse.parse(await (await get("/api/me", { authorization: `bearer ${ADMIN}` })).json());
    expect(again.id).toBe(me.id);
    expect((db.prepare("SELECT COUNT(*) AS n FROM users").get() as { n: number }).n).toBe(1);
  });

  it("accepts a valid JWT and refuses expired, forged, alg-none and stale-token_version ones precisely", async () => {
    const u = testUser(db, config);
    expect((await get("/api/me", u.headers)).status).toBe(200);

    const expired = accessTokenFor(db, config, u.userId, 60, Date.now() - 120_000);
    const e1 = await get("/api/me", bearer(expired));
    expect(e1.status).toBe(401);
    expect((await error(e1)).code).toBe("token_expired");

    const [h, p] = u.token.split(".") as [string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    const forgedPayload = b64({ ...claims, role: "admin" });
    const forged = `${h}.${forgedPayload}.${createHmac("sha256", "guessed-secret").update(`${h}.${forgedPayload}`).digest("base64url")}`;
    expect((await error(await get("/api/me", bearer(forged)))).code).toBe("invalid_token");

    const none = `${b64({ alg: "none", typ: "JWT" })}.${p}.`;
    const e3 = await error(await get("/api/me", bearer(none)));
    expect(e3).toMatchObject({ code: "invalid_token" });
    expect(e3.message).toContain("algorithm");

    db.prepare("UPDATE users SET token_version = token_version + 1 WHERE id = ?").run(u.userId);
    const e4 = await error(await get("/api/me", u.headers));
    expect(e4.code).toBe("invalid_token");
    expect(e4.message).toContain("revoked");
    expect((await get("/api/me", bearer(accessTokenFor(db, config, u.userId)))).status).toBe(200);

    db.prepare("UPDATE users SET status = 'deleted' WHERE id = ?").run(u.userId);
    expect((await error(await get("/api/me", bearer(accessTokenFor(db, config, u.userId))))).code).toBe("invalid_token");
    expect((await error(await get("/api/me", bearer("not-a-token-at-all")))).code).toBe("invalid_token");
  });

  it("takes ?access_token= only on GET requests for an event stream", async () => {
    const u = testUser(db, config);
    const q = `/api/me?access_token=${encodeURIComponent(u.token)}`;
    expect((await get(q, { accept: "text/event-stream" })).status).toBe(200);
    expect((await get(q)).status).toBe(401);
    expect((await app.request(q, { method: "POST", headers: { accept: "text/event-stream" } })).status).toBe(401);
    // The header wins when both are given.
    expect((await get(q, { accept: "text/event-stream", authorization: "Bearer nope" })).status).toBe(401);
  });

  it("reads the role from the database on every request", async () => {
    const id = insertTestUser(db, { email: "carol@example.com" });
    const token = accessTokenFor(db, config, id);
    expect((await get("/api/admin/users", bearer(token))).status).toBe(403);
    db.prepare("UPDATE users SET role = 'admin' WHERE id = ?").run(id);
    expect((await get("/api/admin/users", bearer(token))).status).toBe(200);
  });
});
