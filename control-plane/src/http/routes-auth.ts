import { LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest } from "@cloudphone/shared-protocol";
import type { Context } from "hono";
import { clientAddress } from "../auth/client-address.js";
import { principalOf } from "../auth/principal.js";
import { RateLimiter } from "../auth/rate-limiter.js";
import { login, register, type Refusal } from "../users/accounts.js";
import { endSessions, refreshSession } from "../users/sessions.js";
import type { App, AppDeps, AppEnv } from "./app.js";
import { ApiError } from "./errors.js";
import { rateLimitedResponse, WINDOW_MS } from "./middleware/rate-limit.js";
import { readJson } from "./validate.js";

/** Per-address budget for register and login (each): a sixtieth of the general per-minute limit, 20 by default. */
export function credentialRateLimit(rateLimitPerMinute: number): number {
  return Math.max(1, Math.floor(rateLimitPerMinute / 60));
}

/** Maps an account refusal to its HTTP error (the lockout carries Retry-After). */
export function refusalError(c: Context, r: Refusal): ApiError {
  switch (r.code) {
    case "invalid_credentials":
      return new ApiError(401, "invalid_credentials", "email or password is wrong");
    case "account_locked":
      c.header("Retry-After", String(r.retryAfterSeconds));
      return new ApiError(429, "account_locked", `too many failed logins; the account is locked for ${r.retryAfterSeconds} s`);
    case "email_taken":
      return new ApiError(409, "email_taken", "an account with this email already exists");
    case "same_password":
      return new ApiError(400, "invalid_request", "invalid request body: newPassword: must differ from the current password", [
        { path: "newPassword", message: "must differ from the current password" },
      ]);
    case "user_not_found":
      return new ApiError(401, "invalid_token", "the token's user no longer exists");
  }
}

export function registerAuthRoutes(app: App, deps: AppDeps): void {
  const { db, config, log } = deps;
  const ctx = { db, config, log };
  const perAddress = new RateLimiter({ limit: credentialRateLimit(config.rateLimitPerMinute), windowMs: WINDOW_MS });
  const limited = (c: Context<AppEnv>, route: string) => {
    const d = perAddress.hit(`${route}:${clientAddress(c)}`, Date.now());
    if (d.allowed) return null;
    log.warn({ requestId: c.get("requestId"), route }, "credential endpoint rate limited for this address");
    return rateLimitedResponse(c, d, `${route} attempts from this address`);
  };

  app.post("/api/auth/register", async (c) => {
    const refused = limited(c, "register");
    if (refused) return refused;
    const body = await readJson(c, RegisterRequest);
    const requestId = c.get("requestId");
    const r = await register(ctx, body, requestId);
    if (!r.ok) throw refusalError(c, r);
    log.info({ requestId, userId: r.session.user.id }, "user registered");
    return c.json(r.session, 201);
  });

  app.post("/api/auth/login", async (c) => {
    const refused = limited(c, "login");
    if (refused) return refused;
    const body = await readJson(c, LoginRequest);
    const requestId = c.get("requestId");
    const r = await login(ctx, body, requestId);
    if (!r.ok) throw refusalError(c, r);
    log.info({ requestId, userId: r.session.user.id }, "user logged in");
    return c.json(r.session);
  });

  app.post("/api/auth/refresh", async (c) => {
    const body = await readJson(c, RefreshRequest);
    const requestId = c.get("requestId");
    const r = refreshSession(ctx, body.refreshToken);
    if (!r.ok) {
      if (r.reason === "reused") log.warn({ requestId, userId: r.userId }, "revoked refresh token presented again; all refresh tokens of the user revoked");
      const why = { unknown: "is unknown", expired: "has expired", reused: "was already used or revoked", user_deleted: "belongs to a deleted user" }[r.reason];
      throw new ApiError(401, "invalid_refresh_token", `refresh token ${why}; sign in again`);
    }
    return c.json(r.session);
  });

  app.post("/api/auth/logout", async (c) => {
    const p = principalOf(c);
    const body = await readJson(c, LogoutRequest);
    const r = endSessions(ctx, p.userId, body);
    log.info({ requestId: c.get("requestId"), userId: p.userId, all: body.all, revoked: r.revoked }, "signed out");
    return c.body(null, 204);
  });
}
