import { AppInstallRequest, PreinstallListRequest, type AppInstallAction, type AppInstallView } from "@cloudphone/shared-protocol";
import type { Context } from "hono";
import { canAccess, requireAdmin, requireScope, type Principal } from "../auth/principal.js";
import { dispatchInstalls } from "../apps/dispatch.js";
import { installView } from "../apps/installs.js";
import { getPreinstallList, setPreinstallList } from "../apps/preinstall.js";
import { AppStore } from "../apps/store.js";
import { getDevice } from "../devices/registry.js";
import { getPlan } from "../plans/store.js";
import type { Db } from "../store/db.js";
import type { App, AppDeps, AppEnv } from "./app.js";
import { ApiError } from "./errors.js";
import { readJson } from "./validate.js";

/**
 * Installing apps on devices (A2): fan-out to a list of devices (one `app_installs` row and one durable command per
 * device; refusals per device), the installs of an app or of a device, and the preinstall lists.
 */

const appNotFound = (id: string) => new ApiError(404, "app_not_found", `app ${id} does not exist`);

type InstallRowSql = Parameters<typeof installView>[0];

function installsOf(db: Db, p: Principal, f: { appId: string } | { deviceId: string }): AppInstallView[] {
  // Users see installs on their own devices only (an admin may have installed their app elsewhere, and vice versa).
  const own = p.role === "admin" ? "" : " AND d.owner_id = ?";
  const [col, val] = "appId" in f ? ["i.app_id", f.appId] : ["i.device_id", f.deviceId];
  const rows = db
    .prepare(`SELECT i.* FROM app_installs i JOIN devices d ON d.id = i.device_id WHERE ${col} = ?${own} ORDER BY i.created_at, i.id`)
    .all(...(p.role === "admin" ? [val] : [val, p.userId])) as InstallRowSql[];
  return rows.map(installView);
}

export function registerAppInstallRoutes(app: App, deps: AppDeps): void {
  const { db, log, publisher } = deps;
  const store = new AppStore(db);

  /** Each id must name a live app the caller may use; a 400 names the offending entry. */
  const checkAppIds = (p: Principal, ids: readonly string[]) => {
    const fields = ids.flatMap((id, i) => {
      const row = store.get(id);
      return !row || row.deleted_at !== null || !canAccess(p, row.owner_id) ? [{ path: `appIds.${i}`, message: `app ${id} does not exist` }] : [];
    });
    if (fields.length > 0) throw new ApiError(400, "invalid_request", `invalid request body: ${fields.map((f) => `${f.path}: ${f.message}`).join("; ")}`, fields);
  };

  const fanOut = (action: AppInstallAction) => async (c: Context<AppEnv>) => {
    const p = requireScope(c, "devices:write");
    const appId = c.req.param("id") ?? "";
    const body = await readJson(c, AppInstallRequest);
    const requestId = c.get("requestId");
    const r = dispatchInstalls(db, { caller: p, appId, action, deviceIds: body.deviceIds, requestId, traceId: requestId });
    if (!r.ok) throw appNotFound(appId);
    log.info({ requestId, appId, action, devices: r.installs.length, refused: r.refused.length }, "app fan-out accepted");
    for (const id of r.commandIds) {
      publisher.publishNow(id).catch((e: unknown) => log.warn({ err: e, commandId: id, requestId }, "immediate command publish failed"));
    }
    const installs = r.installs.map(({ hostId: _host, ...view }) => view);
    return c.json({ installs, refused: r.refused }, 202);
  };

  app.post("/api/apps/:id/install", fanOut("install"));
  app.post("/api/apps/:id/uninstall", fanOut("uninstall"));

  app.get("/api/apps/:id/installs", (c) => {
    const p = requireScope(c, "devices:read");
    const appId = c.req.param("id");
    const row = store.get(appId);
    // Deleted apps keep their history; another user's app answers like a missing one.
    if (!row || !canAccess(p, row.owner_id)) throw appNotFound(appId);
    return c.json({ installs: installsOf(db, p, { appId }) });
  });

  app.get("/api/devices/:id/apps", (c) => {
    const p = requireScope(c, "devices:read");
    const deviceId = c.req.param("id");
    const d = getDevice(db, deviceId);
    if (!d || !canAccess(p, d.ownerId)) throw new ApiError(404, "device_not_found", `device ${deviceId} does not exist`);
    return c.json({ installs: installsOf(db, p, { deviceId }) });
  });

  app.get("/api/me/preinstall", (c) => {
    const p = requireScope(c, "account:read");
    return c.json(getPreinstallList(db, "user", p.userId));
  });

  app.put("/api/me/preinstall", async (c) => {
    const p = requireScope(c, "account:write");
    const body = await readJson(c, PreinstallListRequest);
    checkAppIds(p, body.appIds);
    return c.json(setPreinstallList(db, "user", p.userId, body.appIds));
  });

  const plan = (id: string) => {
    if (!getPlan(db, id)) throw new ApiError(404, "plan_not_found", `plan ${id} does not exist`);
  };

  app.get("/api/admin/plans/:id/preinstall", (c) => {
    requireAdmin(c);
    const id = c.req.param("id");
    plan(id);
    return c.json(getPreinstallList(db, "plan", id));
  });

  app.put("/api/admin/plans/:id/preinstall", async (c) => {
    const p = requireAdmin(c);
    const id = c.req.param("id");
    const body = await readJson(c, PreinstallListRequest);
    plan(id);
    checkAppIds(p, body.appIds);
    log.info({ requestId: c.get("requestId"), planId: id, apps: body.appIds.length }, "plan preinstall list set");
    return c.json(setPreinstallList(db, "plan", id, body.appIds));
  });
}
