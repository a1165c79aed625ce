import type { OrderView } from "@cloudphone/shared-protocol";
import { checkQuota } from "../quota/quota.js";
import { quotaLimits, quotaUsage, raisedByPlan } from "../quota/store.js";
import { crashIfFaultStep } from "./fault.js";
import type { SagaEngine } from "./engine.js";
import { CANCELLABLE_STEPS } from "./saga.js";
import { beginCompensation, StaleSaga, type StepDeps } from "./steps.js";
import { getOrder, insertOrderAndSaga, readPlan, sagaOfOrder, userIsActive, type SagaRecord } from "./store.js";

/** The request side of the purchase saga: step 1 (validate, no writes), step 2 (order + saga), step 3 via the engine. */

export type PurchaseOutcome =
  | { ok: true; order: OrderView; sagaId: string }
  | { ok: false; status: 402 | 404 | 409 | 500; code: string; message: string; orderId?: string; sagaId?: string };

/** Allocation refusals answered as 409 (the order is already failed and compensated when the answer is sent). */
const CONFLICT_CODES = new Set(["quota_exceeded", "no_capacity", "no_host_online", "host_unavailable", "host_not_found"]);

export interface PurchaseRequest {
  userId: string;
  planId: string;
  name?: string | undefined;
  requestId: string | null;
}

export async function purchase(deps: StepDeps, engine: SagaEngine, req: PurchaseRequest, now = Date.now()): Promise<PurchaseOutcome> {
  const { db, config, ledger } = deps;
  // 1. validate: nothing is written on any refusal here.
  const plan = readPlan(db, req.planId);
  if (!plan) return { ok: false, status: 404, code: "plan_not_found", message: `plan ${req.planId} does not exist` };
  if (!plan.active) return { ok: false, status: 409, code: "plan_inactive", message: `plan ${req.planId} is not on sale` };
  if (!plan.spec) return { ok: false, status: 409, code: "plan_unavailable", message: `plan ${req.planId} has an invalid device spec` };
  if (!userIsActive(db, req.userId)) return { ok: false, status: 404, code: "user_not_found", message: `user ${req.userId} does not exist` };
  const balance = ledger.balance(req.userId);
  if (balance < plan.priceMinor) {
    return { ok: false, status: 402, code: "insufficient_funds", message: `balance ${balance} is less than the plan price ${plan.priceMinor}` };
  }
  // Early answer only; the binding check is the allocation's, under the write lock (step 3).
  const quotaDefaults = {
    maxDevices: config.defaultQuotaDevices,
    maxCpuMillis: config.defaultQuotaCpuMillis,
    maxMemoryMb: config.defaultQuotaMemoryMb,
    maxDiskMb: config.defaultQuotaDiskMb,
  };
  const q = checkQuota(raisedByPlan(quotaLimits(db, req.userId, quotaDefaults), plan.quota), quotaUsage(db, req.userId), plan.spec);
  if (!q.ok) return { ok: false, status: 409, code: q.code, message: q.message };

  // 2. order_created
  const { orderId, sagaId } = db
    .transaction(() =>
      insertOrderAndSaga(db, { userId: req.userId, plan: { ...plan, spec: plan.spec! }, name: req.name ?? plan.name, requestId: req.requestId, deadlineAt: now + config.sagaTimeoutMs }, now),
    )
    .immediate();
  crashIfFaultStep(config, "order_created");
  deps.log.info({ orderId, sagaId, planId: plan.id, requestId: req.requestId ?? undefined }, "order created");

  // 3. device_allocated (or compensation, which then runs to its end here so the answer is final).
  const saga = await engine.drive(sagaId, { until: (s) => s.status === "running" && s.step !== "order_created" });
  engine.coordination.kick();
  const order = getOrder(db, orderId)!;
  if (saga?.status === "running") return { ok: true, order, sagaId };
  const failure = saga?.data.failure ?? { code: "order_failed", message: "the order could not be completed" };
  return { ok: false, status: CONFLICT_CODES.has(failure.code) ? 409 : 500, code: failure.code, message: failure.message, orderId, sagaId };
}

export type CancelOutcome =
  | { ok: true; order: OrderView; done: boolean }
  | { ok: false; status: 404 | 409; code: string; message: string };

/** Cancels a pending order before payment: the saga compensates (release the device, order `cancelled`). */
export async function cancelOrder(deps: StepDeps, engine: SagaEngine, orderId: string): Promise<CancelOutcome> {
  // A step may commit between the read and the compare-and-set (e.g. device_allocated → device_ready): read again.
  for (let tries = 0; ; tries++) {
    const saga: SagaRecord | null = sagaOfOrder(deps.db, orderId);
    if (!saga) return { ok: false, status: 404, code: "order_not_found", message: `order ${orderId} does not exist` };
    if (saga.status !== "running" || !CANCELLABLE_STEPS.includes(saga.step)) {
      return {
        ok: false,
        status: 409,
        code: "order_not_cancellable",
        message: `order ${orderId} can no longer be cancelled (saga ${saga.status} at ${saga.step}); only pending orders before payment can`,
      };
    }
    try {
      const cancelled = { code: "cancelled", message: "cancelled by the user" };
      beginCompensation(deps, { id: saga.id, status: "running", step: saga.step }, cancelled, { cancelled: true });
    } catch (e) {
      if (e instanceof StaleSaga && tries < 5) continue;
      throw e;
    }
    const after = await engine.drive(saga.id);
    engine.coordination.kick();
    return { ok: true, order: getOrder(deps.db, orderId)!, done: after?.status === "compensated" };
  }
}
