import type { MessageOf, ParsedMessage } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { recordPlatformEvent } from "../platform/record.js";
import { applyAppCommandFailure, applyAppEvent } from "../apps/effects.js";
import { preinstallOnFirstRun } from "../apps/preinstall.js";
import { applyRecordingEvent } from "../recordings/store.js";

export type EffectResult =
  | { ok: true; hostCameOnline: boolean }
  | { ok: false; code: "unknown_device" | "device_host_mismatch" | "unknown_command" | "command_host_mismatch"; reason: string };

const OK: EffectResult = { ok: true, hostCameOnline: false };

interface HostStatusRow {
  status: string;
  status_seq: number;
  prev_birth_seq: number;
}

/**
 * Per-kind effects of an accepted (new, valid) uplink message. Runs inside the inbox's batch transaction, so an
 * effect and the inbox row that marks the message as seen commit together.
 */
export class Effects {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      hostStatus: db.prepare("SELECT status, status_seq, prev_birth_seq FROM hosts WHERE id = ?"),
      setOnline: db.prepare(
        `UPDATE hosts SET status = 'online', status_seq = ?, prev_birth_seq = birth_seq, birth_seq = ?,
           agent_version = COALESCE(?, agent_version) WHERE id = ?`,
      ),
      setOffline: db.prepare("UPDATE hosts SET status = 'offline', status_seq = MAX(status_seq, ?) WHERE id = ?"),
      capacity: db.prepare(
        `UPDATE hosts SET capacity_seq = ?, cpu_millis = ?, memory_mb = ?, disk_mb = ?, device_slots = ?, reported_used = ?, inventory = ?
         WHERE id = ? AND capacity_seq < ?`,
      ),
      device: db.prepare("SELECT host_id, desired, state_seq, state, owner_id FROM devices WHERE id = ?"),
      deviceState: db.prepare(
        `UPDATE devices SET state = ?, state_seq = ?, state_detail = ?, error = ?, updated_at = ?,
           deleted_at = CASE WHEN desired = 'deleted' AND ? = 'deleted' THEN COALESCE(deleted_at, ?) ELSE deleted_at END
         WHERE id = ?`,
      ),
      event: db.prepare(
        "INSERT OR IGNORE INTO events (msg_id, host_id, device_id, name, seq, ts, data, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      usage: db.prepare(
        "INSERT OR IGNORE INTO usage_records (record_id, msg_id, host_id, device_id, from_ms, to_ms, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      command: db.prepare("SELECT host_id, result_at FROM commands WHERE id = ?"),
      result: db.prepare("UPDATE commands SET result_outcome = ?, result_error = ?, result_at = ? WHERE id = ? AND result_at IS NULL"),
    };
  }

  apply(p: ParsedMessage, now: number): EffectResult {
    switch (p.kind) {
      case "status":
        return this.status(p.message);
      case "capacity":
        return this.capacity(p.message);
      case "deviceState":
        return this.deviceState(p.message, now);
      case "event": {
        const m = p.message;
        this.s.event.run(m.id, m.hostId, m.deviceId ?? null, m.name, m.seq, m.ts, JSON.stringify(m.data), now);
        if (m.name.startsWith("app.")) applyAppEvent(this.db, m, now);
        if (m.name.startsWith("recording.")) applyRecordingEvent(this.db, m, now);
        return OK;
      }
      case "usage": {
        const m = p.message;
        this.s.usage.run(m.recordId, m.id, m.hostId, m.deviceId, m.from, m.to, now);
        return OK;
      }
      case "results":
        return this.result(p.message, now);
      case "commands":
      case "rpcRequests":
      case "rpcResponses":
        // Filtered out before effects: hosts never publish downlinks, and RPC answers go to their caller.
        return OK;
    }
  }

  /**
   * Presence. A birth applies when newer than the last applied status. The agent allocates its Will's `seq` at
   * CONNECT, before its birth, so a Will is always older than the birth of its own connection: an `offline` applies
   * when it is newer than the last status, or (while online) newer than the birth of the *previous* connection, which
   * tells the current connection's Will from a stale one.
   */
  private status(m: MessageOf<"status">): EffectResult {
    const row = this.s.hostStatus.get(m.hostId) as HostStatusRow | undefined;
    if (!row) return OK;
    if (m.status === "online") {
      if (m.seq <= row.status_seq) return OK;
      this.s.setOnline.run(m.seq, m.seq, m.agentVersion ?? null, m.hostId);
      return { ok: true, hostCameOnline: row.status !== "online" };
    }
    const applies = m.seq > row.status_seq || (row.status === "online" && m.seq > row.prev_birth_seq);
    if (applies) this.s.setOffline.run(m.seq, m.hostId);
    return OK;
  }

  private capacity(m: MessageOf<"capacity">): EffectResult {
    const reported = JSON.stringify({ used: m.used, docker: m.docker ?? null, binder: m.binder ?? null, seq: m.seq, ts: m.ts });
    this.s.capacity.run(m.seq, m.total.cpuMillis, m.total.memoryMb, m.total.diskMb, m.total.deviceSlots, reported,
      JSON.stringify(m.inventory), m.hostId, m.seq);
    return OK;
  }

  private deviceState(m: MessageOf<"deviceState">, now: number): EffectResult {
    const row = this.s.device.get(m.deviceId) as
      | { host_id: string; desired: string; state_seq: number | null; state: string; owner_id: string | null }
      | undefined;
    if (!row) return { ok: false, code: "unknown_device", reason: `device ${m.deviceId} is not known to the control plane` };
    if (row.host_id !== m.hostId) {
      return { ok: false, code: "device_host_mismatch", reason: `device ${m.deviceId} belongs to host ${row.host_id}, not ${m.hostId}` };
    }
    if (row.state_seq !== null && m.seq <= row.state_seq) return OK; // older than what we have: latest seq wins
    const detail = {
      reportedDesired: m.desired,
      reportedGeneration: m.generation,
      since: m.since,
      ...(m.containerId !== undefined ? { containerId: m.containerId } : {}),
      ...(m.adb !== undefined ? { adb: m.adb } : {}),
      ...(m.exitCode !== undefined ? { exitCode: m.exitCode } : {}),
      ...(m.oomKilled !== undefined ? { oomKilled: m.oomKilled } : {}),
    };
    this.s.deviceState.run(m.state, m.seq, JSON.stringify(detail), m.error ?? null, now, m.state, now, m.deviceId);
    // The owner hears about real changes only (re-reports after a reconnect are not news), in this same transaction.
    if (row.state !== m.state && row.owner_id !== null) {
      recordPlatformEvent(
        this.db,
        { name: "device.state_changed", userId: row.owner_id, deviceId: m.deviceId, data: { state: m.state, previous: row.state }, requestId: m.requestId ?? null },
        now,
      );
    }
    // First `running` after creation: the plan's and owner's preinstall lists, once (the device's preinstall mark).
    if (m.state === "running") preinstallOnFirstRun(this.db, m.deviceId, now);
    return OK;
  }

  private result(m: MessageOf<"results">, now: number): EffectResult {
    const row = this.s.command.get(m.commandId) as { host_id: string; result_at: number | null } | undefined;
    if (!row) return { ok: false, code: "unknown_command", reason: `command ${m.commandId} is not known to the control plane` };
    if (row.host_id !== m.hostId) {
      return { ok: false, code: "command_host_mismatch", reason: `command ${m.commandId} was sent to host ${row.host_id}, not ${m.hostId}` };
    }
    const settled = this.s.result.run(m.outcome, m.error ?? null, now, m.commandId).changes === 1;
    if (settled && m.outcome === "failed") applyAppCommandFailure(this.db, m.commandId, m.error ?? null, now);
    return OK;
  }
}
