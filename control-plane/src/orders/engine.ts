import pRetry, { AbortError } from "p-retry";
import { coordinationFor, type SagaCoordination } from "./coordination.js";
import { backoffMs, decide, exhausted, retryBudget, TIMEOUT, type CompensationAction, type ForwardAction } from "./saga.js";
import {
  beginCompensation,
  BusinessFailure,
  markCompensationFailed,
  recordAttempt,
  runCompensation,
  runForward,
  StaleSaga,
  type Expected,
  type StepDeps,
} from "./steps.js";
import { loadFacts, loadSaga, type SagaRecord } from "./store.js";

export interface DriveOptions {
  /** Stop (returning the saga) as soon as this holds; the request stops once the device is allocated. */
  until?: (saga: SagaRecord) => boolean;
  /** Aborts back-off waits when the runner stops. */
  signal?: AbortSignal;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).slice(0, 500);

/**
 * The one step machine of the purchase saga, used by `POST /api/orders` (steps 2–3) and by the runner (the rest, and
 * everything after a crash): read saga + facts, `decide()` (pure), run the step's transaction, repeat — until the saga
 * is terminal or waits for its device. Each step is retried with p-retry (3 retries, exponential back-off from
 * `sagaRetryBaseMs`); every failed attempt is persisted (attempts, last_error, next_attempt_at) before the back-off, so
 * a restarted process continues the same budget. Business refusals are not retried: the saga compensates at once.
 */
export class SagaEngine {
  readonly coordination: SagaCoordination;

  constructor(private readonly deps: StepDeps) {
    this.coordination = coordinationFor(deps.db);
  }

  /** Advances one saga as far as possible now. Returns null when unknown; a saga driven elsewhere is returned as is. */
  async drive(sagaId: string, opts: DriveOptions = {}): Promise<SagaRecord | null> {
    const { inFlight } = this.coordination;
    if (inFlight.has(sagaId)) return loadSaga(this.deps.db, sagaId);
    inFlight.add(sagaId);
    try {
      for (;;) {
        opts.signal?.throwIfAborted();
        const saga = loadSaga(this.deps.db, sagaId);
        if (!saga || opts.until?.(saga)) return saga;
        const decision = decide(saga, loadFacts(this.deps.db, saga), Date.now());
        const expected: Expected = { id: saga.id, status: saga.status, step: saga.step };
        switch (decision.kind) {
          case "none":
          case "wait":
            return saga;
          case "fail":
            this.log(saga).warn({ code: decision.failure.code, reason: decision.failure.message }, "purchase saga compensating");
            this.ignoreStale(() => beginCompensation(this.deps, expected, decision.failure));
            break;
          default:
            await this.runStep(saga, expected, decision.kind, opts.signal);
        }
      }
    } finally {
      inFlight.delete(sagaId);
    }
  }

  /** One action with its retry budget; on the way out the saga has moved on, is compensating, or has failed. */
  private async runStep(saga: SagaRecord, expected: Expected, action: ForwardAction | CompensationAction, signal?: AbortSignal): Promise<void> {
    const forward = saga.status === "running";
    const base = this.deps.config.sagaRetryBaseMs;
    if (exhausted(saga.attempts)) {
      // A previous process used the whole budget and died before acting on it.
      return this.giveUp(saga, expected, forward, saga.lastError ?? "retries exhausted");
    }
    let attempts = saga.attempts;
    try {
      const step = await pRetry(
        () => {
          if (action === "allocate" && Date.now() >= saga.deadlineAt) throw new AbortError(new BusinessFailure(TIMEOUT(saga.deadlineAt)));
          try {
            return forward ? runForward(this.deps, expected, action as ForwardAction) : runCompensation(this.deps, expected, action as CompensationAction);
          } catch (e) {
            // Neither is helped by trying again: a refusal compensates, a lost race re-reads.
            if (e instanceof BusinessFailure || e instanceof StaleSaga) throw new AbortError(e);
            throw e;
          }
        },
        {
          ...retryBudget(saga.attempts, base),
          randomize: false,
          unref: true,
          ...(signal ? { signal } : {}),
          onFailedAttempt: ({ error }) => {
            attempts += 1;
            const text = errorText(error);
            this.log(saga).warn({ step: saga.step, action, attempts, err: error }, "saga step failed; will retry if budget is left");
            recordAttempt(this.deps, expected, attempts, text, Date.now() + backoffMs(attempts, base));
          },
        },
      );
      // Outcomes at info, intermediate steps at debug: a busy platform runs many sagas a second.
      if (step === "activated") this.log(saga).info({ step }, "order activated");
      else if (step === "order_cancelled") this.log(saga).info({ step, code: saga.data.failure?.code }, "order compensated");
      else this.log(saga).debug({ step }, "saga step done");
    } catch (e) {
      if (e instanceof StaleSaga) return;
      if (signal?.aborted) throw e;
      if (e instanceof BusinessFailure) {
        if (forward) {
          this.log(saga).warn({ code: e.failure.code, reason: e.failure.message }, "purchase saga compensating");
          this.ignoreStale(() => beginCompensation(this.deps, expected, e.failure));
        } else {
          this.giveUp(saga, expected, false, e.message);
        }
        return;
      }
      this.giveUp(saga, expected, forward, errorText(e));
    }
  }

  private giveUp(saga: SagaRecord, expected: Expected, forward: boolean, error: string): void {
    if (forward) {
      const failure = { code: "step_failed", message: `step after ${saga.step} failed after retries: ${error}` };
      this.log(saga).error({ reason: error }, "saga step failed after retries; compensating");
      this.ignoreStale(() => beginCompensation(this.deps, expected, failure));
      return;
    }
    this.log(saga).error({ reason: error }, "saga compensation failed after retries; raising an alert");
    this.ignoreStale(() => markCompensationFailed(this.deps, expected, error));
  }

  private ignoreStale(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof StaleSaga)) throw e;
    }
  }

  private log(saga: SagaRecord) {
    return this.deps.log.child({ sagaId: saga.id, orderId: saga.orderId, ...(saga.requestId ? { requestId: saga.requestId } : {}) });
  }
}
