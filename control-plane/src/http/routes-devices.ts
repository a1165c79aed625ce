import { CreateDeviceRequest } from "@cloudphone/shared-protocol";
import type { Context } from "hono";
import { z } from "zod";
import { applyDeviceAction, createDevice, getDevice, listDevices } from "../devices/registry.js";
import type { LifecycleAction } from "../devices/commands.js";
import { listEvents } from "./events-query.js";
import type { App, AppDeps, AppEnv } from "./app.js";
import { ApiError } from "./errors.js";
import { readJson, validate } from "./validate.js";

const ListQuery = z.object({
  includeDeleted: z.enum(["true", "false"]).default("false"),
  hostId: z.string().min(1).max(64).optional(),
});
const LimitQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

const STATUS_OF: Record<string, 404 | 409> = {
  host_not_found: 404,
  device_not_found: 404,
  no_capacity: 409,
  no_host_online: 409,
  host_unavailable: 409,
  device_deleted: 409,
  host_revoked: 409,
};

export function registerDeviceRoutes(app: App, deps: AppDeps): void {
  const { db, log, publisher } = deps;

  const publishSoon = (commandId: string, requestId: string) => {
    publisher.publishNow(commandId).catch((e: unknown) => log.warn({ err: e, commandId, requestId }, "immediate command publish failed"));
  };

  app.post("/api/devices", async (c) => {
    const body = await readJson(c, CreateDeviceRequest);
    const requestId = c.get("requestId");
    const r = createDevice(db, body, requestId);
    if (!r.ok) throw new ApiError(STATUS_OF[r.code] ?? 409, r.code, r.message);
    log.info({ requestId, deviceId: r.device.id, hostId: r.device.hostId, commandId: r.commandId }, "device created");
    publishSoon(r.commandId, requestId);
    return c.json({ ...r.device, commandId: r.commandId }, 201);
  });

  app.get("/api/devices", (c) => {
    const q = validate(ListQuery, c.req.query(), "query");
    return c.json({ devices: listDevices(db, { includeDeleted: q.includeDeleted === "true", ...(q.hostId ? { hostId: q.hostId } : {}) }) });
  });

  app.get("/api/devices/:id", (c) => {
    const d = getDevice(db, c.req.param("id"));
    if (!d) throw new ApiError(404, "device_not_found", `device ${c.req.param("id")} does not exist`);
    return c.json(d);
  });

  app.get("/api/devices/:id/events", (c) => {
    const id = c.req.param("id");
    const q = validate(LimitQuery, c.req.query(), "query");
    const d = getDevice(db, id);
    if (!d) throw new ApiError(404, "device_not_found", `device ${id} does not exist`);
    return c.json({ events: listEvents(db, { deviceId: id, limit: q.limit }) });
  });

  const action = (name: LifecycleAction) => (c: Context<AppEnv, "/api/devices/:id">) => {
    const id = c.req.param("id");
    const requestId = c.get("requestId");
    const r = applyDeviceAction(db, id, name, requestId);
    if (!r.ok) throw new ApiError(STATUS_OF[r.code] ?? 409, r.code, r.message);
    log.info({ requestId, deviceId: id, action: name, generation: r.device.generation, commandId: r.commandId }, "device action accepted");
    publishSoon(r.commandId, requestId);
    return c.json({ device: r.device, commandId: r.commandId }, 202);
  };

  app.post("/api/devices/:id/start", action("start"));
  app.post("/api/devices/:id/stop", action("stop"));
  app.post("/api/devices/:id/restart", action("restart"));
  app.delete("/api/devices/:id", action("delete"));
}
