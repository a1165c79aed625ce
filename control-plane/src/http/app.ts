import { Hono } from "hono";
import { RequestId, newId } from "@cloudphone/shared-protocol";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import type { Inbox } from "../inbox/inbox.js";
import type { CommandPublisher } from "../devices/publisher.js";
import type { Bus } from "../mqtt/bus.js";
import { secretMatches, hashSecret } from "../hosts/secrets.js";
import { ApiError, errorBody } from "./errors.js";
import { registerHostRoutes } from "./routes-hosts.js";
import { registerDeviceRoutes } from "./routes-devices.js";
import { registerOpsRoutes } from "./routes-ops.js";

export interface AppDeps {
  db: Db;
  log: Logger;
  adminToken: string;
  inbox: Inbox;
  publisher: CommandPublisher;
  /** The bus once it is up (null while starting or after close). */
  bus: () => Bus | null;
  /** Broker URL handed to agents at enrollment. */
  mqttPublicUrl: () => string;
}

export type AppEnv = { Variables: { requestId: string } };
export type App = Hono<AppEnv>;

export function createApp(deps: AppDeps): App {
  const app = new Hono<AppEnv>();
  const adminHash = hashSecret(deps.adminToken);

  // Request id: accepted from X-Request-ID when valid, generated otherwise; echoed and logged.
  app.use("*", async (c, next) => {
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
    await next();
    c.header("X-Request-ID", requestId);
    deps.log.info(
      { requestId, method: c.req.method, path: c.req.path, status: c.res.status, durationMs: Math.round((performance.now() - started) * 10) / 10 },
      "http request",
    );
  });

  app.use("/api/*", async (c, next) => {
    if (c.req.method === "POST" && c.req.path === "/api/hosts/enroll") return next();
    const header = c.req.header("authorization") ?? "";
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m || !secretMatches(m[1]!, adminHash)) {
      throw new ApiError(401, "unauthorized", "missing or invalid admin token (Authorization: Bearer <token>)");
    }
    await next();
  });

  registerOpsRoutes(app, deps);
  registerHostRoutes(app, deps);
  registerDeviceRoutes(app, deps);

  app.notFound((c) => c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`, c.get("requestId")), 404));
  app.onError((err, c) => {
    const requestId = c.get("requestId");
    if (err instanceof ApiError) {
      c.header("X-Request-ID", requestId);
      if (err.status >= 500) deps.log.error({ requestId, err }, "request failed");
      return c.json(errorBody(err.code, err.message, requestId, err.fields), err.status);
    }
    deps.log.error({ requestId, err }, "unhandled error in request");
    return c.json(errorBody("internal_error", "internal error; see the control plane log for this request id", requestId), 500);
  });
  return app;
}
