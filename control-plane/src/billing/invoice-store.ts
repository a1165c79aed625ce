import { newId, type InvoiceLine, type InvoiceView } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { buildInvoice, periodBounds, periodOf, periodsBetween, type InvoiceEntry } from "./invoices.js";

/**
 * Monthly invoices from the ledger (B4). A month that has ended is computed once, the first time it is asked for,
 * and stored as `final` (UNIQUE(user_id, period) makes concurrent first requests store one row); the current month
 * is computed live on every request and returned as `open` without being stored.
 */

interface InvoiceRow {
  user_id: string;
  period: string;
  opening_minor: number;
  credits_minor: number;
  debits_minor: number;
  closing_minor: number;
  lines: string;
  status: "open" | "final";
}

function toView(r: InvoiceRow, currency: string): InvoiceView {
  return {
    userId: r.user_id,
    period: r.period,
    status: r.status,
    currency,
    openingMinor: r.opening_minor,
    creditsMinor: r.credits_minor,
    debitsMinor: r.debits_minor,
    closingMinor: r.closing_minor,
    lines: JSON.parse(r.lines) as InvoiceLine[],
  };
}

/** The first month with a ledger entry for the user, or null without entries. */
function firstPeriod(db: Db, userId: string): string | null {
  const r = db.prepare("SELECT MIN(created_at) AS t FROM ledger_entries WHERE user_id = ?").get(userId) as { t: number | null };
  return r.t === null ? null : periodOf(r.t);
}

function compute(db: Db, userId: string, period: string) {
  const { start, end } = periodBounds(period);
  // Opening = everything before the month; by construction it equals balance_after of the last earlier entry.
  const opening = (db.prepare("SELECT COALESCE(SUM(amount_minor), 0) AS s FROM ledger_entries WHERE user_id = ? AND created_at < ?").get(userId, start) as { s: number }).s;
  const entries = db
    .prepare("SELECT kind, amount_minor AS amountMinor, device_id AS deviceId FROM ledger_entries WHERE user_id = ? AND created_at >= ? AND created_at < ? ORDER BY id")
    .all(userId, start, end) as InvoiceEntry[];
  return buildInvoice(opening, entries);
}

/**
 * One user's invoice for `period`, or null when the month is in the future or before the user's first ledger entry
 * (the current month always exists, possibly empty).
 */
export function getInvoice(db: Db, userId: string, period: string, currency: string, now = Date.now()): InvoiceView | null {
  const current = periodOf(now);
  if (period > current) return null;
  if (period < current) {
    const first = firstPeriod(db, userId);
    if (first === null || period < first) return null;
  }
  if (periodBounds(period).end > now) {
    const t = compute(db, userId, period);
    return { userId, period, status: "open", currency, ...t };
  }
  const select = db.prepare("SELECT * FROM invoices WHERE user_id = ? AND period = ?");
  const stored = select.get(userId, period) as InvoiceRow | undefined;
  if (stored) return toView(stored, currency);
  db.transaction(() => {
    const t = compute(db, userId, period);
    db.prepare(
      `INSERT OR IGNORE INTO invoices (id, user_id, period, opening_minor, credits_minor, debits_minor, closing_minor, lines, status, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'final', ?, ?)`,
    ).run(newId(now), userId, period, t.openingMinor, t.creditsMinor, t.debitsMinor, t.closingMinor, JSON.stringify(t.lines), now, now);
  }).immediate();
  return toView(select.get(userId, period) as InvoiceRow, currency);
}

/** Every invoice of a user, newest month first: from the month of the first ledger entry to the current month. */
export function listInvoices(db: Db, userId: string, currency: string, now = Date.now()): InvoiceView[] {
  const current = periodOf(now);
  const first = firstPeriod(db, userId) ?? current;
  return periodsBetween(first, current)
    .reverse()
    .map((p) => getInvoice(db, userId, p, currency, now))
    .filter((i): i is InvoiceView => i !== null);
}

/** All users' invoices for one month (users with a ledger entry before the month ended), ordered by user id. */
export function invoicesForPeriod(db: Db, period: string, currency: string, now = Date.now()): InvoiceView[] {
  if (period > periodOf(now)) return [];
  const { end } = periodBounds(period);
  const users = db.prepare("SELECT DISTINCT user_id AS userId FROM ledger_entries WHERE created_at < ? ORDER BY user_id").all(end) as { userId: string }[];
  return users.map((u) => getInvoice(db, u.userId, period, currency, now)).filter((i): i is InvoiceView => i !== null);
}
