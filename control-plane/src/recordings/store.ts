import type { EventMessage, RecordingView } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { stmt } from "../store/statements.js";

interface Row {
  id: string;
  device_id: string;
  host_id: string;
  status: RecordingView["status"];
  started_at: number;
  ended_at: number | null;
  max_duration_ms: number | null;
  bytes: number | null;
  reason: string | null;
}

/** Android's (and the RPC's) upper bound, shown when the start was never heard of (its event and answer lost). */
const UNKNOWN_MAX_DURATION_MS = 180_000;

export function viewOf(r: Row): RecordingView {
  return {
    id: r.id,
    deviceId: r.device_id,
    status: r.status,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    maxDurationMs: r.max_duration_ms ?? UNKNOWN_MAX_DURATION_MS,
    bytes: r.bytes,
    reason: r.reason,
  };
}

export interface RecordingFacts {
  id: string;
  deviceId: string;
  hostId: string;
  status: RecordingView["status"];
  startedAt: number;
  endedAt: number | null;
  maxDurationMs: number | null;
  bytes: number | null;
  reason: string | null;
}

/**
 * The control plane's copy of recording sessions, merged from the agents' events and RPC answers in whatever order
 * they arrive: a session only moves forward (`recording` → `completed`/`failed`, never back), and the first-known
 * start time and maximum duration stay. So listings work while an agent is offline.
 */
export class RecordingStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      upsert: stmt(db, 
        `INSERT INTO recordings (id, device_id, host_id, status, started_at, ended_at, max_duration_ms, bytes, reason, updated_at)
         VALUES (@id, @deviceId, @hostId, @status, @startedAt, @endedAt, @maxDurationMs, @bytes, @reason, @now)
         ON CONFLICT(id) DO UPDATE SET
           status = CASE WHEN recordings.status = 'recording' THEN excluded.status ELSE recordings.status END,
           ended_at = CASE WHEN recordings.status = 'recording' THEN excluded.ended_at ELSE recordings.ended_at END,
           bytes = CASE WHEN recordings.status = 'recording' THEN excluded.bytes ELSE recordings.bytes END,
           reason = CASE WHEN recordings.status = 'recording' THEN excluded.reason ELSE recordings.reason END,
           max_duration_ms = COALESCE(recordings.max_duration_ms, excluded.max_duration_ms),
           updated_at = excluded.updated_at
         WHERE recordings.device_id = excluded.device_id`,
      ),
      get: stmt(db, "SELECT * FROM recordings WHERE id = ?"),
      byDevice: stmt(db, "SELECT * FROM recordings WHERE device_id = ? ORDER BY started_at DESC, id DESC LIMIT ?"),
      all: stmt(db, 
        `SELECT r.* FROM recordings r WHERE (@status IS NULL OR r.status = @status)
         ORDER BY r.started_at DESC, r.id DESC LIMIT @limit`,
      ),
      owned: stmt(db, 
        `SELECT r.* FROM recordings r JOIN devices d ON d.id = r.device_id
         WHERE d.owner_id = @ownerId AND d.deleted_at IS NULL AND (@status IS NULL OR r.status = @status)
         ORDER BY r.started_at DESC, r.id DESC LIMIT @limit`,
      ),
    };
  }

  merge(f: RecordingFacts, now: number): void {
    this.s.upsert.run({ ...f, now });
  }

  mergeView(v: RecordingView, hostId: string, now: number): void {
    this.merge({ ...v, hostId }, now);
  }

  get(id: string): RecordingView | null {
    const r = this.s.get.get(id) as Row | undefined;
    return r ? viewOf(r) : null;
  }

  listByDevice(deviceId: string, limit = 200): RecordingView[] {
    return (this.s.byDevice.all(deviceId, limit) as Row[]).map(viewOf);
  }

  /** Sessions of one owner's live devices, or (ownerId null: admins) of all devices. */
  list(opts: { ownerId: string | null; status?: RecordingView["status"] | undefined; limit: number }): RecordingView[] {
    const args = { status: opts.status ?? null, limit: opts.limit };
    const rows = opts.ownerId === null ? this.s.all.all(args) : this.s.owned.all({ ...args, ownerId: opts.ownerId });
    return (rows as Row[]).map(viewOf);
  }
}

/**
 * Inbox effect of `recording.*` events: the session as the agent committed it. Runs in the inbox transaction.
 * Events of devices this control plane does not know, or from a host the device does not belong to, change nothing.
 */
export function applyRecordingEvent(db: Db, m: EventMessage, now: number): void {
  const recordingId = m.data.recordingId;
  if (!m.deviceId || !recordingId) return;
  const dev = stmt(db, "SELECT host_id FROM devices WHERE id = ?").get(m.deviceId) as { host_id: string } | undefined;
  if (!dev || dev.host_id !== m.hostId) return;
  const store = new RecordingStore(db);
  const base = { id: recordingId, deviceId: m.deviceId, hostId: m.hostId, maxDurationMs: m.data.maxDurationMs ?? null };
  if (m.name === "recording.started") {
    store.merge({ ...base, status: "recording", startedAt: m.ts, endedAt: null, bytes: null, reason: null }, now);
  } else if (m.name === "recording.completed" || m.name === "recording.failed") {
    store.merge(
      {
        ...base,
        status: m.name === "recording.completed" ? "completed" : "failed",
        startedAt: m.ts - (m.data.durationMs ?? 0),
        endedAt: m.ts,
        bytes: m.data.bytes ?? null,
        reason: m.data.reason ?? null,
      },
      now,
    );
  }
}
