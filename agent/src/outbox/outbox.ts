import { newId } from "@cloudphone/shared-protocol";
import { nextSeq, type Db } from "../store/db.js";

export interface OutboxRow {
  seq: number;
  id: string;
  topic: string;
  payload: string;
  retain: boolean;
  deviceId: string | null;
  attempts: number;
}

export interface OutboxStats {
  pending: number;
  published: number;
  failed: number;
  oldestPendingAgeMs: number | null;
  attemptsTotal: number;
}

export interface OutboxOptions {
  maxBackoffMs: number;
  retentionDays: number;
  /** First retry delay; doubled per attempt up to maxBackoffMs. */
  baseBackoffMs?: number;
  now?: () => number;
}

/** The envelope fields the outbox assigns; the caller supplies the rest of the message. */
export interface EnvelopeStamp {
  id: string;
  seq: number;
  ts: number;
  v: 1;
}

interface RawRow {
  seq: number;
  id: string;
  topic: string;
  payload: string;
  retain: number;
  device_id: string | null;
  attempts: number;
  next_attempt_at: number;
}

/** Exponential back-off for the n-th failed attempt (n >= 1), capped. Pure. */
export function backoffDelay(attempts: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
}

/**
 * The durable outbox. `enqueue` must be called inside the caller's transaction (it allocates the seq there),
 * so a message exists if and only if the state change that produced it was committed.
 */
export class Outbox {
  private readonly now: () => number;
  private readonly baseBackoffMs: number;
  private readonly stmts;

  constructor(
    private readonly db: Db,
    private readonly opts: OutboxOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.baseBackoffMs = opts.baseBackoffMs ?? 500;
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO outbox (seq, id, topic, payload, retain, device_id, status, attempts, next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
      ),
      pending: db.prepare(
        `SELECT seq, id, topic, payload, retain, device_id, attempts, next_attempt_at FROM outbox
         WHERE status = 'pending' AND seq > ? ORDER BY seq LIMIT ?`,
      ),
      published: db.prepare(`UPDATE outbox SET status = 'published', published_at = ? WHERE seq = ? AND status = 'pending'`),
      retry: db.prepare(`UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE seq = ? AND status = 'pending' RETURNING attempts`),
      attempts: db.prepare(`SELECT attempts FROM outbox WHERE seq = ?`),
      failed: db.prepare(`UPDATE outbox SET status = 'failed', last_error = ? WHERE seq = ? AND status = 'pending'`),
      cleanup: db.prepare(`DELETE FROM outbox WHERE status = 'published' AND published_at < ?`),
      requeue: db.prepare(`UPDATE outbox SET status = 'pending', next_attempt_at = ?, last_error = NULL WHERE status = 'failed'`),
      counts: db.prepare(`SELECT status, COUNT(*) AS n, COALESCE(SUM(attempts), 0) AS attempts FROM outbox GROUP BY status`),
      oldest: db.prepare(`SELECT MIN(created_at) AS t FROM outbox WHERE status = 'pending'`),
      nextDue: db.prepare(`SELECT next_attempt_at FROM outbox WHERE status = 'pending' ORDER BY seq LIMIT 1`),
    };
  }

  /**
   * Appends one message. `build` receives the envelope (id, seq, ts, v) and returns the full message.
   * Call inside a transaction together with the state change it reports.
   */
  enqueue<T extends object>(topic: string, build: (env: EnvelopeStamp) => T, opts: { retain?: boolean; deviceId?: string | null } = {}): T & EnvelopeStamp {
    const ts = this.now();
    const env: EnvelopeStamp = { id: newId(ts), seq: nextSeq(this.db), ts, v: 1 };
    const message = { ...build(env), ...env };
    this.stmts.insert.run(env.seq, env.id, topic, JSON.stringify(message), opts.retain ? 1 : 0, opts.deviceId ?? null, ts, ts);
    return message;
  }

  /**
   * Pending rows in seq order after `afterSeq`, stopping at the first row whose back-off has not elapsed: a
   * later message never overtakes an earlier one (order per device is what the control plane relies on).
   */
  nextBatch(limit: number, afterSeq = 0): OutboxRow[] {
    const now = this.now();
    const out: OutboxRow[] = [];
    for (const r of this.stmts.pending.all(afterSeq, limit) as RawRow[]) {
      if (r.next_attempt_at > now) break;
      out.push({ seq: r.seq, id: r.id, topic: r.topic, payload: r.payload, retain: r.retain === 1, deviceId: r.device_id, attempts: r.attempts });
    }
    return out;
  }

  /** When the head of the queue becomes due (null when nothing is pending). */
  nextDueAt(): number | null {
    const r = this.stmts.nextDue.get() as { next_attempt_at: number } | undefined;
    return r ? r.next_attempt_at : null;
  }

  markPublished(seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    const now = this.now();
    this.db.transaction(() => {
      for (const s of seqs) this.stmts.published.run(now, s);
    })();
  }

  /** Counts a failed attempt and pushes the row's next attempt out exponentially (capped by maxBackoffMs). */
  markRetry(seq: number, error: string): number {
    const row = this.stmts.attempts.get(seq) as { attempts: number } | undefined;
    if (!row) return 0;
    const delay = backoffDelay(row.attempts + 1, this.baseBackoffMs, this.opts.maxBackoffMs);
    this.stmts.retry.run(error.slice(0, 2000), this.now() + delay, seq);
    return delay;
  }

  /** Parks a row that can never be sent (e.g. too large); it stays visible and can be re-queued. */
  markFailed(seq: number, reason: string): void {
    this.stmts.failed.run(reason.slice(0, 2000), seq);
  }

  requeueFailed(): number {
    return this.stmts.requeue.run(this.now()).changes;
  }

  /** Deletes published rows older than retentionDays; returns how many. */
  cleanup(now = this.now()): number {
    const cutoff = now - this.opts.retentionDays * 86_400_000;
    return this.stmts.cleanup.run(cutoff).changes;
  }

  stats(): OutboxStats {
    const s: OutboxStats = { pending: 0, published: 0, failed: 0, oldestPendingAgeMs: null, attemptsTotal: 0 };
    for (const r of this.stmts.counts.all() as { status: "pending" | "published" | "failed"; n: number; attempts: number }[]) {
      s[r.status] = r.n;
      s.attemptsTotal += r.attempts;
    }
    const oldest = this.stmts.oldest.get() as { t: number | null };
    s.oldestPendingAgeMs = oldest.t === null ? null : Math.max(0, this.now() - oldest.t);
    return s;
  }
}
