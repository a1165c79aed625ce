import { RequestId, newId } from "@cloudphone/shared-protocol";
import type { MiddlewareHandler } from "hono";
import type { AppDeps, AppEnv } from "../app.js";
import { ApiError } from "../errors.js";
import { runWithLogContext } from "../../log.js";

/**
 * Request id: accepted from X-Request-ID when valid, generated otherwise; echoed, and attached to every log line
 * written while the request is handled (AsyncLocalStorage, see log.ts), not only to the access line below.
 */
export function requestContext(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const given = c.req.header("x-request-id");
    const requestId = given === undefined ? newId() : given;
    c.set("requestId", requestId);
    if (given !== undefined && !RequestId.safeParse(given).success) {
      c.set("requestId", newId());
      c.header("X-Request-ID", c.get("requestId"));
      throw new ApiError(400, "invalid_request", "header X-Request-ID: must be 1-128 printable ASCII characters without spaces", [
        { path: "headers.x-request-id", message: "must be 1-128 printable ASCII characters without spaces" },
      ]);
    }
    c.header("X-Request-ID", requestId);
    await runWithLogContext({ requestId }, () => next());
    c.header("X-Request-ID", requestId);
    deps.log.info(
      { requestId, method: c.req.method, path: c.req.path, status: c.res.status, durationMs: Math.round((performance.now() - started) * 10) / 10 },
      "http request",
    );
  };
}
