import type { App, AppDeps } from "../http/app.js";

/**
 * `GET /metrics` (Prometheus text format). Public like /health (the auth middleware leaves it open): it exposes
 * aggregate counts only, no user data; keep the HTTP port private or block /metrics at the reverse proxy.
 */
export function registerMetricsRoute(app: App, deps: AppDeps): void {
  app.get("/metrics", async (c) => {
    const body = await deps.metrics.render();
    return c.body(body, 200, { "Content-Type": deps.metrics.contentType, "Cache-Control": "no-store" });
  });
}
