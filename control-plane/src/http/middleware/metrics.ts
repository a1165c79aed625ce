import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Metrics } from "../../metrics/metrics.js";
import type { AppEnv } from "../app.js";

/**
 * The route pattern that handled the request (`/api/devices/:id`), never the raw path, so that the label's
 * cardinality is bounded by the number of routes. Middleware registered with `app.use` is ALL-method; the last
 * method-specific match is the handler. A path no route matches (404) is `unmatched`.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!;
    if (r.method !== "ALL") return r.path;
  }
  return "unmatched";
}

/** Times every request (until its response headers) into the HTTP duration histogram. Registered first. */
export function httpMetrics(metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      // Errors were already turned into responses by app.onError, so c.res.status is what the client gets.
      metrics.observeHttp(c.req.method, routeLabel(c), c.res.status, (performance.now() - started) / 1000);
    }
  };
}
