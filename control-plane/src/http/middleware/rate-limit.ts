import type { Context, MiddlewareHandler } from "hono";
import { clientAddress } from "../../auth/client-address.js";
import { RateLimiter, type RateDecision } from "../../auth/rate-limiter.js";
import type { AppDeps, AppEnv } from "../app.js";
import { errorBody } from "../errors.js";

export const WINDOW_MS = 60_000;

/** IETF draft RateLimit header fields (plus the policy), and Retry-After when refused. */
export function setRateLimitHeaders(c: Context, d: RateDecision): void {
  c.header("RateLimit-Limit", String(d.limit));
  c.header("RateLimit-Remaining", String(d.remaining));
  c.header("RateLimit-Reset", String(d.allowed ? d.resetSeconds : d.retryAfterSeconds));
  c.header("RateLimit-Policy", `${d.limit};w=${WINDOW_MS / 1000}`);
  if (!d.allowed) c.header("Retry-After", String(d.retryAfterSeconds));
}

export function rateLimitedResponse(c: Context<AppEnv>, d: RateDecision, what: string) {
  setRateLimitHeaders(c, d);
  return c.json(errorBody("rate_limited", `${what}: more than ${d.limit} requests per minute; retry in ${d.retryAfterSeconds} s`, c.get("requestId")), 429);
}

/**
 * `rateLimitPerMinute` requests per sliding minute under /api/, per authenticated user (JWT or API token: one
 * budget per user), else per client address. In memory, so per control-plane process. The spine's admin token is
 * exempt (operator automation); /health, /ready and /metrics are outside /api/ and never limited.
 */
export function rateLimit(deps: AppDeps): MiddlewareHandler<AppEnv> {
  const limiter = new RateLimiter({ limit: deps.config.rateLimitPerMinute, windowMs: WINDOW_MS });
  return async (c, next) => {
    if (!c.req.path.startsWith("/api/")) return next();
    const p = c.get("principal");
    if (p?.via === "admin_token") return next();
    const d = limiter.hit(p ? `u:${p.userId}` : `a:${clientAddress(c)}`, Date.now());
    if (!d.allowed) {
      deps.log.warn({ requestId: c.get("requestId"), userId: p?.userId, path: c.req.path }, "rate limited");
      return rateLimitedResponse(c, d, p ? "per-user rate limit" : "per-address rate limit");
    }
    // Before the handler: prepared headers are merged into the response it builds (JSON, stream or error) at no
    // cost, whereas touching `c.res.headers` afterwards makes @hono/node-server build a Headers object per
    // response. A stricter route-level limit (login, register) that refuses sets its own values over these.
    setRateLimitHeaders(c, d);
    await next();
  };
}
