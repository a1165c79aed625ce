import { CreateDeviceRequest } from "@cloudphone/shared-protocol";
import type { Context } from "hono";
import { z } from "zod";
import { applyDeviceAction, createDevice, getDevice, listDevicesJson, type DeviceViewEx } from "../devices/registry.js";
import type { LifecycleAction } from "../devices/commands.js";
import { canAccess, requireAdmin, requireScope, type Principal } from "../auth/principal.js";
import { checkStartFunds, clearSuspension } from "../billing/funds.js";
import { quotaDefaultsFrom } from "../quota/defaults.js";
import { listEvents } from "./events-query.js";
import type { App, AppDeps, AppEnv } from "./app.js";
import { ApiError } from "./errors.js";
import { readJson, validate } from "./validate.js";

const ListQuery = z.object({
  includeDeleted: z.enum(["true", "false"]).default("false"),
  hostId: z.string().min(1).max(64).optional(),
  /** Admins only; a user always sees just their own devices. */
  ownerId: z.string().min(1).max(64).optional(),
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
  quota_exceeded: 409,
};

/** Another user's device answers exactly like a missing one (no existence oracle). */
const notFound = (id: string) => new ApiError(404, "device_not_found", `device ${id} does not exist`);

function visibleDevice(deps: AppDeps, p: Principal, id: string): DeviceViewEx {
  const d = getDevice(deps.db, id);
  if (!d || !canAccess(p, d.ownerId)) throw notFound(id);
  return d;
}

export function registerDeviceRoutes(app: App, deps: AppDeps): void {
  const { db, log, publisher, config } = deps;
  const quotaDefaults = quotaDefaultsFrom(config);

  const publishSoon = (commandId: string, requestId: string) => {
    publisher.publishNow(commandId).catch((e: unknown) => log.warn({ err: e, commandId, requestId }, "immediate command publish failed"));
  };

  // Fleet operation: users obtain devices by buying a plan (POST /api/orders). With an owner, their quota applies.
  app.post("/api/devices", async (c) => {
    requireAdmin(c);
    const body = await readJson(c, CreateDeviceRequest);
    const requestId = c.get("requestId");
    const r = createDevice(db, body, requestId, Date.now(), body.ownerId ? { quotaDefaults } : {});
    if (!r.ok) throw new ApiError(STATUS_OF[r.code] ?? 409, r.code, r.message);
    log.info({ requestId, deviceId: r.device.id, hostId: r.device.hostId, commandId: r.commandId }, "device created");
    publishSoon(r.commandId, requestId);
    return c.json({ ...r.device, commandId: r.commandId }, 201);
  });

  app.get("/api/devices", (c) => {
    const p = requireScope(c, "devices:read");
    const q = validate(ListQuery, c.req.query(), "query");
    const ownerId = p.role === "admin" ? q.ownerId : p.userId;
    const json = listDevicesJson(db, {
      includeDeleted: q.includeDeleted === "true",
      ...(q.hostId ? { hostId: q.hostId } : {}),
      ...(ownerId !== undefined ? { ownerId } : {}),
    });
    return c.body(json, 200, { "content-type": "application/json" });
  });

  app.get("/api/devices/:id", (c) => {
    const p = requireScope(c, "devices:read");
    return c.json(visibleDevice(deps, p, c.req.param("id")));
  });

  app.get("/api/devices/:id/events", (c) => {
    const p = requireScope(c, "devices:read");
    const id = c.req.param("id");
    const q = validate(LimitQuery, c.req.query(), "query");
    visibleDevice(deps, p, id);
    return c.json({ events: listEvents(db, { deviceId: id, limit: q.limit }) });
  });

  const action = (name: LifecycleAction) => (c: Context<AppEnv, "/api/devices/:id">) => {
    const p = requireScope(c, "devices:write");
    const id = c.req.param("id");
    visibleDevice(deps, p, id);
    const requestId = c.get("requestId");
    const now = Date.now();
    // Funds check, action and suspension mark in one IMMEDIATE transaction (applyDeviceAction nests as a savepoint).
    const r = db
      .transaction(() => {
        if (name === "start" || name === "restart") {
          const gate = checkStartFunds(db, id);
          if (!gate.ok) {
            throw new ApiError(402, "insufficient_funds", `the owner's balance is ${gate.balanceMinor}; recharge before starting this device`);
          }
        }
        const out = applyDeviceAction(db, id, name, requestId, now);
        // The owner acted on the device themselves: the billing service must not start it again on its own.
        if (out.ok) clearSuspension(db, id);
        return out;
      })
      .immediate();
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
