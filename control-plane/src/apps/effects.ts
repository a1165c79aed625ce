import type { AppInstallStatus, MessageOf } from "@cloudphone/shared-protocol";
import { recordPlatformEvent } from "../platform/record.js";
import type { Db } from "../store/db.js";
import { stmt } from "../store/statements.js";
import { recordInstallResult } from "./installs.js";

/**
 * Inbox effects of the apps domain (A2), run inside the inbox's batch transaction: an agent's `app.*` event (or a
 * `failed` result of an app command) settles its `app_installs` row and tells the device's owner through a platform
 * event (SSE), in the same transaction as the inbox row. Duplicates and late reports change nothing.
 */

const STATUS_OF: Record<string, AppInstallStatus> = {
  "app.installed": "installed",
  "app.install_failed": "failed",
  "app.uninstalled": "uninstalled",
};

interface InstallLink {
  id: string;
  app_id: string;
  action: string;
  device_id: string;
  host_id: string;
  owner_id: string | null;
  package_name: string;
}

const LINK_SQL = `SELECT i.id, i.app_id, i.action, i.device_id, d.host_id, d.owner_id, a.package_name
  FROM app_installs i JOIN devices d ON d.id = i.device_id JOIN apps a ON a.id = i.app_id`;

/** An `app.*` event from a host. Returns whether it settled a pending install. */
export function applyAppEvent(db: Db, m: MessageOf<"event">, now: number): boolean {
  const status = STATUS_OF[m.name];
  const installId = m.data.installId;
  if (!status || installId === undefined) return false;
  const link = stmt(db, `${LINK_SQL} WHERE i.id = ?`).get(installId) as InstallLink | undefined;
  // Only the host that owns the device may settle its install.
  if (!link || link.host_id !== m.hostId || (m.deviceId !== undefined && m.deviceId !== link.device_id)) return false;
  const reason = m.data.reason ?? (status === "failed" ? "the agent reported a failure without a reason" : null);
  const r = recordInstallResult(db, installId, status, reason, now);
  if (!r.ok) return false;
  if (link.owner_id !== null) {
    recordPlatformEvent(
      db,
      {
        name: m.name,
        userId: link.owner_id,
        deviceId: link.device_id,
        data: {
          installId,
          appId: link.app_id,
          packageName: m.data.packageName ?? link.package_name,
          ...(m.data.versionCode !== undefined ? { versionCode: m.data.versionCode } : {}),
          ...(status === "failed" ? { reason } : {}),
        },
        requestId: m.requestId ?? null,
      },
      now,
    );
  }
  return true;
}

/** A `failed` command result for an app command (e.g. the host does not have the device): the install fails. */
export function applyAppCommandFailure(db: Db, commandId: string, error: string | null, now: number): boolean {
  const link = stmt(db, `${LINK_SQL} WHERE i.command_id = ?`).get(commandId) as InstallLink | undefined;
  if (!link) return false;
  const reason = error ?? "the agent refused the command";
  const r = recordInstallResult(db, link.id, "failed", reason, now);
  if (!r.ok) return false;
  if (link.owner_id !== null) {
    recordPlatformEvent(
      db,
      { name: "app.install_failed", userId: link.owner_id, deviceId: link.device_id, data: { installId: link.id, appId: link.app_id, packageName: link.package_name, reason } },
      now,
    );
  }
  return true;
}
