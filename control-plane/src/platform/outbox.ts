import type { Db } from "../store/db.js";
import type { DeliveredEvent } from "../notify/notifier.js";

/** SQL access to `platform_outbox` (rows written by `recordPlatformEvent`, read by the relay and the notification API). */

export interface OutboxRow {
  seq: number;
  id: string;
  name: string;
  user_id: string | null;
  device_id: string | null;
  data: string;
  request_id: string | null;
  status: "pending" | "published" | "failed";
  attempts: number;
  last_error: string | null;
  next_attempt_at: number;
  created_at: number;
  published_at: number | null;
}

export function toDelivered(r: OutboxRow): DeliveredEvent {
  let data: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(r.data);
    data = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { value: parsed };
  } catch {
    data = {}; // written by JSON.stringify, so unreachable unless the row was edited by hand
  }
  return {
    seq: r.seq,
    id: r.id,
    name: r.name,
    userId: r.user_id,
    deviceId: r.device_id,
    data,
    requestId: r.request_id,
    createdAt: r.created_at,
  };
}

export interface OutboxStats {
  pending: number;
  published: number;
  failed: number;
  /** Age of the oldest pending row (ms), 0 when none. */
  oldestPendingAgeMs: number;
  /** Sum of attempts over pending and failed rows (published rows keep theirs too, but are not counted here). */
  attemptsTotal: number;
}

/** Counts per status; cheap (index on status, seq). */
export function platformOutboxStats(db: Db, now = Date.now()): OutboxStats {
  const rows = db.prepare("SELECT status, COUNT(*) AS n FROM platform_outbox GROUP BY status").all() as { status: string; n: number }[];
  const by = Object.fromEntries(rows.map((r) => [r.status, r.n])) as Record<string, number | undefined>;
  const agg = db
    .prepare(
      `SELECT MIN(CASE WHEN status = 'pending' THEN created_at END) AS oldest,
              COALESCE(SUM(CASE WHEN status != 'published' THEN attempts END), 0) AS attempts
       FROM platform_outbox WHERE status IN ('pending', 'failed')`,
    )
    .get() as { oldest: number | null; attempts: number };
  return {
    pending: by.pending ?? 0,
    published: by.published ?? 0,
    failed: by.failed ?? 0,
    oldestPendingAgeMs: agg.oldest === null ? 0 : Math.max(0, now - agg.oldest),
    attemptsTotal: agg.attempts,
  };
}

/** The relay's prepared statements over one connection. */
export class OutboxStore {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      maxSeq: db.prepare("SELECT COALESCE(MAX(seq), 0) AS seq FROM platform_outbox"),
      after: db.prepare("SELECT * FROM platform_outbox WHERE seq > ? ORDER BY seq LIMIT ?"),
      due: db.prepare("SELECT * FROM platform_outbox WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY seq LIMIT ?"),
      published: db.prepare("UPDATE platform_outbox SET status = 'published', published_at = ?, attempts = attempts + 1, last_error = NULL WHERE seq = ? AND status = 'pending'"),
      retry: db.prepare("UPDATE platform_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE seq = ? AND status = 'pending'"),
      failed: db.prepare("UPDATE platform_outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE seq = ? AND status = 'pending'"),
      cleanup: db.prepare("DELETE FROM platform_outbox WHERE status = 'published' AND published_at < ?"),
    };
  }

  maxSeq(): number {
    return (this.s.maxSeq.get() as { seq: number }).seq;
  }

  /** Every row (any status) after `seq`, in commit order: what live subscribers have not been handed yet. */
  after(seq: number, limit: number): OutboxRow[] {
    return this.s.after.all(seq, limit) as OutboxRow[];
  }

  /** Pending rows whose back-off has elapsed, in seq order. */
  due(now: number, limit: number): OutboxRow[] {
    return this.s.due.all(now, limit) as OutboxRow[];
  }

  /** Applies one batch of publish outcomes in a single transaction (one commit per batch, not per row). */
  settle(outcomes: readonly PublishOutcome[], now: number): void {
    this.db.transaction(() => {
      for (const o of outcomes) {
        if (o.type === "published") this.s.published.run(now, o.seq);
        else if (o.type === "retry") this.s.retry.run(o.error.slice(0, 1000), o.nextAttemptAt, o.seq);
        else this.s.failed.run(o.error.slice(0, 1000), o.seq);
      }
    })();
  }

  /** Deletes published rows older than `before` (ms); returns how many. */
  cleanup(before: number): number {
    return this.s.cleanup.run(before).changes;
  }
}

export type PublishOutcome =
  | { type: "published"; seq: number }
  | { type: "retry"; seq: number; error: string; nextAttemptAt: number }
  | { type: "failed"; seq: number; error: string };

export interface ListQuery {
  /** null: every user's events (admins with `all=true`). */
  userId: string | null;
  /** Only rows with seq > since; null: the newest `limit` rows. */
  since: number | null;
  limit: number;
}

/**
 * Events visible to one user (or all), ascending by seq. With `since`, the oldest `limit` after it (paging forward);
 * with `newest`, the newest `limit` after it (catching up a live stream, where the most recent events matter most).
 */
export function listPlatformEvents(db: Db, q: ListQuery, order: "oldest" | "newest" = "oldest"): OutboxRow[] {
  const dir = q.since === null || order === "newest" ? "DESC" : "ASC";
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (q.userId !== null) {
    where.push("user_id = ?");
    args.push(q.userId);
  }
  if (q.since !== null) {
    where.push("seq > ?");
    args.push(q.since);
  }
  const sql = `SELECT * FROM platform_outbox ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY seq ${dir} LIMIT ?`;
  const rows = db.prepare(sql).all(...args, q.limit) as OutboxRow[];
  return dir === "DESC" ? rows.reverse() : rows;
}
