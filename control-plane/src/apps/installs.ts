import { newId, type AppInstallAction, type AppInstallRefusal, type AppInstallStatus, type AppInstallView } from "@cloudphone/shared-protocol";
import type { Principal } from "../auth/principal.js";
import type { Db } from "../store/db.js";
import { planAppInstalls, type PlanDevice, type PlannedInstall } from "./fanout.js";

/**
 * `app_installs`: one row per device of an install/uninstall fan-out. The row is `pending` until the device's agent
 * reports its result (`installed` / `uninstalled` / `failed` with `error`), so a request for 50 devices has 50
 * independent outcomes. The command that carries a row to its agent is linked through `command_id`.
 */

interface InstallRow {
  id: string;
  app_id: string;
  device_id: string;
  action: AppInstallAction;
  status: AppInstallStatus;
  error: string | null;
  command_id: string | null;
  request_id: string | null;
  created_at: number;
  updated_at: number;
}

export function installView(r: InstallRow): AppInstallView {
  return {
    id: r.id,
    appId: r.app_id,
    deviceId: r.device_id,
    action: r.action,
    status: r.status,
    error: r.error,
    commandId: r.command_id,
    requestId: r.request_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** The devices among `ids` that exist, with what planning needs. */
export function loadPlanDevices(db: Db, ids: readonly string[]): Map<string, PlanDevice> {
  const rows = db
    .prepare(
      `SELECT d.id, d.owner_id, d.host_id, d.desired, d.deleted_at, h.revoked_at
       FROM devices d JOIN hosts h ON h.id = d.host_id WHERE d.id IN (SELECT value FROM json_each(?))`,
    )
    .all(JSON.stringify(ids)) as { id: string; owner_id: string | null; host_id: string; desired: string; deleted_at: number | null; revoked_at: number | null }[];
  return new Map(
    rows.map((r) => [r.id, { id: r.id, ownerId: r.owner_id, hostId: r.host_id, desired: r.desired, deletedAt: r.deleted_at, hostRevoked: r.revoked_at !== null }]),
  );
}

export function pendingDevices(db: Db, appId: string, ids: readonly string[]): Set<string> {
  const rows = db
    .prepare("SELECT device_id FROM app_installs WHERE app_id = ? AND status = 'pending' AND device_id IN (SELECT value FROM json_each(?))")
    .pluck()
    .all(appId, JSON.stringify(ids)) as string[];
  return new Set(rows);
}

export type RequestInstallsOutcome =
  | { ok: true; installs: (AppInstallView & { hostId: string })[]; refused: AppInstallRefusal[] }
  | { ok: false; code: "app_not_found"; message: string };

/**
 * Plans and records a fan-out in one IMMEDIATE transaction (nested in the caller's, as a savepoint, when there is
 * one: the step that sends commands wraps this and its command inserts in a single transaction).
 */
export function requestInstalls(
  db: Db,
  r: { caller: Principal; appId: string; action: AppInstallAction; deviceIds: readonly string[]; requestId: string | null; now?: number },
): RequestInstallsOutcome {
  const now = r.now ?? Date.now();
  return db
    .transaction((): RequestInstallsOutcome => {
      const app = db.prepare("SELECT id, owner_id, deleted_at FROM apps WHERE id = ?").get(r.appId) as
        | { id: string; owner_id: string; deleted_at: number | null }
        | undefined;
      const plan = planAppInstalls({
        caller: r.caller,
        app: app && { id: app.id, ownerId: app.owner_id, deletedAt: app.deleted_at },
        action: r.action,
        deviceIds: r.deviceIds,
        devices: loadPlanDevices(db, r.deviceIds),
        pending: pendingDevices(db, r.appId, r.deviceIds),
        requestId: r.requestId,
        now,
        newId: () => newId(now),
      });
      if (!plan.ok) return plan;
      insertPlanned(db, plan.installs);
      return {
        ok: true,
        installs: plan.installs.map((p) => ({ ...installView(asRow(p)), hostId: p.hostId })),
        refused: plan.refused,
      };
    })
    .immediate();
}

const asRow = (p: PlannedInstall): InstallRow => ({
  id: p.id,
  app_id: p.appId,
  device_id: p.deviceId,
  action: p.action,
  status: "pending",
  error: null,
  command_id: null,
  request_id: p.requestId,
  created_at: p.createdAt,
  updated_at: p.createdAt,
});

function insertPlanned(db: Db, installs: readonly PlannedInstall[]): void {
  const stmt = db.prepare(
    `INSERT INTO app_installs (id, app_id, device_id, action, status, request_id, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)`,
  );
  for (const p of installs) stmt.run(p.id, p.appId, p.deviceId, p.action, p.requestId, p.createdAt, p.createdAt);
}

/** Links the command that carries this request to its agent. */
export function attachCommand(db: Db, installId: string, commandId: string): boolean {
  return db.prepare("UPDATE app_installs SET command_id = ? WHERE id = ? AND command_id IS NULL").run(commandId, installId).changes === 1;
}

const FINAL: Record<AppInstallAction, readonly AppInstallStatus[]> = { install: ["installed", "failed"], uninstall: ["uninstalled", "failed"] };

export type ResultOutcome = { ok: true; install: AppInstallView } | { ok: false; code: "install_not_found" | "already_final" | "invalid_status"; message: string };

/**
 * Records a device's result. Only a pending row changes (a duplicate or late report is `already_final` and changes
 * nothing), and only to a status that fits its action.
 */
export function recordInstallResult(db: Db, installId: string, status: AppInstallStatus, error: string | null, now = Date.now()): ResultOutcome {
  return db
    .transaction((): ResultOutcome => {
      const row = db.prepare("SELECT * FROM app_installs WHERE id = ?").get(installId) as InstallRow | undefined;
      if (!row) return { ok: false, code: "install_not_found", message: `install request ${installId} does not exist` };
      if (row.status !== "pending") return { ok: false, code: "already_final", message: `install request ${installId} is already ${row.status}` };
      if (!FINAL[row.action].includes(status)) {
        return { ok: false, code: "invalid_status", message: `an ${row.action} request cannot end as ${status}` };
      }
      db.prepare("UPDATE app_installs SET status = ?, error = ?, updated_at = ? WHERE id = ?").run(status, status === "failed" ? error : null, now, installId);
      return { ok: true, install: installView(db.prepare("SELECT * FROM app_installs WHERE id = ?").get(installId) as InstallRow) };
    })
    .immediate();
}

export function listInstalls(db: Db, f: { appId?: string; deviceId?: string }): AppInstallView[] {
  const where: string[] = [];
  const args: string[] = [];
  if (f.appId !== undefined) {
    where.push("app_id = ?");
    args.push(f.appId);
  }
  if (f.deviceId !== undefined) {
    where.push("device_id = ?");
    args.push(f.deviceId);
  }
  const sql = `SELECT * FROM app_installs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, id`;
  return (db.prepare(sql).all(...args) as InstallRow[]).map(installView);
}
