import type { Context, MiddlewareHandler } from "hono";
import { Authenticator } from "../../auth/authenticator.js";
import type { AppDeps, AppEnv } from "../app.js";
import { ApiError } from "../errors.js";
import { isHostBasicRequest } from "../../apps/host-auth.js";

/** Routes under /api/ that take no bearer token (everything outside /api/ is public: /health, /ready, /metrics, /ui/). */
const PUBLIC: ReadonlySet<string> = new Set([
  "GET /api/openapi.json",
  "POST /api/hosts/enroll",
  "POST /api/auth/register",
  "POST /api/auth/login",
  "POST /api/auth/refresh",
]);

export function isPublicRoute(method: string, path: string): boolean {
  return !path.startsWith("/api/") || PUBLIC.has(`${method} ${path}`) || (method === "HEAD" && PUBLIC.has(`GET ${path}`));
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/**
 * The bearer credential: the Authorization header, or `?access_token=` on a GET that asks for an event stream
 * (EventSource cannot set headers). The query form is refused anywhere else, so tokens do not end up in URLs
 * of ordinary requests (and proxy logs).
 */
function credential(c: Context): string | null {
  const h = c.req.header("authorization");
  if (h !== undefined) return BEARER.exec(h)?.[1] ?? null;
  if (c.req.method === "GET" && (c.req.header("accept") ?? "").includes("text/event-stream")) return c.req.query("access_token") ?? null;
  return null;
}

/**
 * Decides the caller once per request and sets `principal`: a JWT access token, an API token (`cpt_…`) or the
 * spine's admin token (acting as the bootstrap admin user). Missing → 401 `unauthorized`; bad → 401
 * `invalid_token` / `token_expired`. Runs before routing, so an unknown /api path without a token is 401 too.
 */
export function authenticate(deps: AppDeps): MiddlewareHandler<AppEnv> {
  const auth = new Authenticator(deps.db, deps.config, deps.adminToken, deps.log);
  return async (c, next) => {
    if (isPublicRoute(c.req.method, c.req.path)) return next();
    // An agent fetching an APK with its host credential: the route verifies it (apps/host-auth.ts).
    if (isHostBasicRequest(c.req.method, c.req.path, c.req.header("authorization"))) return next();
    const token = credential(c);
    if (token === null) {
      c.header("WWW-Authenticate", 'Bearer realm="cloudphone"');
      throw new ApiError(401, "unauthorized", "authentication required (Authorization: Bearer <token>)");
    }
    const r = auth.authenticate(token);
    if (!r.ok) {
      c.header("WWW-Authenticate", `Bearer realm="cloudphone", error="invalid_token"`);
      throw new ApiError(401, r.code, r.message);
    }
    c.set("principal", r.principal);
    await next();
  };
}
