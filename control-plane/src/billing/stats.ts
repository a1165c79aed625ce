import type { StatsView } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { periodBounds, periodOf } from "./invoices.js";

/** Operator statistics (B4), read in one snapshot (a read transaction) so the figures agree with each other. */
export function platformStats(db: Db, currency: string, now = Date.now()): StatsView {
  return db.transaction((): StatsView => {
    const midnight = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate());
    const users = db
      .prepare("SELECT COUNT(*) AS total, COALESCE(SUM(created_at >= ?), 0) AS newToday FROM users WHERE status = 'active'")
      .get(midnight) as StatsView["users"];
    const byStateRows = db
      .prepare("SELECT state, COUNT(*) AS n FROM devices WHERE deleted_at IS NULL GROUP BY state ORDER BY state")
      .all() as { state: string; n: number }[];
    const byState = Object.fromEntries(byStateRows.map((r) => [r.state, r.n]));
    const devices = { total: byStateRows.reduce((s, r) => s + r.n, 0), online: byState["running"] ?? 0, byState };
    const hosts = db
      .prepare("SELECT COUNT(*) AS total, COALESCE(SUM(status = 'online'), 0) AS online FROM hosts WHERE revoked_at IS NULL")
      .get() as StatsView["hosts"];
    const plans = db
      .prepare(
        `SELECT p.id AS planId, p.name,
           (SELECT COUNT(*) FROM orders o WHERE o.plan_id = p.id AND o.status = 'active') AS activeOrders,
           (SELECT COUNT(*) FROM devices d WHERE d.plan_id = p.id AND d.deleted_at IS NULL AND d.desired != 'deleted') AS liveDevices
         FROM plans p ORDER BY p.created_at, p.id`,
      )
      .all() as StatsView["plans"];
    const period = periodOf(now);
    const { start, end } = periodBounds(period);
    const sums = db
      .prepare(
        `SELECT COALESCE(-SUM(CASE WHEN kind = 'deduct' THEN amount_minor END), 0) AS payments,
                COALESCE(-SUM(CASE WHEN kind = 'usage' THEN amount_minor END), 0) AS usage,
                COALESCE(SUM(CASE WHEN kind = 'refund' THEN amount_minor END), 0) AS refunds
         FROM ledger_entries WHERE created_at >= ? AND created_at < ?`,
      )
      .get(start, end) as { payments: number; usage: number; refunds: number };
    return {
      users,
      devices,
      hosts,
      plans,
      revenue: {
        period,
        currency,
        paymentsMinor: sums.payments,
        usageMinor: sums.usage,
        refundsMinor: sums.refunds,
        netMinor: sums.payments + sums.usage - sums.refunds,
      },
      at: now,
    };
  })();
}
