import { newId, type SagaStatus, type SagaStep } from "@cloudphone/shared-protocol";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import type { Ledger } from "../billing/ledger.js";
import type { CommandPublisher } from "../devices/publisher.js";
import { applyDeviceAction, createDevice } from "../devices/registry.js";
import type { QuotaLimits } from "../quota/quota.js";
import { grantPlanQuota } from "../quota/store.js";
import { recordPlatformEvent } from "../platform/record.js";
import { STEP_AFTER, type CompensationAction, type ForwardAction, type SagaFailure } from "./saga.js";
import { appendLog, loadSaga, payKey, refundKey, userIsActive, type SagaData, type SagaRecord } from "./store.js";
import { plucked, stmt } from "../store/statements.js";
import { crashIfFaultStep } from "./fault.js";

/**
 * One transaction per saga step (B2). Each re-reads the saga and checks it is still at the (status, step) the caller
 * decided on — a compare-and-set — so two drivers can never both do a step, and a step's effect (device insert, ledger
 * entry, order update) commits together with the step that records it.
 */

export interface StepDeps {
  db: Db;
  log: Logger;
  config: Config;
  ledger: Ledger;
  publisher: CommandPublisher;
}

/** The saga moved on (another driver, a cancel) since the caller read it: nothing was done; re-read and decide again. */
export class StaleSaga extends Error {
  override readonly name = "StaleSaga";
}

/** A business refusal (quota, capacity, funds): retrying cannot help, so the saga compensates at once. */
export class BusinessFailure extends Error {
  override readonly name = "BusinessFailure";
  constructor(readonly failure: SagaFailure) {
    super(`${failure.code}: ${failure.message}`);
  }
}

export interface Expected {
  id: string;
  status: SagaStatus;
  step: SagaStep;
}

/** Inside a transaction: the saga as it is now, or StaleSaga when it is no longer where the caller expects it. */
function claim(db: Db, e: Expected): SagaRecord {
  const s = loadSaga(db, e.id);
  if (!s || s.status !== e.status || s.step !== e.step) throw new StaleSaga(`saga ${e.id} is no longer ${e.status}/${e.step}`);
  return s;
}

interface Move {
  step: SagaStep;
  status?: SagaStatus;
  data?: SagaData;
  lastError?: string | null;
  outcome?: string;
  detail?: string | null;
}

/** Records a step: attempts reset, due at once, one log row. Inside the step's transaction. */
function move(db: Db, s: SagaRecord, m: Move, now: number): void {
  const info = stmt(
    db,
    `UPDATE sagas SET step = ?, status = ?, attempts = 0, last_error = ?, next_attempt_at = ?, data = ?, updated_at = ?
     WHERE id = ? AND status = ? AND step = ?`,
  ).run(m.step, m.status ?? s.status, m.lastError ?? null, now, JSON.stringify(m.data ?? s.data), now, s.id, s.status, s.step);
  if (info.changes !== 1) throw new StaleSaga(`saga ${s.id} changed during its step`);
  appendLog(db, s.id, m.step, m.outcome ?? "done", m.detail ?? null, now);
}

const tx = <T>(db: Db, fn: () => T): T => db.transaction(fn).immediate();

/** Runs one forward action; returns the step persisted. Throws StaleSaga, BusinessFailure, or any I/O error (retryable). */
export function runForward(deps: StepDeps, e: Expected, action: ForwardAction, now = Date.now()): SagaStep {
  const { db, config, ledger } = deps;
  const step = STEP_AFTER[action];
  let commandId: string | null = null;
  tx(db, () => {
    const s = claim(db, e);
    switch (action) {
      case "allocate": {
        // The account may have been deleted since the order (D4): never allocate to it.
        if (!userIsActive(db, s.userId)) throw new BusinessFailure({ code: "user_deleted", message: `user ${s.userId} no longer exists` });
        const quotaDefaults = {
          maxDevices: config.defaultQuotaDevices,
          maxCpuMillis: config.defaultQuotaCpuMillis,
          maxMemoryMb: config.defaultQuotaMemoryMb,
          maxDiskMb: config.defaultQuotaDiskMb,
        };
        // A plan may carry quota defaults: granted before the binding check, in the same transaction.
        const planQuota = plucked(db, "SELECT quota FROM plans WHERE id = ?").get(s.data.planId) as string | null | undefined;
        if (planQuota) grantPlanQuota(db, s.userId, JSON.parse(planQuota) as QuotaLimits, quotaDefaults, now);
        // createDevice's own IMMEDIATE transaction nests as a savepoint: quota, placement, device, command and this
        // step commit together or not at all.
        const r = createDevice(db, { ownerId: s.userId, name: s.data.name, ...s.data.spec }, s.requestId ?? undefined, now, {
          quotaDefaults,
          planId: s.data.planId,
          orderId: s.orderId,
        });
        if (!r.ok) throw new BusinessFailure({ code: r.code, message: r.message });
        stmt(db, "UPDATE orders SET device_id = ?, updated_at = ? WHERE id = ?").run(r.device.id, now, s.orderId);
        commandId = r.commandId;
        move(db, s, { step, detail: `device ${r.device.id} on host ${r.device.hostId}` }, now);
        return;
      }
      case "mark_ready":
        move(db, s, { step }, now);
        return;
      case "take_payment": {
        const deviceId = plucked(db, "SELECT device_id FROM orders WHERE id = ?").get(s.orderId) as string | null;
        // A free plan has nothing to take (the ledger refuses zero amounts).
        if (s.data.priceMinor > 0) {
          const r = ledger.post(
            {
              userId: s.userId,
              kind: "deduct",
              amountMinor: s.data.priceMinor,
              idempotencyKey: payKey(s.orderId),
              orderId: s.orderId,
              deviceId,
              description: `plan ${s.data.planId}`,
              requestId: s.requestId,
            },
            now,
          );
          if (!r.ok) throw new BusinessFailure({ code: r.code, message: r.message });
        }
        move(db, s, { step, detail: `${s.data.priceMinor} minor units` }, now);
        return;
      }
      case "activate": {
        const deviceId = plucked(db, "SELECT device_id FROM orders WHERE id = ?").get(s.orderId) as string | null;
        stmt(db, "UPDATE orders SET status = 'active', activated_at = ?, updated_at = ? WHERE id = ? AND status = 'pending'").run(now, now, s.orderId);
        move(db, s, { step, status: "completed" }, now);
        recordPlatformEvent(
          db,
          { name: "order.completed", userId: s.userId, deviceId, data: { orderId: s.orderId, deviceId, planId: s.data.planId }, requestId: s.requestId },
          now,
        );
        return;
      }
    }
  });
  crashIfFaultStep(config, step);
  if (commandId) publishSoon(deps, commandId);
  return step;
}

/** Runs one compensation action; returns the step persisted. */
export function runCompensation(deps: StepDeps, e: Expected, action: CompensationAction, now = Date.now()): SagaStep {
  const { db, ledger } = deps;
  const step = STEP_AFTER[action];
  let commandId: string | null = null;
  tx(db, () => {
    const s = claim(db, e);
    switch (action) {
      case "refund": {
        const r = ledger.post(
          {
            userId: s.userId,
            kind: "refund",
            amountMinor: s.data.priceMinor,
            idempotencyKey: refundKey(s.orderId),
            orderId: s.orderId,
            description: `refund of order ${s.orderId}`,
            requestId: s.requestId,
          },
          now,
        );
        if (!r.ok) throw new BusinessFailure({ code: r.code, message: r.message });
        move(db, s, { step, detail: `${s.data.priceMinor} minor units` }, now);
        return;
      }
      case "release_device": {
        const deviceId = plucked(db, "SELECT device_id FROM orders WHERE id = ?").get(s.orderId) as string | null;
        if (deviceId) {
          const r = applyDeviceAction(db, deviceId, "delete", s.requestId ?? undefined, now);
          // Already deleted or gone: released all the same.
          if (r.ok) commandId = r.commandId;
          else if (r.code !== "device_deleted" && r.code !== "device_not_found") throw new Error(`${r.code}: ${r.message}`);
        }
        move(db, s, { step, detail: deviceId ? `device ${deviceId}` : null }, now);
        return;
      }
      case "close_order": {
        const failure = s.data.failure ?? { code: "unknown", message: "compensated" };
        const status = s.data.cancelled ? "cancelled" : "failed";
        stmt(db, "UPDATE orders SET status = ?, failure_code = ?, failure_message = ?, updated_at = ? WHERE id = ? AND status = 'pending'").run(
          status,
          failure.code,
          failure.message,
          now,
          s.orderId,
        );
        move(db, s, { step, status: "compensated", lastError: s.lastError, outcome: "compensated", detail: `order ${status}` }, now);
        const refunded = plucked(db, "SELECT 1 FROM ledger_entries WHERE idempotency_key = ?").get(refundKey(s.orderId)) !== undefined;
        recordPlatformEvent(
          db,
          s.data.cancelled
            ? { name: "order.cancelled", userId: s.userId, data: { orderId: s.orderId, planId: s.data.planId, refunded }, requestId: s.requestId }
            : {
                name: "order.failed",
                userId: s.userId,
                data: { notification: "ORDER_FAILED", orderId: s.orderId, planId: s.data.planId, code: failure.code, message: failure.message, refunded },
                requestId: s.requestId,
              },
          now,
        );
        return;
      }
    }
  });
  if (commandId) publishSoon(deps, commandId);
  return step;
}

/** Forward → compensating: records why, and where the saga had got to. */
export function beginCompensation(deps: StepDeps, e: Expected, failure: SagaFailure, opts: { cancelled?: boolean } = {}, now = Date.now()): void {
  const { db } = deps;
  tx(db, () => {
    const s = claim(db, e);
    const data: SagaData = { ...s.data, failure, failedAt: s.step, ...(opts.cancelled ? { cancelled: true } : {}) };
    move(
      db,
      s,
      { step: s.step, status: "compensating", data, lastError: `${failure.code}: ${failure.message}`, outcome: opts.cancelled ? "cancel_requested" : "failed", detail: `${failure.code}: ${failure.message}` },
      now,
    );
  });
}

/** Compensation gave up: the saga parks as compensation_failed and operators get a critical alert (until resolved). */
export function markCompensationFailed(deps: StepDeps, e: Expected, error: string, now = Date.now()): string {
  const { db } = deps;
  const alertId = newId(now);
  tx(db, () => {
    const s = claim(db, e);
    stmt(db, "UPDATE sagas SET status = 'compensation_failed', last_error = ?, updated_at = ? WHERE id = ? AND status = 'compensating'").run(error, now, s.id);
    appendLog(db, s.id, s.step, "compensation_failed", error, now);
    const message = `purchase saga ${s.id} (order ${s.orderId}) could not be compensated after step ${s.step}: ${error}`;
    const data = { sagaId: s.id, orderId: s.orderId, userId: s.userId, step: s.step, error };
    stmt(db, 
      "INSERT INTO alerts (id, kind, severity, subject_id, message, data, created_at) VALUES (?, 'saga.compensation_failed', 'critical', ?, ?, ?, ?)",
    ).run(alertId, s.id, message, JSON.stringify(data), now);
    recordPlatformEvent(
      db,
      { name: "alert.raised", userId: null, data: { alertId, kind: "saga.compensation_failed", severity: "critical", subjectId: s.id, message }, requestId: s.requestId },
      now,
    );
  });
  return alertId;
}

/** Persists a failed attempt, so the retry budget and back-off survive a restart. */
export function recordAttempt(deps: StepDeps, e: Expected, attempts: number, error: string, nextAttemptAt: number, now = Date.now()): void {
  const { db } = deps;
  tx(db, () => {
    const info = stmt(db, "UPDATE sagas SET attempts = ?, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ? AND status = ? AND step = ?")
      .run(attempts, error, nextAttemptAt, now, e.id, e.status, e.step);
    if (info.changes === 1) appendLog(db, e.id, e.step, "retry", `attempt ${attempts}: ${error}`, now);
  });
}

function publishSoon(deps: StepDeps, commandId: string): void {
  // The resend loop covers a failed or skipped publish (broker down, host offline): the command row is committed.
  deps.publisher.publishNow(commandId).catch((err: unknown) => deps.log.warn({ err, commandId }, "immediate command publish failed"));
}
