import { newId, type CreateDeviceRequest, type DeviceSpec, type DeviceView } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { plucked, stmt } from "../store/statements.js";
import { insertCommand, planAction, type LifecycleAction } from "./commands.js";
import { checkPinnedHost, chooseHost, type HostCapacity } from "./placement.js";
import { checkQuota, type QuotaLimits } from "../quota/quota.js";
import { quotaLimits, quotaUsage } from "../quota/store.js";

interface DeviceRow {
  id: string;
  name: string | null;
  owner_id: string | null;
  host_id: string;
  spec: string;
  desired: DeviceView["desired"];
  generation: number;
  state: DeviceView["state"];
  state_seq: number | null;
  state_detail: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

export type DeviceViewEx = DeviceView & { deletedAt: number | null; stateDetail: unknown };

function toView(r: DeviceRow): DeviceViewEx {
  return {
    id: r.id,
    name: r.name,
    ownerId: r.owner_id,
    hostId: r.host_id,
    spec: JSON.parse(r.spec) as DeviceSpec,
    desired: r.desired,
    generation: r.generation,
    state: r.state,
    stateSeq: r.state_seq,
    error: r.error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deletedAt: r.deleted_at,
    stateDetail: r.state_detail ? (JSON.parse(r.state_detail) as unknown) : null,
  };
}

export function getDevice(db: Db, id: string): DeviceViewEx | null {
  const r = db.prepare("SELECT * FROM devices WHERE id = ?").get(id) as DeviceRow | undefined;
  return r ? toView(r) : null;
}

export interface ListFilter {
  includeDeleted: boolean;
  hostId?: string;
  ownerId?: string;
}

/** WHERE clause and arguments of a device listing; one prepared statement per clause shape and connection. */
function listWhere(opts: ListFilter): { key: string; where: string; args: string[] } {
  const where: string[] = [];
  const args: string[] = [];
  if (!opts.includeDeleted) where.push("deleted_at IS NULL");
  if (opts.hostId) {
    where.push("host_id = ?");
    args.push(opts.hostId);
  }
  if (opts.ownerId !== undefined) {
    where.push("owner_id = ?");
    args.push(opts.ownerId);
  }
  const clause = where.length ? "WHERE " + where.join(" AND ") : "";
  return { key: clause, where: clause, args };
}


export function listDevices(db: Db, opts: ListFilter): DeviceViewEx[] {
  const w = listWhere(opts);
  return (stmt(db, `SELECT * FROM devices ${w.where} ORDER BY created_at, id`).all(...w.args) as DeviceRow[]).map(toView);
}

/**
 * The same listing as `listDevices`, as the JSON text `{"devices":[...]}` built by SQLite itself: the hot
 * `GET /api/devices` then skips parsing each row's JSON columns only to serialise them again.
 */
export function listDevicesJson(db: Db, opts: ListFilter): string {
  const w = listWhere(opts);
  const sql = `SELECT json_object('devices', json(json_group_array(json(v) ORDER BY created_at, id))) FROM (
    SELECT created_at, id, json_object(
      'id', id, 'name', name, 'ownerId', owner_id, 'hostId', host_id, 'spec', json(spec), 'desired', desired,
      'generation', generation, 'state', state, 'stateSeq', state_seq, 'error', error, 'createdAt', created_at,
      'updatedAt', updated_at, 'deletedAt', deleted_at, 'stateDetail', json(state_detail)) AS v
    FROM devices ${w.where})`;
  return plucked(db, sql).get(...w.args) as string;
}

const CAPACITY_SQL = `
SELECT h.id AS hostId, h.cpu_millis AS cpuMillis, h.memory_mb AS memoryMb, h.disk_mb AS diskMb, h.device_slots AS deviceSlots,
       COALESCE(SUM(d.cpu_millis), 0) AS usedCpuMillis, COALESCE(SUM(d.memory_mb), 0) AS usedMemoryMb,
       COALESCE(SUM(d.disk_mb), 0) AS usedDiskMb, COUNT(d.id) AS usedDevices
FROM hosts h LEFT JOIN devices d ON d.host_id = h.id AND d.deleted_at IS NULL`;

export type CreateOutcome =
  | { ok: true; device: DeviceViewEx; commandId: string }
  | { ok: false; code: "no_capacity" | "no_host_online" | "host_not_found" | "host_unavailable" | "quota_exceeded"; message: string };

export interface CreateOptions {
  /** Quota defaults for owners without a quota row; when set and the request has an owner, the quota is enforced. */
  quotaDefaults?: QuotaLimits;
  planId?: string | null;
  orderId?: string | null;
}

/**
 * Placement, device insert and the `create` command in one IMMEDIATE transaction: the write lock is taken before
 * capacity is read, so concurrent requests are serialised and can never oversubscribe a host.
 */
export function createDevice(
  db: Db,
  req: CreateDeviceRequest,
  requestId: string | undefined,
  now = Date.now(),
  opts: CreateOptions = {},
): CreateOutcome {
  const spec: DeviceSpec = {
    cpuMillis: req.cpuMillis,
    memoryMb: req.memoryMb,
    diskMb: req.diskMb,
    width: req.width,
    height: req.height,
    dpi: req.dpi,
    fps: req.fps,
    ...(req.image ? { image: req.image } : {}),
  };
  return db
    .transaction((): CreateOutcome => {
      // Quota first, under the same write lock as the insert: concurrent requests can never over-allocate (Q1).
      if (req.ownerId && opts.quotaDefaults) {
        const q = checkQuota(quotaLimits(db, req.ownerId, opts.quotaDefaults), quotaUsage(db, req.ownerId), spec);
        if (!q.ok) return { ok: false, code: q.code, message: q.message };
      }
      let hostId: string;
      if (req.hostId) {
        const h = db.prepare(`${CAPACITY_SQL} WHERE h.id = ? GROUP BY h.id`).get(req.hostId) as HostCapacity | undefined;
        const meta = db.prepare("SELECT status, revoked_at FROM hosts WHERE id = ?").get(req.hostId) as
          | { status: string; revoked_at: number | null }
          | undefined;
        if (!h || !meta) return { ok: false, code: "host_not_found", message: `host ${req.hostId} does not exist` };
        if (meta.revoked_at !== null) return { ok: false, code: "host_unavailable", message: `host ${req.hostId} has been revoked` };
        const fit = checkPinnedHost(h, spec);
        if (!fit.ok) return fit;
        hostId = fit.hostId;
      } else {
        const candidates = db
          .prepare(`${CAPACITY_SQL} WHERE h.status = 'online' AND h.revoked_at IS NULL GROUP BY h.id`)
          .all() as HostCapacity[];
        const choice = chooseHost(candidates, spec);
        if (!choice.ok) return choice;
        hostId = choice.hostId;
      }
      const id = newId(now);
      db.prepare(
        `INSERT INTO devices (id, name, owner_id, host_id, spec, cpu_millis, memory_mb, disk_mb, desired, generation, state, created_at, updated_at, plan_id, order_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', 1, 'pending', ?, ?, ?, ?)`,
      ).run(id, req.name ?? null, req.ownerId ?? null, hostId, JSON.stringify(spec), spec.cpuMillis, spec.memoryMb, spec.diskMb, now, now,
        opts.planId ?? null, opts.orderId ?? null);
      const cmd = insertCommand(
        db,
        {
          hostId,
          deviceId: id,
          generation: 1,
          requestId,
          command: { action: "create", spec, ...(req.ownerId ? { ownerId: req.ownerId } : {}) },
        },
        now,
      );
      return { ok: true, device: getDevice(db, id)!, commandId: cmd.id };
    })
    .immediate();
}

export type ActionOutcome =
  | { ok: true; device: DeviceViewEx; commandId: string }
  | { ok: false; code: "device_not_found" | "device_deleted" | "host_revoked"; message: string };

/** Bumps the generation, sets `desired` and writes the command, in one IMMEDIATE transaction. */
export function applyDeviceAction(db: Db, deviceId: string, action: LifecycleAction, requestId: string | undefined, now = Date.now()): ActionOutcome {
  return db
    .transaction((): ActionOutcome => {
      const row = db
        .prepare("SELECT d.desired, d.generation, d.deleted_at, d.host_id, h.revoked_at FROM devices d JOIN hosts h ON h.id = d.host_id WHERE d.id = ?")
        .get(deviceId) as
        | { desired: DeviceView["desired"]; generation: number; deleted_at: number | null; host_id: string; revoked_at: number | null }
        | undefined;
      if (!row) return { ok: false, code: "device_not_found", message: `device ${deviceId} does not exist` };
      const plan = planAction({ desired: row.desired, deletedAt: row.deleted_at, hostRevoked: row.revoked_at !== null }, action);
      if (!plan.ok) return plan;
      const generation = row.generation + 1;
      // A revoked host will never report the deletion, so the device is released at once.
      const deletedAt = action === "delete" && row.revoked_at !== null ? now : null;
      db.prepare("UPDATE devices SET desired = ?, generation = ?, updated_at = ?, deleted_at = COALESCE(deleted_at, ?) WHERE id = ?").run(
        plan.desired,
        generation,
        now,
        deletedAt,
        deviceId,
      );
      const cmd = insertCommand(db, { hostId: row.host_id, deviceId, generation, requestId, command: { action } }, now);
      return { ok: true, device: getDevice(db, deviceId)!, commandId: cmd.id };
    })
    .immediate();
}
