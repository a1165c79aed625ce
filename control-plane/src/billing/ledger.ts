import type { Db } from "../store/db.js";
import { recordPlatformEvent } from "../platform/record.js";

/**
 * The append-only ledger (B1). Every balance change is one `ledger_entries` row in integer minor units, keyed by an
 * idempotency key (`order:<id>:pay`, `usage:<recordId>`, ...): posting the same key twice returns the first entry.
 * `balances` is a cache of the running sum, updated in the same transaction; `verifyBalances` re-derives it.
 */

export const LEDGER_KINDS = ["recharge", "deduct", "refund", "usage", "adjustment"] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

/** Largest single amount accepted anywhere (10^12 minor units); keeps every sum far inside the safe-integer range. */
export const MAX_AMOUNT_MINOR = 1_000_000_000_000;

export interface LedgerEntry {
  id: number;
  userId: string;
  kind: LedgerKind;
  /** Signed: positive credits, negative debits. */
  amountMinor: number;
  balanceAfterMinor: number;
  idempotencyKey: string;
  orderId: string | null;
  deviceId: string | null;
  description: string;
  requestId: string | null;
  createdAt: number;
}

export interface PostRequest {
  userId: string;
  kind: LedgerKind;
  /** Positive amount; the kind decides the sign (recharge/refund credit, deduct/usage debit; adjustment signed). */
  amountMinor: number;
  idempotencyKey: string;
  orderId?: string | null;
  deviceId?: string | null;
  description?: string;
  requestId?: string | null;
}

export type PostResult =
  | { ok: true; entry: LedgerEntry; duplicate: boolean }
  | { ok: false; code: "insufficient_funds"; message: string; balanceMinor: number; requiredMinor: number }
  | { ok: false; code: "idempotency_conflict" | "invalid_amount"; message: string };

export interface LedgerPolicy {
  /** `billing.low_balance` fires once when a debit takes the balance below this; re-armed when it rises above. */
  lowBalanceThresholdMinor: number;
}

interface EntryRow {
  id: number;
  user_id: string;
  kind: LedgerKind;
  amount_minor: number;
  balance_after_minor: number;
  idempotency_key: string;
  order_id: string | null;
  device_id: string | null;
  description: string;
  request_id: string | null;
  created_at: number;
}

function toEntry(r: EntryRow): LedgerEntry {
  return {
    id: r.id,
    userId: r.user_id,
    kind: r.kind,
    amountMinor: r.amount_minor,
    balanceAfterMinor: r.balance_after_minor,
    idempotencyKey: r.idempotency_key,
    orderId: r.order_id,
    deviceId: r.device_id,
    description: r.description,
    requestId: r.request_id,
    createdAt: r.created_at,
  };
}

/** Signed delta of a post; pure. Deducts refuse to go below zero, usage may (time already consumed is still owed). */
export function signedAmount(kind: LedgerKind, amountMinor: number): number {
  return kind === "recharge" || kind === "refund" ? amountMinor : kind === "adjustment" ? amountMinor : -amountMinor;
}

export class Ledger {
  private readonly s;

  constructor(
    private readonly db: Db,
    private readonly policy: LedgerPolicy,
  ) {
    this.s = {
      byKey: db.prepare("SELECT * FROM ledger_entries WHERE idempotency_key = ?"),
      balance: db.prepare("SELECT balance_minor, low_notified, depleted_since FROM balances WHERE user_id = ?"),
      insertBalance: db.prepare("INSERT OR IGNORE INTO balances (user_id, balance_minor, updated_at) VALUES (?, 0, ?)"),
      setBalance: db.prepare("UPDATE balances SET balance_minor = ?, low_notified = ?, depleted_since = ?, updated_at = ? WHERE user_id = ?"),
      insert: db.prepare(
        `INSERT INTO ledger_entries (user_id, kind, amount_minor, balance_after_minor, idempotency_key, order_id, device_id, description, request_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      byId: db.prepare("SELECT * FROM ledger_entries WHERE id = ?"),
      entries: db.prepare("SELECT * FROM ledger_entries WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?"),
    };
  }

  /** Current balance (0 for a user without entries). */
  balance(userId: string): number {
    const r = this.s.balance.get(userId) as { balance_minor: number } | undefined;
    return r?.balance_minor ?? 0;
  }

  /** Entries newest first, paged by id. */
  entries(userId: string, opts: { beforeId?: number; limit: number }): LedgerEntry[] {
    return (this.s.entries.all(userId, opts.beforeId ?? Number.MAX_SAFE_INTEGER, opts.limit) as EntryRow[]).map(toEntry);
  }

  /**
   * Posts one entry in an IMMEDIATE transaction (a savepoint when the caller already holds one), so concurrent
   * deducts are serialised and can never drive a balance negative.
   */
  post(req: PostRequest, now = Date.now()): PostResult {
    const valid =
      Number.isSafeInteger(req.amountMinor) &&
      req.amountMinor !== 0 &&
      Math.abs(req.amountMinor) <= MAX_AMOUNT_MINOR &&
      (req.kind === "adjustment" || req.amountMinor > 0);
    if (!valid) {
      return { ok: false, code: "invalid_amount", message: `amount must be a non-zero integer number of minor units up to ${MAX_AMOUNT_MINOR}` };
    }
    return this.db.transaction((): PostResult => {
      const existing = this.s.byKey.get(req.idempotencyKey) as EntryRow | undefined;
      if (existing) {
        if (existing.user_id !== req.userId || existing.kind !== req.kind || Math.abs(existing.amount_minor) !== Math.abs(req.amountMinor)) {
          return { ok: false, code: "idempotency_conflict", message: `idempotency key ${req.idempotencyKey} was already used for a different entry` };
        }
        return { ok: true, entry: toEntry(existing), duplicate: true };
      }
      this.s.insertBalance.run(req.userId, now);
      const bal = this.s.balance.get(req.userId) as { balance_minor: number; low_notified: number; depleted_since: number | null };
      const delta = signedAmount(req.kind, req.amountMinor);
      const after = bal.balance_minor + delta;
      if (req.kind === "deduct" && after < 0) {
        return {
          ok: false,
          code: "insufficient_funds",
          message: `balance ${bal.balance_minor} is less than the ${req.amountMinor} required`,
          balanceMinor: bal.balance_minor,
          requiredMinor: req.amountMinor,
        };
      }
      const info = this.s.insert.run(req.userId, req.kind, delta, after, req.idempotencyKey, req.orderId ?? null, req.deviceId ?? null,
        req.description ?? "", req.requestId ?? null, now);
      const threshold = this.policy.lowBalanceThresholdMinor;
      let lowNotified = bal.low_notified;
      if (delta < 0 && after < threshold && bal.balance_minor >= threshold && lowNotified === 0) {
        lowNotified = 1;
        recordPlatformEvent(this.db, { name: "billing.low_balance", userId: req.userId, data: { balanceMinor: after, thresholdMinor: threshold }, requestId: req.requestId ?? null }, now);
      } else if (after >= threshold) {
        lowNotified = 0;
      }
      let depletedSince = bal.depleted_since;
      if (after <= 0 && depletedSince === null) {
        depletedSince = now;
        recordPlatformEvent(this.db, { name: "billing.funds_depleted", userId: req.userId, data: { balanceMinor: after }, requestId: req.requestId ?? null }, now);
      } else if (after > 0 && depletedSince !== null) {
        depletedSince = null;
        recordPlatformEvent(this.db, { name: "billing.funds_restored", userId: req.userId, data: { balanceMinor: after }, requestId: req.requestId ?? null }, now);
      }
      this.s.setBalance.run(after, lowNotified, depletedSince, now, req.userId);
      return { ok: true, entry: toEntry(this.s.byId.get(info.lastInsertRowid) as EntryRow), duplicate: false };
    }).immediate();
  }
}

/** Re-derives every balance from the ledger; returns the users whose cached balance disagrees (empty = consistent). */
export function verifyBalances(db: Db): { userId: string; cachedMinor: number; derivedMinor: number }[] {
  return db
    .prepare(
      `SELECT COALESCE(b.user_id, l.user_id) AS userId, COALESCE(b.balance_minor, 0) AS cachedMinor, COALESCE(l.total, 0) AS derivedMinor
       FROM balances b FULL OUTER JOIN (SELECT user_id, SUM(amount_minor) AS total FROM ledger_entries GROUP BY user_id) l ON l.user_id = b.user_id
       WHERE COALESCE(b.balance_minor, 0) != COALESCE(l.total, 0)`,
    )
    .all() as { userId: string; cachedMinor: number; derivedMinor: number }[];
}
