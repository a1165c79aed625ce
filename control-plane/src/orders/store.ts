import type { QuotaLimits } from "../quota/quota.js";
import {
  DeviceSpec,
  newId,
  type OrderDetail,
  type OrderStatus,
  type OrderView,
  type SagaLogEntry,
  type SagaStatus,
  type SagaStep,
  type SagaView,
} from "@cloudphone/shared-protocol";
import { z } from "zod";
import type { Db } from "../store/db.js";
import { plucked, stmt } from "../store/statements.js";
import type { SagaFacts } from "./saga.js";

/** SQL of orders and sagas: rows in, views out. Transactions are the caller's (engine.ts, purchase.ts). */

export const SAGA_KIND = "purchase";


/** What a saga carries from the request to its last step (`sagas.data`): the plan as it was when ordered. */
export const SagaData = z.object({
  planId: z.string(),
  name: z.string(),
  spec: DeviceSpec,
  priceMinor: z.number().int().min(0),
  failure: z.object({ code: z.string(), message: z.string() }).optional(),
  /** The user cancelled: the order ends `cancelled`, not `failed`. */
  cancelled: z.boolean().optional(),
  /** The forward step the saga had reached when compensation began. */
  failedAt: z.string().optional(),
});
export type SagaData = z.infer<typeof SagaData>;

export interface SagaRecord {
  id: string;
  orderId: string;
  userId: string;
  step: SagaStep;
  status: SagaStatus;
  attempts: number;
  deadlineAt: number;
  nextAttemptAt: number;
  lastError: string | null;
  data: SagaData;
  requestId: string | null;
  createdAt: number;
  updatedAt: number;
}

interface SagaRow {
  id: string;
  order_id: string;
  user_id: string;
  step: SagaStep;
  status: SagaStatus;
  attempts: number;
  deadline_at: number;
  next_attempt_at: number;
  last_error: string | null;
  data: string;
  request_id: string | null;
  created_at: number;
  updated_at: number;
}

function toSaga(r: SagaRow): SagaRecord {
  return {
    id: r.id,
    orderId: r.order_id,
    userId: r.user_id,
    step: r.step,
    status: r.status,
    attempts: r.attempts,
    deadlineAt: r.deadline_at,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    data: SagaData.parse(JSON.parse(r.data)),
    requestId: r.request_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function loadSaga(db: Db, sagaId: string): SagaRecord | null {
  const r = stmt(db, "SELECT * FROM sagas WHERE id = ?").get(sagaId) as SagaRow | undefined;
  return r ? toSaga(r) : null;
}

export function sagaOfOrder(db: Db, orderId: string): SagaRecord | null {
  const r = stmt(db, "SELECT * FROM sagas WHERE order_id = ?").get(orderId) as SagaRow | undefined;
  return r ? toSaga(r) : null;
}

export const payKey = (orderId: string): string => `order:${orderId}:pay`;
export const refundKey = (orderId: string): string => `order:${orderId}:refund`;

/** The facts the step machine decides on, read in one go (call inside the step's transaction to re-check). */
export function loadFacts(db: Db, saga: Pick<SagaRecord, "orderId">): SagaFacts {
  const order = stmt(db, "SELECT device_id FROM orders WHERE id = ?").get(saga.orderId) as { device_id: string | null } | undefined;
  const deviceId = order?.device_id ?? null;
  const device = deviceId
    ? ((stmt(db, "SELECT state, desired, deleted_at AS deletedAt FROM devices WHERE id = ?").get(deviceId) as
        | { state: string; desired: string; deletedAt: number | null }
        | undefined) ?? null)
    : null;
  const keyExists = plucked(db, "SELECT 1 FROM ledger_entries WHERE idempotency_key = ?");
  return {
    deviceId,
    device,
    paid: keyExists.get(payKey(saga.orderId)) !== undefined,
    refunded: keyExists.get(refundKey(saga.orderId)) !== undefined,
  };
}

export function appendLog(db: Db, sagaId: string, step: string, outcome: string, detail: string | null, now: number): void {
  stmt(db, "INSERT INTO saga_log (saga_id, step, outcome, detail, at) VALUES (?, ?, ?, ?, ?)").run(sagaId, step, outcome, detail, now);
}

export interface PlanRecord {
  id: string;
  name: string;
  priceMinor: number;
  active: boolean;
  /** Null when the stored spec is not a valid DeviceSpec (the plan cannot be bought). */
  spec: DeviceSpec | null;
  /** Quota defaults the plan grants its buyers (Q1), if any. */
  quota: QuotaLimits | null;
}

export function readPlan(db: Db, planId: string): PlanRecord | null {
  const r = stmt(db, "SELECT id, name, price_minor, spec, quota, active FROM plans WHERE id = ?").get(planId) as
    | { id: string; name: string; price_minor: number; spec: string; quota: string | null; active: number }
    | undefined;
  if (!r) return null;
  let spec: DeviceSpec | null = null;
  try {
    const parsed = DeviceSpec.safeParse(JSON.parse(r.spec));
    spec = parsed.success ? parsed.data : null;
  } catch {
    spec = null; // not JSON: treated as an unusable plan
  }
  const quota = r.quota ? (JSON.parse(r.quota) as QuotaLimits) : null;
  return { id: r.id, name: r.name, priceMinor: r.price_minor, active: r.active === 1, spec, quota };
}

export function userIsActive(db: Db, userId: string): boolean {
  return plucked(db, "SELECT 1 FROM users WHERE id = ? AND status = 'active'").get(userId) !== undefined;
}

export interface NewOrder {
  userId: string;
  plan: PlanRecord & { spec: DeviceSpec };
  name: string;
  requestId: string | null;
  deadlineAt: number;
}

/** Step 2 (`order_created`): the pending order, its running saga and the first log row. Call inside a transaction. */
export function insertOrderAndSaga(db: Db, o: NewOrder, now: number): { orderId: string; sagaId: string } {
  const orderId = newId(now);
  const sagaId = newId(now);
  stmt(db, 
    `INSERT INTO orders (id, user_id, plan_id, status, amount_minor, request_id, created_at, updated_at)
     VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)`,
  ).run(orderId, o.userId, o.plan.id, o.plan.priceMinor, o.requestId, now, now);
  const data: SagaData = { planId: o.plan.id, name: o.name, spec: o.plan.spec, priceMinor: o.plan.priceMinor };
  stmt(db, 
    `INSERT INTO sagas (id, kind, order_id, user_id, step, status, attempts, deadline_at, next_attempt_at, data, request_id, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'order_created', 'running', 0, ?, ?, ?, ?, ?, ?)`,
  ).run(sagaId, SAGA_KIND, orderId, o.userId, o.deadlineAt, now, JSON.stringify(data), o.requestId, now, now);
  appendLog(db, sagaId, "order_created", "done", null, now);
  return { orderId, sagaId };
}

/**
 * Open sagas due for a look, oldest due first. Leaves out the sagas that can only wait — allocated, device on its
 * way (not running, failed, error or deleted), deadline ahead — so that a tick costs one query however many devices
 * are still booting. This must stay the exact complement of `decide()`'s "wait" (checked in store.test.ts).
 */
export function dueSagaIds(db: Db, now: number, limit: number): string[] {
  return plucked(
    db,
    `SELECT s.id FROM sagas s
     WHERE s.status IN ('running','compensating') AND s.next_attempt_at <= @now
       AND NOT (s.status = 'running' AND s.step = 'device_allocated' AND s.deadline_at > @now AND EXISTS (
         SELECT 1 FROM orders o JOIN devices d ON d.id = o.device_id
         WHERE o.id = s.order_id AND d.deleted_at IS NULL AND d.desired != 'deleted'
           AND d.state NOT IN ('running', 'failed', 'error', 'deleted')))
     ORDER BY s.next_attempt_at LIMIT @limit`,
  ).all({ now, limit }) as string[];
}

export function openSagaCount(db: Db): number {
  return plucked(db, "SELECT COUNT(*) FROM sagas WHERE status IN ('running','compensating')").get() as number;
}

// ---- views ----

interface OrderRow {
  id: string;
  user_id: string;
  plan_id: string;
  status: OrderStatus;
  amount_minor: number;
  device_id: string | null;
  failure_code: string | null;
  failure_message: string | null;
  request_id: string | null;
  created_at: number;
  updated_at: number;
  activated_at: number | null;
}

function sagaView(s: SagaRecord): SagaView {
  return {
    id: s.id,
    step: s.step,
    status: s.status,
    attempts: s.attempts,
    lastError: s.lastError,
    deadlineAt: s.deadlineAt,
    nextAttemptAt: s.nextAttemptAt,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

function toOrderView(db: Db, r: OrderRow): OrderView {
  const saga = sagaOfOrder(db, r.id);
  return {
    id: r.id,
    userId: r.user_id,
    planId: r.plan_id,
    status: r.status,
    amountMinor: r.amount_minor,
    deviceId: r.device_id,
    failureCode: r.failure_code,
    failureMessage: r.failure_message,
    requestId: r.request_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    activatedAt: r.activated_at,
    saga: saga ? sagaView(saga) : null,
  };
}

export function getOrder(db: Db, orderId: string): OrderView | null {
  const r = stmt(db, "SELECT * FROM orders WHERE id = ?").get(orderId) as OrderRow | undefined;
  return r ? toOrderView(db, r) : null;
}

export function getOrderDetail(db: Db, orderId: string): OrderDetail | null {
  const order = getOrder(db, orderId);
  if (!order) return null;
  const sagaLog = order.saga
    ? (stmt(db, "SELECT step, outcome, detail, at FROM saga_log WHERE saga_id = ? ORDER BY id").all(order.saga.id) as SagaLogEntry[])
    : [];
  return { ...order, sagaLog };
}

export function orderOwner(db: Db, orderId: string): string | null {
  return (plucked(db, "SELECT user_id FROM orders WHERE id = ?").get(orderId) as string | undefined) ?? null;
}

/** Newest first; `userId` null = every user's (admins). */
export function listOrders(
  db: Db,
  q: { userId: string | null; status?: OrderStatus | undefined; before?: string | undefined; limit: number },
): { orders: OrderView[]; nextBefore?: string } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (q.userId !== null) {
    where.push("user_id = ?");
    args.push(q.userId);
  }
  if (q.status) {
    where.push("status = ?");
    args.push(q.status);
  }
  if (q.before) {
    where.push("id < ?");
    args.push(q.before);
  }
  const sql = `SELECT * FROM orders ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY id DESC LIMIT ?`;
  const rows = stmt(db, sql).all(...args, q.limit + 1) as OrderRow[];
  const page = rows.slice(0, q.limit).map((r) => toOrderView(db, r));
  return rows.length > q.limit ? { orders: page, nextBefore: page[page.length - 1]!.id } : { orders: page };
}
