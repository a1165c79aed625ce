import { DeviceStatus } from "@cloudphone/shared-protocol";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Db } from "../store/db.js";
import type { MetricsSources } from "./metrics.js";

/**
 * Metrics computed at scrape time from SQLite and in-process counters. Every query is one aggregate over an indexed
 * or small table; a failing query (database closed during shutdown) leaves the family empty instead of failing the
 * whole scrape. Known label values are always exported (as 0) so that absent series never hide a state.
 */

const SAGA_STATUSES = ["running", "compensating", "completed", "compensated", "compensation_failed"];
const LEDGER_KINDS = ["recharge", "deduct", "refund", "usage", "adjustment"];
const OUTBOX_STATUSES = ["pending", "published", "failed"];
const HOST_STATUSES = ["online", "offline", "never", "revoked"];
const DEVICE_STATES: readonly string[] = DeviceStatus.options;
const ROLES = ["user", "admin"];

type Row = Record<string, string | number | null>;

function query(db: Db, sql: string): Row[] {
  try {
    return db.open ? (db.prepare(sql).all() as Row[]) : [];
  } catch {
    return [];
  }
}

/** A gauge whose values are replaced at every scrape by `read()` → [labels, value][]. */
function scrapedGauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => [Partial<Record<L, string>>, number][],
): void {
  new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/** A counter mirrored from an in-process counter at scrape time (resets with the process, as counters may). */
function mirroredCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => [Partial<Record<L, string>>, number][],
): void {
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

/** Counts grouped by one column, with every known value present. */
function grouped(db: Db, sql: string, known: readonly string[], label: string): [Record<string, string>, number][] {
  const counts = new Map<string, number>(known.map((k) => [k, 0]));
  for (const r of query(db, sql)) counts.set(String(r.k), Number(r.n ?? 0));
  return [...counts].map(([k, n]) => [{ [label]: k }, n]);
}

const scalar = (db: Db, sql: string): number => Number(query(db, sql)[0]?.n ?? 0);

export function registerStoreCollectors(registry: Registry, { db, inboxStats, notifier }: MetricsSources): void {
  scrapedGauge(registry, "cloudphone_sagas", "Purchase sagas by status (completed and compensated are outcomes; running/compensating are open).", ["status"], () =>
    grouped(db, "SELECT status AS k, COUNT(*) AS n FROM sagas GROUP BY status", SAGA_STATUSES, "status"),
  );
  scrapedGauge(registry, "cloudphone_ledger_entries", "Ledger entries (balance operations) by kind.", ["kind"], () =>
    grouped(db, "SELECT kind AS k, COUNT(*) AS n FROM ledger_entries GROUP BY kind", LEDGER_KINDS, "kind"),
  );
  scrapedGauge(registry, "cloudphone_ledger_amount_minor", "Sum of ledger amounts by kind, in minor currency units (signed).", ["kind"], () =>
    grouped(db, "SELECT kind AS k, SUM(amount_minor) AS n FROM ledger_entries GROUP BY kind", LEDGER_KINDS, "kind"),
  );
  scrapedGauge(registry, "cloudphone_balances_total_minor", "Sum of all users' balances, in minor currency units.", [], () => [
    [{}, scalar(db, "SELECT COALESCE(SUM(balance_minor), 0) AS n FROM balances")],
  ]);
  scrapedGauge(registry, "cloudphone_balances_depleted", "Users whose balance is zero or negative.", [], () => [
    [{}, scalar(db, "SELECT COUNT(*) AS n FROM balances WHERE balance_minor <= 0")],
  ]);
  scrapedGauge(registry, "cloudphone_platform_outbox", "Platform events in the control plane's outbox by status.", ["status"], () =>
    grouped(db, "SELECT status AS k, COUNT(*) AS n FROM platform_outbox GROUP BY status", OUTBOX_STATUSES, "status"),
  );
  scrapedGauge(registry, "cloudphone_platform_outbox_oldest_pending_seconds", "Age of the oldest pending platform event (0 when none).", [], () => {
    const oldest = query(db, "SELECT MIN(created_at) AS n FROM platform_outbox WHERE status = 'pending'")[0]?.n;
    return [[{}, oldest === null || oldest === undefined ? 0 : Math.max(0, (Date.now() - Number(oldest)) / 1000)]];
  });
  scrapedGauge(registry, "cloudphone_commands_pending", "Device commands without a result from their host yet (command backlog).", [], () => [
    [{}, scalar(db, "SELECT COUNT(*) AS n FROM commands WHERE result_at IS NULL")],
  ]);
  scrapedGauge(registry, "cloudphone_hosts", "Hosts by presence (online = connected); revoked hosts count as revoked only.", ["status"], () =>
    grouped(db, "SELECT CASE WHEN revoked_at IS NOT NULL THEN 'revoked' ELSE status END AS k, COUNT(*) AS n FROM hosts GROUP BY k", HOST_STATUSES, "status"),
  );
  scrapedGauge(registry, "cloudphone_devices", "Live (not deleted) devices by reported state.", ["state"], () =>
    grouped(db, "SELECT state AS k, COUNT(*) AS n FROM devices WHERE deleted_at IS NULL GROUP BY state", DEVICE_STATES, "state"),
  );
  scrapedGauge(registry, "cloudphone_users", "Active (not deleted) users by role.", ["role"], () =>
    grouped(db, "SELECT role AS k, COUNT(*) AS n FROM users WHERE status = 'active' GROUP BY role", ROLES, "role"),
  );
  scrapedGauge(registry, "cloudphone_rejected_messages_stored", "Parked uplink messages in rejected_messages (persistent).", [], () => [
    [{}, scalar(db, "SELECT COUNT(*) AS n FROM rejected_messages")],
  ]);
  if (notifier) {
    scrapedGauge(registry, "cloudphone_notification_subscribers", "Live notification (SSE) subscribers.", [], () => [[{}, notifier.listenerCount]]);
  }
  if (inboxStats) {
    mirroredCounter(registry, "cloudphone_inbox_accepted_total", "Uplink messages accepted by the inbox since start, by kind.", ["kind"], () =>
      Object.entries(inboxStats.accepted).map(([kind, n]) => [{ kind }, n]),
    );
    mirroredCounter(registry, "cloudphone_inbox_duplicates_total", "Duplicate uplink messages ignored by the inbox since start.", [], () => [
      [{}, inboxStats.duplicates],
    ]);
    mirroredCounter(registry, "cloudphone_inbox_rejected_total", "Uplink messages rejected and parked since start, by reject code.", ["code"], () =>
      Object.entries(inboxStats.rejected).map(([code, n]) => [{ code }, n]),
    );
    mirroredCounter(registry, "cloudphone_inbox_batches_total", "Inbox group commits since start.", [], () => [[{}, inboxStats.batches]]);
    mirroredCounter(registry, "cloudphone_mqtt_acl_refusals_total", "Embedded broker refusals since start (publish, subscribe, auth).", ["kind"], () => [
      [{ kind: "publish" }, inboxStats.acl.publishDenied],
      [{ kind: "subscribe" }, inboxStats.acl.subscribeDenied],
      [{ kind: "auth" }, inboxStats.acl.authFailed],
    ]);
  }
}
