import { Hono } from "hono";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import type { Inbox } from "../inbox/inbox.js";
import type { CommandPublisher } from "../devices/publisher.js";
import type { Bus } from "../mqtt/bus.js";
import type { Config } from "../config.js";
import type { Principal } from "../auth/principal.js";
import type { Ledger } from "../billing/ledger.js";
import type { Notifier } from "../notify/notifier.js";
import type { Metrics } from "../metrics/metrics.js";
import { ApiError, errorBody } from "./errors.js";
import { registerHostRoutes } from "./routes-hosts.js";
import { registerDeviceRoutes } from "./routes-devices.js";
import { registerOpsRoutes } from "./routes-ops.js";
import { registerAuthRoutes } from "./routes-auth.js";
import { registerUserRoutes } from "./routes-users.js";
import { registerBillingRoutes } from "./routes-billing.js";
import { registerAdminRoutes } from "./routes-admin.js";
import { registerOrderRoutes } from "./routes-orders.js";
import { registerAppRoutes } from "./routes-apps.js";
import { registerRecordingRoutes } from "./routes-recordings.js";
import { registerAppInstallRoutes } from "./routes-app-installs.js";
import { registerNotificationRoutes } from "./routes-notify.js";
import { registerDeviceOpsRoutes } from "./routes-device-ops.js";
import { DeviceWsRoutes } from "./routes-device-ws.js";
import { WhepRoutes } from "./routes-whep.js";
import { registerTunnelRoutes } from "../rpc/routes-tunnels.js";
import type { RpcCaller } from "../rpc/types.js";
import type { Tunnels } from "../rpc/tunnels.js";
import type { UpgradeWebSocket } from "../rpc/websocket.js";
import { registerOpenApiRoutes } from "./routes-openapi.js";
import { registerConsoleRoutes } from "./routes-console.js";
import { requestContext } from "./middleware/request-context.js";
import { authenticate } from "./middleware/auth.js";
import { rateLimit } from "./middleware/rate-limit.js";
import { httpMetrics } from "./middleware/metrics.js";
import { registerMetricsRoute } from "../metrics/route.js";

export interface AppDeps {
  db: Db;
  log: Logger;
  config: Config;
  adminToken: string;
  inbox: Inbox;
  publisher: CommandPublisher;
  ledger: Ledger;
  notifier: Notifier;
  metrics: Metrics;
  /** The bus once it is up (null while starting or after close). */
  bus: () => Bus | null;
  /** Broker URL handed to agents at enrollment. */
  mqttPublicUrl: () => string;
  /** Device RPC and data tunnels (rpc/); device operations answer 503 without them (unit tests that skip them). */
  rpc?: RpcCaller;
  tunnels?: Tunnels;
  /** WebSocket upgrades (rpc/websocket.ts), injected into the node server by main.ts. */
  upgradeWebSocket?: UpgradeWebSocket;
}

export type AppEnv = { Variables: { requestId: string; principal?: Principal } };
export type App = Hono<AppEnv>;

export function createApp(deps: AppDeps): App {
  const app = new Hono<AppEnv>();

  app.use("*", httpMetrics(deps.metrics));
  app.use("*", requestContext(deps));
  // Agents' data tunnels authenticate with host Basic + tunnel token in the route, so they come before bearer auth.
  registerTunnelRoutes(app, deps);
  // Browser WebSockets (shell, logcat) authenticated by a one-time ticket in the query, not a bearer header.
  const deviceWs = new DeviceWsRoutes(deps);
  deviceWs.registerTicketGate(app);
  // WHEP offers (live screen) may carry a one-time `stream` ticket instead of a bearer header.
  const whep = new WhepRoutes(deps, deviceWs.tickets);
  whep.registerTicketGate(app);
  app.use("*", authenticate(deps));
  app.use("*", rateLimit(deps));

  registerOpsRoutes(app, deps);
  registerMetricsRoute(app, deps);
  registerHostRoutes(app, deps);
  registerDeviceRoutes(app, deps);
  registerDeviceOpsRoutes(app, deps);
  deviceWs.registerRoutes(app);
  whep.registerRoutes(app);
  registerAuthRoutes(app, deps);
  registerUserRoutes(app, deps);
  registerBillingRoutes(app, deps);
  registerAdminRoutes(app, deps);
  registerOrderRoutes(app, deps);
  registerAppRoutes(app, deps);
  registerRecordingRoutes(app, deps);
  registerAppInstallRoutes(app, deps);
  registerNotificationRoutes(app, deps);
  registerOpenApiRoutes(app, deps);
  registerConsoleRoutes(app);

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
