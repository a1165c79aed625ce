import type { UsageModel } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { chargeRecord, type Meter } from "./charges.js";
import type { Ledger } from "./ledger.js";

/**
 * Charges agent usage records (B3). One record = one IMMEDIATE transaction: device meter, ledger entry
 * (`usage:<recordId>`) and the record's `charged_at` commit together, so a crash anywhere leaves the record either
 * fully charged or untouched, and re-running never charges twice.
 */

export interface ChargeOutcome {
  recordId: string;
  /**
   * charged: posted (possibly 0 inside a paid unit); free: not billable (no plan, no account owner, failed purchase);
   * deferred: the device's purchase is still pending, left uncharged; already: done before; missing: no such record.
   */
  status: "charged" | "free" | "deferred" | "already" | "missing";
  userId: string | null;
  chargeMinor: number;
}

interface RecordRow {
  record_id: string;
  device_id: string;
  from_ms: number;
  to_ms: number;
  charged_at: number | null;
}

export class UsageCharger {
  private readonly s;

  constructor(
    private readonly db: Db,
    private readonly ledger: Ledger,
  ) {
    this.s = {
      record: db.prepare("SELECT record_id, device_id, from_ms, to_ms, charged_at FROM usage_records WHERE record_id = ?"),
      device: db.prepare(
        `SELECT d.owner_id, p.usage_model, p.usage_rate_minor, (SELECT 1 FROM users u WHERE u.id = d.owner_id) AS owner_exists,
           o.status AS order_status
         FROM devices d LEFT JOIN plans p ON p.id = d.plan_id LEFT JOIN orders o ON o.id = d.order_id WHERE d.id = ?`,
      ),
      meter: db.prepare("SELECT metered_ms AS meteredMs, charged_units AS chargedUnits, charged_minor AS chargedMinor FROM device_meters WHERE device_id = ?"),
      saveMeter: db.prepare(
        `INSERT INTO device_meters (device_id, metered_ms, charged_units, charged_minor, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET metered_ms = excluded.metered_ms, charged_units = excluded.charged_units,
           charged_minor = excluded.charged_minor, updated_at = excluded.updated_at`,
      ),
      markCharged: db.prepare("UPDATE usage_records SET charged_at = ?, charge_minor = ? WHERE record_id = ?"),
      pending: db.prepare(
        `SELECT record_id AS recordId, received_at AS receivedAt FROM usage_records
         WHERE charged_at IS NULL AND (received_at > ? OR (received_at = ? AND record_id > ?)) ORDER BY received_at, record_id LIMIT ?`,
      ),
    };
  }

  /** Charges one record; safe to call any number of times. Throws only on a database error or an impossible post. */
  charge(recordId: string, now = Date.now()): ChargeOutcome {
    return this.db
      .transaction((): ChargeOutcome => {
        const rec = this.s.record.get(recordId) as RecordRow | undefined;
        if (!rec) return { recordId, status: "missing", userId: null, chargeMinor: 0 };
        if (rec.charged_at !== null) return { recordId, status: "already", userId: null, chargeMinor: 0 };
        const dev = this.s.device.get(rec.device_id) as
          | { owner_id: string | null; usage_model: UsageModel | null; usage_rate_minor: number | null; owner_exists: number | null; order_status: string | null }
          | undefined;
        // A purchase still in progress decides later whether this time is billable: leave the record for a later tick.
        if (dev?.order_status === "pending") return { recordId, status: "deferred", userId: dev.owner_id, chargeMinor: 0 };
        const meter = (this.s.meter.get(rec.device_id) as Meter | undefined) ?? { meteredMs: 0, chargedUnits: 0, chargedMinor: 0 };
        const durationMs = rec.to_ms - rec.from_ms;
        const orderVoid = dev?.order_status === "failed" || dev?.order_status === "cancelled";
        const billable = dev?.owner_id && dev.owner_exists === 1 && dev.usage_model !== null && dev.usage_rate_minor !== null && !orderVoid;
        if (!billable) {
          // Unknown device, no plan (admin fleet device), an owner that is not an account, or a purchase that failed
          // or was cancelled (the user never got the device): metered, never charged.
          this.s.saveMeter.run(rec.device_id, meter.meteredMs + durationMs, meter.chargedUnits, meter.chargedMinor, now);
          this.s.markCharged.run(now, 0, recordId);
          return { recordId, status: "free", userId: dev?.owner_id ?? null, chargeMinor: 0 };
        }
        const userId = dev.owner_id!;
        const step = chargeRecord(meter, durationMs, { usageModel: dev.usage_model!, usageRateMinor: dev.usage_rate_minor! });
        if (step.deltaMinor > 0) {
          // Usage may take the balance below zero: the time has already been consumed and is owed (suspension follows).
          const r = this.ledger.post(
            {
              userId,
              kind: "usage",
              amountMinor: step.deltaMinor,
              idempotencyKey: `usage:${recordId}`,
              deviceId: rec.device_id,
              description: `${step.deltaUnits} × ${dev.usage_model} at ${dev.usage_rate_minor}`,
            },
            now,
          );
          if (!r.ok) throw new Error(`usage charge for record ${recordId} refused: ${r.code}: ${r.message}`);
        }
        this.s.saveMeter.run(rec.device_id, step.meter.meteredMs, step.meter.chargedUnits, step.meter.chargedMinor, now);
        this.s.markCharged.run(now, step.deltaMinor, recordId);
        return { recordId, status: "charged", userId, chargeMinor: step.deltaMinor };
      })
      .immediate();
  }

  /**
   * Charges up to `limit` uncharged records in arrival order, starting after `cursor` (so a record that keeps failing
   * is skipped for the rest of a pass instead of blocking it). Returns the outcomes, failures and the new cursor.
   */
  chargeBatch(
    limit: number,
    cursor: { receivedAt: number; recordId: string } = { receivedAt: -1, recordId: "" },
    now = Date.now(),
  ): { outcomes: ChargeOutcome[]; failures: { recordId: string; error: Error }[]; cursor: { receivedAt: number; recordId: string }; more: boolean } {
    const rows = this.s.pending.all(cursor.receivedAt, cursor.receivedAt, cursor.recordId, limit) as { recordId: string; receivedAt: number }[];
    const outcomes: ChargeOutcome[] = [];
    const failures: { recordId: string; error: Error }[] = [];
    for (const r of rows) {
      try {
        outcomes.push(this.charge(r.recordId, now));
      } catch (e) {
        failures.push({ recordId: r.recordId, error: e as Error });
      }
    }
    const last = rows.at(-1);
    return { outcomes, failures, cursor: last ? { receivedAt: last.receivedAt, recordId: last.recordId } : cursor, more: rows.length === limit };
  }
}
