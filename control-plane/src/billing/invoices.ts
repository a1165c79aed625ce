import type { InvoiceLine } from "@cloudphone/shared-protocol";
import type { LedgerKind } from "./ledger.js";

/**
 * Pure invoice arithmetic (B4). An invoice covers one UTC calendar month (`YYYY-MM`) of a user's ledger: the opening
 * balance, the month's entries grouped by kind and device, total credits and debits, and the closing balance.
 */

const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** The UTC month containing `ms`. */
export function periodOf(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getUTCFullYear()).padStart(4, "0")}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

/** `[start, end)` of a month in epoch ms. */
export function periodBounds(period: string): { start: number; end: number } {
  const m = PERIOD.exec(period);
  if (!m) throw new RangeError(`not a period (YYYY-MM): ${period}`);
  const year = Number(m[1]);
  const month = Number(m[2]) - 1;
  return { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1) };
}

/** Every month from `first` to `last` inclusive, oldest first. */
export function periodsBetween(first: string, last: string): string[] {
  const out: string[] = [];
  for (let p = first; p <= last; p = periodOf(periodBounds(p).end)) out.push(p);
  return out;
}

export interface InvoiceEntry {
  kind: LedgerKind;
  /** Signed, as in the ledger. */
  amountMinor: number;
  deviceId: string | null;
}

export interface InvoiceTotals {
  openingMinor: number;
  creditsMinor: number;
  debitsMinor: number;
  closingMinor: number;
  lines: InvoiceLine[];
}

const KIND_ORDER: readonly LedgerKind[] = ["recharge", "refund", "adjustment", "deduct", "usage"];

/** Totals and lines of one month from its opening balance and its entries. closing = opening + credits - debits. */
export function buildInvoice(openingMinor: number, entries: readonly InvoiceEntry[]): InvoiceTotals {
  const lines = new Map<string, InvoiceLine>();
  let credits = 0;
  let debits = 0;
  for (const e of entries) {
    if (e.amountMinor >= 0) credits += e.amountMinor;
    else debits -= e.amountMinor;
    const key = `${e.kind}\u0000${e.deviceId ?? ""}`;
    const line = lines.get(key) ?? { kind: e.kind, deviceId: e.deviceId, entries: 0, amountMinor: 0 };
    line.entries += 1;
    line.amountMinor += e.amountMinor;
    lines.set(key, line);
  }
  const sorted = [...lines.values()].sort(
    (a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || (a.deviceId ?? "").localeCompare(b.deviceId ?? ""),
  );
  return { openingMinor, creditsMinor: credits, debitsMinor: debits, closingMinor: openingMinor + credits - debits, lines: sorted };
}
