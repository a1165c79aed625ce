import type { MiddlewareHandler } from "hono";
import { hashSecret, secretMatches } from "../../hosts/secrets.js";
import type { AppDeps, AppEnv } from "../app.js";
import { ApiError } from "../errors.js";

// STUB (owned by the users/auth helper): still the spine's admin-token check; to be replaced by JWT / API token auth.
export function authenticate(deps: AppDeps): MiddlewareHandler<AppEnv> {
  const adminHash = hashSecret(deps.adminToken);
  return async (c, next) => {
    if (!c.req.path.startsWith("/api/")) return next();
    if (c.req.method === "POST" && c.req.path === "/api/hosts/enroll") return next();
    const m = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
    if (!m || !secretMatches(m[1]!, adminHash)) {
      throw new ApiError(401, "unauthorized", "missing or invalid admin token (Authorization: Bearer <token>)");
    }
    c.set("principal", { userId: "bootstrap-admin", role: "admin", scopes: "all", via: "admin_token" });
    await next();
  };
}
