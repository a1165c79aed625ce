import type { DesiredState, DeviceSpec, DeviceStatus } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import type { DeviceRecord } from "./types.js";

interface DeviceRow {
  id: string;
  spec: string;
  owner_id: string | null;
  desired: DesiredState;
  generation: number;
  state: DeviceStatus;
  state_since: number;
  container_id: string | null;
  adb_port: number | null;
  exit_code: number | null;
  oom_killed: number | null;
  error: string | null;
  recovery_attempts: number;
  restart_requested: number;
  deleted_at: number | null;
}

function fromRow(r: DeviceRow): DeviceRecord {
  return {
    id: r.id,
    spec: JSON.parse(r.spec) as DeviceSpec,
    ownerId: r.owner_id,
    desired: r.desired,
    generation: r.generation,
    state: r.state,
    stateSince: r.state_since,
    containerId: r.container_id,
    adbPort: r.adb_port,
    exitCode: r.exit_code,
    oomKilled: r.oom_killed === null ? null : r.oom_killed === 1,
    error: r.error,
    recoveryAttempts: r.recovery_attempts,
    restartRequested: r.restart_requested === 1,
    deletedAt: r.deleted_at,
  };
}

/** Plain reads and writes of the devices table; callers own the transactions. */
export class DeviceRepo {
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      get: db.prepare("SELECT * FROM devices WHERE id = ?"),
      all: db.prepare("SELECT * FROM devices ORDER BY id"),
      live: db.prepare("SELECT * FROM devices WHERE state != 'deleted' ORDER BY id"),
      liveAdbPorts: db.prepare("SELECT adb_port FROM devices WHERE state != 'deleted' AND adb_port IS NOT NULL").pluck(),
      insert: db.prepare(
        `INSERT INTO devices (id, spec, owner_id, desired, generation, state, state_since, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
      ),
      updateSpec: db.prepare(`UPDATE devices SET spec = ?, owner_id = ?, updated_at = ? WHERE id = ?`),
      setDesired: db.prepare(`UPDATE devices SET desired = ?, generation = ?, updated_at = ? WHERE id = ?`),
      setDesiredOnly: db.prepare(`UPDATE devices SET desired = ?, updated_at = ? WHERE id = ?`),
      setRestart: db.prepare(`UPDATE devices SET restart_requested = ?, updated_at = ? WHERE id = ?`),
      resetDeleted: db.prepare(`UPDATE devices SET deleted_at = NULL WHERE id = ?`),
    };
  }

  get(id: string): DeviceRecord | null {
    const r = this.stmts.get.get(id) as DeviceRow | undefined;
    return r ? fromRow(r) : null;
  }

  all(): DeviceRecord[] {
    return (this.stmts.all.all() as DeviceRow[]).map(fromRow);
  }

  /** Devices that are not (or not yet) fully deleted. */
  live(): DeviceRecord[] {
    return (this.stmts.live.all() as DeviceRow[]).map(fromRow);
  }

  /** adbd ports recorded on devices that are not deleted (host network mode: each device's own port). */
  liveAdbPorts(): Set<number> {
    return new Set(this.stmts.liveAdbPorts.all() as number[]);
  }

  insert(id: string, spec: DeviceSpec, ownerId: string | null, desired: DesiredState, generation: number, now: number): void {
    this.stmts.insert.run(id, JSON.stringify(spec), ownerId, desired, generation, now, now, now);
  }

  updateSpec(id: string, spec: DeviceSpec, ownerId: string | null, now: number): void {
    this.stmts.updateSpec.run(JSON.stringify(spec), ownerId, now, id);
    this.stmts.resetDeleted.run(id);
  }

  setDesired(id: string, desired: DesiredState, generation: number | null, now: number): void {
    if (generation === null) this.stmts.setDesiredOnly.run(desired, now, id);
    else this.stmts.setDesired.run(desired, generation, now, id);
  }

  setRestartRequested(id: string, flag: boolean, now: number): void {
    this.stmts.setRestart.run(flag ? 1 : 0, now, id);
  }

  /** Writes the recorded actual state; used only by observe(). */
  writeObserved(rec: DeviceRecord, now: number): void {
    this.db
      .prepare(
        `UPDATE devices SET state = ?, state_since = ?, container_id = ?, adb_port = ?, exit_code = ?, oom_killed = ?,
           error = ?, recovery_attempts = ?, deleted_at = ?, updated_at = ? WHERE id = ?`,
      )
      .run(
        rec.state,
        rec.stateSince,
        rec.containerId,
        rec.adbPort,
        rec.exitCode,
        rec.oomKilled === null ? null : rec.oomKilled ? 1 : 0,
        rec.error,
        rec.recoveryAttempts,
        rec.deletedAt,
        now,
        rec.id,
      );
  }
}
