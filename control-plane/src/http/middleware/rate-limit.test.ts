import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorBody } from "@cloudphone/shared-protocol";
import type { Db } from "../../store/db.js";
import { tempDb, testAppDeps } from "../../testing/fixtures.js";
import { TEST_JWT_SECRET, testUser } from "../../users/testing.js";
import { createApp, type App } from "../app.js";
import { createApiToken } from "../../auth/api-tokens.js";

const ADMIN = "admin-token-for-tests-0123456789";
let db: Db;
let cleanup: () => void;
let app: App;
let deps: ReturnType<typeof testAppDeps>;

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  deps = testAppDeps(db, { adminToken: ADMIN, config: { jwtSecret: TEST_JWT_SECRET, rateLimitPerMinute: 5 } });
  app = createApp(deps);
});
afterEach(() => cleanup());

describe("rate limiting", () => {
  it("allows rateLimitPerMinute requests per user, then 429 rate_limited with Retry-After and RateLimit fields", async () => {
    const alice = testUser(db, deps.config);
    const bob = testUser(db, deps.config);
    const api = createApiToken(db, alice.userId, { name: "ci", scopes: ["account:read"] });
    if (!api.ok) throw new Error("token");
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await app.request("/api/me", { headers: alice.headers });
      expect(r.status).toBe(200);
      remaining.push(r.headers.get("ratelimit-remaining"));
      expect(r.headers.get("ratelimit-limit")).toBe("5");
    }
    expect(remaining).toEqual(["4", "3", "2", "1"]);
    // The API token shares the user's budget.
    expect((await app.request("/api/me", { headers: { authorization: `Bearer ${api.token}` } })).status).toBe(200);
    const r = await app.request("/api/me", { headers: alice.headers });
    expect(r.status).toBe(429);
    expect(ErrorBody.parse(await r.json()).error.code).toBe("rate_limited");
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(r.headers.get("ratelimit-remaining")).toBe("0");
    expect(r.headers.get("ratelimit-policy")).toBe("5;w=60");
    expect(r.headers.get("x-request-id")).toBeTruthy();
    // Other users and the operator's admin token are not affected; /health is never limited.
    expect((await app.request("/api/me", { headers: bob.headers })).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await app.request("/api/me", { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await app.request("/health")).status).toBe(200);
  });

  it("limits unauthenticated requests per client address", async () => {
    for (let i = 0; i < 5; i++) expect((await app.request("/api/hosts/enroll", { method: "POST", body: "{}" })).status).toBe(400);
    expect((await app.request("/api/hosts/enroll", { method: "POST", body: "{}" })).status).toBe(429);
  });
});
