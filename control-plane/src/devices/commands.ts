import { SCHEMA_VERSION, newId, type DesiredState, type DeviceCommand, type DeviceSpec } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";

export type LifecycleAction = "start" | "stop" | "restart" | "delete";

export interface ActionSubject {
  desired: DesiredState;
  deletedAt: number | null;
  hostRevoked: boolean;
}

export type ActionPlan =
  | { ok: true; desired: DesiredState }
  | { ok: false; code: "device_deleted" | "host_revoked"; message: string };

/** Pure rules for a lifecycle action on an existing device (create happens only at POST /api/devices). */
export function planAction(subject: ActionSubject, action: LifecycleAction): ActionPlan {
  if (subject.deletedAt !== null || subject.desired === "deleted") {
    return { ok: false, code: "device_deleted", message: `cannot ${action} a deleted device` };
  }
  if (subject.hostRevoked && action !== "delete") {
    return { ok: false, code: "host_revoked", message: `cannot ${action}: the device's host has been revoked` };
  }
  const desired: DesiredState = action === "stop" ? "stopped" : action === "delete" ? "deleted" : "running";
  return { ok: true, desired };
}

export interface NewCommand {
  hostId: string;
  deviceId: string;
  generation: number;
  requestId: string | undefined;
  command: { action: "create"; spec: DeviceSpec; ownerId?: string } | { action: LifecycleAction } | AppCommand;
}

/**
 * App commands (A2) ride the same durable, re-sent `commands` rows but are not lifecycle commands: their
 * `generation` is the device's current one, for information only (the agent ignores it for app actions).
 */
export type AppCommand =
  | { action: "app_install"; installId: string; app: { id: string; sha256: string; size: number; packageName: string } }
  | { action: "app_uninstall"; installId: string; appId: string; packageName: string };

/**
 * Inserts a command row (call inside the caller's transaction). The envelope `seq` of a control-plane message is
 * the command's rowid, which increases in commit order.
 */
export function insertCommand(db: Db, c: NewCommand, now = Date.now()): { id: string; seq: number } {
  const id = newId(now);
  const info = db
    .prepare(
      `INSERT INTO commands (id, host_id, device_id, generation, action, payload, request_id, created_at)
       VALUES (?, ?, ?, ?, ?, '{}', ?, ?)`,
    )
    .run(id, c.hostId, c.deviceId, c.generation, c.command.action, c.requestId ?? null, now);
  const seq = Number(info.lastInsertRowid);
  const base = {
    id,
    seq,
    ts: now,
    v: SCHEMA_VERSION,
    ...(c.requestId ? { requestId: c.requestId } : {}),
    hostId: c.hostId,
    deviceId: c.deviceId,
    generation: c.generation,
  };
  const cmd = c.command;
  const message: DeviceCommand =
    cmd.action === "create"
      ? { ...base, action: "create", spec: cmd.spec, ...(cmd.ownerId ? { ownerId: cmd.ownerId } : {}) }
      : cmd.action === "app_install"
        ? { ...base, action: "app_install", installId: cmd.installId, app: cmd.app }
        : cmd.action === "app_uninstall"
          ? { ...base, action: "app_uninstall", installId: cmd.installId, appId: cmd.appId, packageName: cmd.packageName }
          : { ...base, action: cmd.action };
  db.prepare("UPDATE commands SET payload = ? WHERE rowid = ?").run(JSON.stringify(message), seq);
  return { id, seq };
}

export interface CommandView {
  id: string;
  hostId: string;
  deviceId: string;
  generation: number;
  action: string;
  requestId: string | null;
  createdAt: number;
  lastSentAt: number | null;
  sendCount: number;
  result: { outcome: string; error: string | null; at: number } | null;
}

interface CommandRow {
  id: string;
  host_id: string;
  device_id: string;
  generation: number;
  action: string;
  request_id: string | null;
  created_at: number;
  last_sent_at: number | null;
  send_count: number;
  result_outcome: string | null;
  result_error: string | null;
  result_at: number | null;
}

export function getCommand(db: Db, id: string): CommandView | null {
  const r = db.prepare("SELECT * FROM commands WHERE id = ?").get(id) as CommandRow | undefined;
  if (!r) return null;
  return {
    id: r.id,
    hostId: r.host_id,
    deviceId: r.device_id,
    generation: r.generation,
    action: r.action,
    requestId: r.request_id,
    createdAt: r.created_at,
    lastSentAt: r.last_sent_at,
    sendCount: r.send_count,
    result: r.result_at !== null && r.result_outcome !== null ? { outcome: r.result_outcome, error: r.result_error, at: r.result_at } : null,
  };
}
