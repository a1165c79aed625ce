import { serve, type ServerType } from "@hono/node-server";
import { DeviceId } from "@cloudphone/shared-protocol";
import { Hono } from "hono";
import type { AddressInfo } from "node:net";
import { stateMessageBody, observe, type ObserveContext } from "../devices/observe.js";
import type { Logger } from "../log.js";
import type { Outbox } from "../outbox/outbox.js";

export interface LocalApiDeps {
  ctx: ObserveContext;
  outbox: Outbox;
  mqttConnected: () => boolean;
  reconcile: (deviceId: string) => void;
  kickPump: () => void;
  log: Logger;
  /** Routes of other parts (e.g. the adb layer's exec), registered before the generic `/v1/devices/:id/:action`. */
  extraRoutes?: (app: Hono) => void;
}

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** Loopback-only operator API; no authentication because it is bound to 127.0.0.1/::1 (validated in config). */
export function buildLocalApi(d: LocalApiDeps): Hono {
  const app = new Hono();
  const { ctx } = d;
  d.extraRoutes?.(app);

  app.get("/health", (c) =>
    c.json({ status: "ok", hostId: ctx.hostId, mqtt: { connected: d.mqttConnected() }, outbox: d.outbox.stats() }),
  );

  app.get("/v1/devices", (c) =>
    c.json({
      devices: ctx.repo.all().map((r) => ({
        ...stateMessageBody(ctx.hostId, r),
        spec: r.spec,
        ownerId: r.ownerId,
        recoveryAttempts: r.recoveryAttempts,
        restartRequested: r.restartRequested,
      })),
    }),
  );

  app.post("/v1/devices/:id/:action", (c) => {
    const id = c.req.param("id");
    const action = c.req.param("action");
    if (action !== "start" && action !== "stop" && action !== "restart") {
      return c.json(errorBody("not_found", `unknown action ${JSON.stringify(action)}; use start, stop or restart`), 404);
    }
    if (!DeviceId.safeParse(id).success) return c.json(errorBody("invalid_device_id", "id: must be 1-64 of [A-Za-z0-9_.-]"), 400);
    const rec = ctx.repo.get(id);
    if (!rec || rec.desired === "deleted") return c.json(errorBody("device_not_found", `device ${id} is not on this host`), 404);
    const now = Date.now();
    // A local operator action keeps the control plane's generation: it only sets desired state and reconciles.
    ctx.db.transaction(() => {
      ctx.repo.setDesired(id, action === "stop" ? "stopped" : "running", null, now);
      ctx.repo.setRestartRequested(id, action === "restart", now);
      if (action !== "stop" && rec.state === "failed") observe(ctx, id, { state: "stopped", event: null, recoveryAttempts: 0 });
    })();
    d.log.info({ deviceId: id, action }, "local operator action");
    d.reconcile(id);
    d.kickPump();
    return c.json({ accepted: true, deviceId: id, action }, 202);
  });

  app.get("/v1/outbox/stats", (c) => c.json(d.outbox.stats()));

  app.post("/v1/outbox/requeue-failed", (c) => {
    const requeued = d.outbox.requeueFailed();
    d.kickPump();
    return c.json({ requeued });
  });

  app.notFound((c) => c.json(errorBody("not_found", `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => {
    d.log.error({ err: err.message }, "local api error");
    return c.json(errorBody("internal", "internal error"), 500);
  });
  return app;
}

export async function startLocalApi(app: Hono, host: string, port: number): Promise<{ server: ServerType; port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => {
      resolve({
        server,
        port: info.port,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
    server.once("error", reject);
  });
}
