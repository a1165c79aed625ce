import type { MiddlewareHandler } from "hono";
import type { AppDeps, AppEnv } from "../app.js";

// STUB (owned by the users/auth helper): per-user rate limiting.
export function rateLimit(_deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (_c, next) => next();
}
