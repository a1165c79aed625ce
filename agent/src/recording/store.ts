import { topics, type EventData, type EventMessage, type RecordingView } from "@cloudphone/shared-protocol";
import type { Outbox } from "../outbox/outbox.js";
import type { Db } from "../store/db.js";

interface Row {
  id: string;
  device_id: string;
  status: "recording" | "completed" | "failed";
  started_at: number;
  ended_at: number | null;
  max_duration_ms: number;
  bit_rate: number | null;
  bytes: number | null;
  reason: string | null;
  device_cleanup: number;
}

export interface RecordingRow extends RecordingView {
  bitRate: number | null;
  /** The session's process or device temp file may still exist on the device. */
  deviceCleanup: boolean;
}

/** The durable recordings table; every status change writes its `recording.*` event in the same transaction. */
export class RecordingStore {
  private readonly s;

  constructor(
    private readonly db: Db,
    private readonly outbox: Outbox,
    private readonly hostId: string,
  ) {
    this.s = {
      get: db.prepare("SELECT * FROM recordings WHERE id = ?"),
      active: db.prepare("SELECT * FROM recordings WHERE device_id = ? AND status = 'recording'"),
      allActive: db.prepare("SELECT * FROM recordings WHERE status = 'recording'"),
      byDevice: db.prepare("SELECT * FROM recordings WHERE device_id = ? ORDER BY started_at DESC, id DESC LIMIT ?"),
      insert: db.prepare(
        `INSERT INTO recordings (id, device_id, status, started_at, max_duration_ms, bit_rate) VALUES (?, ?, 'recording', ?, ?, ?)`,
      ),
      end: db.prepare(
        `UPDATE recordings SET status = ?, ended_at = ?, bytes = ?, reason = ?, device_cleanup = ? WHERE id = ? AND status = 'recording'`,
      ),
      cleanupPending: db.prepare("SELECT * FROM recordings WHERE device_cleanup = 1 AND status != 'recording'"),
      cleanupDone: db.prepare("UPDATE recordings SET device_cleanup = 0 WHERE id = ?"),
      completedIds: db.prepare("SELECT id FROM recordings WHERE status = 'completed'").pluck(),
      expired: db.prepare("SELECT * FROM recordings WHERE status != 'recording' AND ended_at < ? AND device_cleanup = 0"),
      delete: db.prepare("DELETE FROM recordings WHERE id = ?"),
    };
  }

  get(id: string): RecordingRow | null {
    const r = this.s.get.get(id) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  activeOn(deviceId: string): RecordingRow | null {
    const r = this.s.active.get(deviceId) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  allActive(): RecordingRow[] {
    return (this.s.allActive.all() as Row[]).map(fromRow);
  }

  listByDevice(deviceId: string, limit: number): RecordingRow[] {
    return (this.s.byDevice.all(deviceId, limit) as Row[]).map(fromRow);
  }

  /**
   * Records a new session and its `recording.started` event; null when the device already has an active one (the
   * partial unique index decides, so two racing starts cannot both win).
   */
  start(input: { id: string; deviceId: string; startedAt: number; maxDurationMs: number; bitRate: number | null }): RecordingRow | null {
    return this.db.transaction(() => {
      if (this.s.active.get(input.deviceId)) return null;
      this.s.insert.run(input.id, input.deviceId, input.startedAt, input.maxDurationMs, input.bitRate);
      this.event("recording.started", input.deviceId, { recordingId: input.id, maxDurationMs: input.maxDurationMs });
      return this.get(input.id);
    })();
  }

  /**
   * Ends an active session: `completed` with its bytes, or `failed`. No-op (returns the row as it is) when it has
   * ended already. `deviceCleanup`: whether the device may still hold its process or temp file.
   */
  end(id: string, outcome: { status: "completed" | "failed"; endedAt: number; bytes: number | null; reason: string; deviceCleanup: boolean }): RecordingRow | null {
    return this.db.transaction(() => {
      const before = this.get(id);
      if (!before || before.status !== "recording") return before;
      const reason = outcome.reason.slice(0, 2000);
      this.s.end.run(outcome.status, outcome.endedAt, outcome.bytes, reason, outcome.deviceCleanup ? 1 : 0, id);
      const data: EventData = { recordingId: id, reason, durationMs: Math.max(0, outcome.endedAt - before.startedAt) };
      if (outcome.bytes !== null) data.bytes = outcome.bytes;
      this.event(outcome.status === "completed" ? "recording.completed" : "recording.failed", before.deviceId, data);
      return this.get(id);
    })();
  }

  /** Ended sessions whose device may still hold their process or temp file. */
  cleanupPending(): RecordingRow[] {
    return (this.s.cleanupPending.all() as Row[]).map(fromRow);
  }

  markCleanedUp(id: string): void {
    this.s.cleanupDone.run(id);
  }

  completedIds(): Set<string> {
    return new Set(this.s.completedIds.all() as string[]);
  }

  /** Ended before `cutoff` and with nothing left on the device: what retention removes. */
  expired(cutoff: number): RecordingRow[] {
    return (this.s.expired.all(cutoff) as Row[]).map(fromRow);
  }

  delete(id: string): void {
    this.s.delete.run(id);
  }

  private event(name: "recording.started" | "recording.completed" | "recording.failed", deviceId: string, data: EventData): void {
    this.outbox.enqueue(
      topics.event(this.hostId, name),
      (): Omit<EventMessage, "id" | "seq" | "ts" | "v"> => ({ hostId: this.hostId, name, deviceId, data }),
      { deviceId },
    );
  }
}

function fromRow(r: Row): RecordingRow {
  return {
    id: r.id,
    deviceId: r.device_id,
    status: r.status,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    maxDurationMs: r.max_duration_ms,
    bytes: r.bytes,
    reason: r.reason,
    bitRate: r.bit_rate,
    deviceCleanup: r.device_cleanup === 1,
  };
}

/** The protocol view of a row (no agent-internal fields). */
export function viewOf(r: RecordingRow): RecordingView {
  return { id: r.id, deviceId: r.deviceId, status: r.status, startedAt: r.startedAt, endedAt: r.endedAt, maxDurationMs: r.maxDurationMs, bytes: r.bytes, reason: r.reason };
}
