import type { PreinstallListView } from "@cloudphone/shared-protocol";
import type { Principal } from "../auth/principal.js";
import type { Db } from "../store/db.js";
import { stmt } from "../store/statements.js";
import { dispatchInstalls } from "./dispatch.js";

/**
 * Preinstall lists (A2): a plan's list (set by admins) and a user's own list. When a device first reports
 * `running`, the inbox effect calls `preinstallOnFirstRun` in the same transaction as the state change: the
 * device's `preinstall_at` mark makes it happen once, and the installs carry request id `preinstall:<deviceId>`.
 */

export type PreinstallScope = "plan" | "user";

/** Acts for the platform: a plan's apps belong to the admin who uploaded them, not to the device's owner. */
const PLATFORM: Principal = { userId: "system:preinstall", role: "admin", scopes: "all", via: "admin_token" };

export function getPreinstallList(db: Db, scope: PreinstallScope, ownerId: string): PreinstallListView {
  const r = stmt(db, "SELECT app_ids, updated_at FROM preinstall_lists WHERE scope = ? AND owner_id = ?").get(scope, ownerId) as
    | { app_ids: string; updated_at: number }
    | undefined;
  return r ? { appIds: JSON.parse(r.app_ids) as string[], updatedAt: r.updated_at } : { appIds: [], updatedAt: null };
}

export function setPreinstallList(db: Db, scope: PreinstallScope, ownerId: string, appIds: readonly string[], now = Date.now()): PreinstallListView {
  const unique = [...new Set(appIds)];
  stmt(
    db,
    `INSERT INTO preinstall_lists (scope, owner_id, app_ids, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (scope, owner_id) DO UPDATE SET app_ids = excluded.app_ids, updated_at = excluded.updated_at`,
  ).run(scope, ownerId, JSON.stringify(unique), now);
  return { appIds: unique, updatedAt: now };
}

/** Pure: the plan's apps first, then the user's, each app once. */
export function mergePreinstall(plan: readonly string[], user: readonly string[]): string[] {
  return [...new Set([...plan, ...user])];
}

export interface PreinstallOutcome {
  /** Installs requested (one per app that could be installed). */
  installIds: string[];
  commandIds: string[];
  /** Apps of the lists that no longer exist (deleted since the list was set). */
  skipped: string[];
}

/**
 * Requests the preinstalls of a device that has just reported `running`, at most once per device. Call inside the
 * transaction that records the state. Returns null when the device was preinstalled before (or is unknown).
 */
export function preinstallOnFirstRun(db: Db, deviceId: string, now = Date.now()): PreinstallOutcome | null {
  const d = stmt(db, "SELECT owner_id, plan_id, preinstall_at FROM devices WHERE id = ?").get(deviceId) as
    | { owner_id: string | null; plan_id: string | null; preinstall_at: number | null }
    | undefined;
  if (!d || d.preinstall_at !== null) return null;
  stmt(db, "UPDATE devices SET preinstall_at = ? WHERE id = ? AND preinstall_at IS NULL").run(now, deviceId);
  const plan = d.plan_id ? getPreinstallList(db, "plan", d.plan_id).appIds : [];
  const user = d.owner_id ? getPreinstallList(db, "user", d.owner_id).appIds : [];
  const out: PreinstallOutcome = { installIds: [], commandIds: [], skipped: [] };
  for (const appId of mergePreinstall(plan, user)) {
    const r = dispatchInstalls(db, { caller: PLATFORM, appId, action: "install", deviceIds: [deviceId], requestId: `preinstall:${deviceId}` }, now);
    if (!r.ok) {
      out.skipped.push(appId);
      continue;
    }
    out.installIds.push(...r.installs.map((i) => i.id));
    out.commandIds.push(...r.commandIds);
  }
  return out;
}
