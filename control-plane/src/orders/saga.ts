import type { SagaStatus, SagaStep } from "@cloudphone/shared-protocol";

/**
 * The purchase saga's step machine (B2), free of I/O: given the persisted saga and the facts read from SQLite, what
 * to do next. The engine (engine.ts) executes the decision in one transaction that re-checks (status, step), so the
 * request path and the background runner can both drive the same saga without ever doing a step twice.
 *
 * Forward:      order_created → device_allocated → device_ready → payment_taken → activated (completed)
 * Compensation: refund (if paid) → release the device (if allocated) → close the order (compensated),
 *               i.e. the reverse order of what was done; each decided from facts, so a resumed saga skips what is done.
 */

export interface SagaFailure {
  code: string;
  message: string;
}

/** The part of a `sagas` row the decisions depend on. */
export interface SagaSnapshot {
  status: SagaStatus;
  step: SagaStep;
  deadlineAt: number;
}

/** The order's device as the inbox last recorded it (devices row), or null when none is allocated or it vanished. */
export interface DeviceFacts {
  state: string;
  desired: string;
  deletedAt: number | null;
}

export interface SagaFacts {
  deviceId: string | null;
  device: DeviceFacts | null;
  /** The `order:<id>:pay` ledger entry exists. */
  paid: boolean;
  /** The `order:<id>:refund` ledger entry exists. */
  refunded: boolean;
}

export type Decision =
  | { kind: "allocate" }
  | { kind: "mark_ready" }
  | { kind: "take_payment" }
  | { kind: "activate" }
  /** Nothing to do until the device reports (or the deadline passes); the runner looks again on its next tick. */
  | { kind: "wait" }
  /** Start compensating: the step cannot succeed. */
  | { kind: "fail"; failure: SagaFailure }
  | { kind: "refund" }
  | { kind: "release_device" }
  | { kind: "close_order" }
  /** Terminal: completed, compensated or compensation_failed. */
  | { kind: "none" };

export type ForwardAction = "allocate" | "mark_ready" | "take_payment" | "activate";
export type CompensationAction = "refund" | "release_device" | "close_order";

/** The step each action persists when it commits. */
export const STEP_AFTER: Record<ForwardAction | CompensationAction, SagaStep> = {
  allocate: "device_allocated",
  mark_ready: "device_ready",
  take_payment: "payment_taken",
  activate: "activated",
  refund: "refunded",
  release_device: "device_released",
  close_order: "order_cancelled",
};

/** Steps at which the user may still cancel: the order is pending and nothing has been paid. */
export const CANCELLABLE_STEPS: readonly SagaStep[] = ["order_created", "device_allocated", "device_ready"];

/** Device states that mean it will not become ready by itself (the agent gave up or is recovering it). */
const BROKEN_STATES = new Set(["failed", "error"]);

export const TIMEOUT: (deadlineAt: number) => SagaFailure = (deadlineAt) => ({
  code: "saga_timeout",
  message: `the order did not complete before its deadline (${new Date(deadlineAt).toISOString()})`,
});

export function isOpen(status: SagaStatus): boolean {
  return status === "running" || status === "compensating";
}

export function decide(saga: SagaSnapshot, facts: SagaFacts, now: number): Decision {
  if (saga.status === "compensating") return decideCompensation(facts);
  if (saga.status !== "running") return { kind: "none" };
  switch (saga.step) {
    case "order_created":
      return now >= saga.deadlineAt ? { kind: "fail", failure: TIMEOUT(saga.deadlineAt) } : { kind: "allocate" };
    case "device_allocated": {
      const d = facts.device;
      if (!d || d.deletedAt !== null || d.desired === "deleted" || d.state === "deleted") {
        return { kind: "fail", failure: { code: "device_lost", message: `device ${facts.deviceId ?? "(none)"} was deleted before it became ready` } };
      }
      if (BROKEN_STATES.has(d.state)) {
        return { kind: "fail", failure: { code: "device_failed", message: `device ${facts.deviceId} reported state ${d.state} before it became ready` } };
      }
      if (d.state === "running") return { kind: "mark_ready" };
      return now >= saga.deadlineAt ? { kind: "fail", failure: TIMEOUT(saga.deadlineAt) } : { kind: "wait" };
    }
    // Once the device is ready the deadline no longer applies: paying and activating are local and immediate.
    case "device_ready":
      return { kind: "take_payment" };
    case "payment_taken":
      return { kind: "activate" };
    default:
      // A running saga never rests on a compensation step or on `activated` (which completes it).
      return { kind: "none" };
  }
}

/** Reverse order of what was done: refund, release, close. Facts, not flags, so a resumed saga skips what is done. */
export function decideCompensation(facts: SagaFacts): Decision {
  if (facts.paid && !facts.refunded) return { kind: "refund" };
  const d = facts.device;
  if (facts.deviceId && d && d.deletedAt === null && d.desired !== "deleted") return { kind: "release_device" };
  return { kind: "close_order" };
}

/** Retries per step after the first attempt (B2: each step retried 3×). */
export const MAX_RETRIES = 3;

/** Back-off before retry number `retry` (1-based): base, 2·base, 4·base. */
export function backoffMs(retry: number, baseMs: number): number {
  return baseMs * 2 ** Math.max(0, retry - 1);
}

/**
 * p-retry options that continue a step's retries where a previous process left them: `attempts` failed attempts are
 * already persisted, so only the rest of the budget is left, and the back-off continues the same exponential series.
 */
export function retryBudget(attempts: number, baseMs: number): { retries: number; minTimeout: number; factor: number } {
  const used = Math.min(Math.max(0, attempts), MAX_RETRIES + 1);
  return { retries: Math.max(0, MAX_RETRIES - used), minTimeout: backoffMs(used + 1, baseMs), factor: 2 };
}

/** Whether a step has used its whole budget (first attempt + MAX_RETRIES retries). */
export function exhausted(attempts: number): boolean {
  return attempts > MAX_RETRIES;
}
