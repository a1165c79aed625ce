import { z } from "zod";

/** HTTP bodies of orders and the purchase saga (B2): `POST /api/orders`, `GET /api/orders[/:id]`, cancel. */

/** Forward steps of the purchase saga, in order; each is persisted before the next one starts. */
export const SAGA_FORWARD_STEPS = ["order_created", "device_allocated", "device_ready", "payment_taken", "activated"] as const;
/** Compensation steps, in the order they run (each only when its forward counterpart happened). */
export const SAGA_COMPENSATION_STEPS = ["refunded", "device_released", "order_cancelled"] as const;
export const SagaStep = z.enum([...SAGA_FORWARD_STEPS, ...SAGA_COMPENSATION_STEPS]);
export type SagaStep = z.infer<typeof SagaStep>;
export const SagaForwardStep = z.enum(SAGA_FORWARD_STEPS);
export type SagaForwardStep = z.infer<typeof SagaForwardStep>;

export const SagaStatus = z.enum(["running", "compensating", "completed", "compensated", "compensation_failed"]);
export type SagaStatus = z.infer<typeof SagaStatus>;

export const OrderStatus = z.enum(["pending", "active", "failed", "cancelled"]);
export type OrderStatus = z.infer<typeof OrderStatus>;

export const CreateOrderRequest = z.strictObject({
  planId: z.string().min(1).max(64),
  /** Name of the device the order creates; the plan's name when absent. */
  name: z.string().min(1).max(100).optional(),
});
export type CreateOrderRequest = z.infer<typeof CreateOrderRequest>;

export const ListOrdersQuery = z.object({
  /** Admins only: one user's orders (others always see their own). */
  userId: z.string().min(1).max(64).optional(),
  status: OrderStatus.optional(),
  /** Paging: orders older than this order id (ids are time-ordered). */
  before: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export type ListOrdersQuery = z.infer<typeof ListOrdersQuery>;

export const SagaView = z.object({
  id: z.string(),
  step: SagaStep,
  status: SagaStatus,
  /** Failed attempts of the current step (reset when a step completes). */
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  deadlineAt: z.number().int(),
  nextAttemptAt: z.number().int(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});
export type SagaView = z.infer<typeof SagaView>;

export const SagaLogEntry = z.object({
  step: z.string(),
  /** done | retry | failed | compensating | compensated | compensation_failed | cancel_requested */
  outcome: z.string(),
  detail: z.string().nullable(),
  at: z.number().int(),
});
export type SagaLogEntry = z.infer<typeof SagaLogEntry>;

export const OrderView = z.object({
  id: z.string(),
  userId: z.string(),
  planId: z.string(),
  status: OrderStatus,
  amountMinor: z.number().int(),
  deviceId: z.string().nullable(),
  failureCode: z.string().nullable(),
  failureMessage: z.string().nullable(),
  requestId: z.string().nullable(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  activatedAt: z.number().int().nullable(),
  saga: SagaView.nullable(),
});
export type OrderView = z.infer<typeof OrderView>;

export const OrderDetail = OrderView.extend({ sagaLog: z.array(SagaLogEntry) });
export type OrderDetail = z.infer<typeof OrderDetail>;

/** 202 from `POST /api/orders`: the device is allocated, the saga continues in the background. */
export const CreateOrderResponse = z.object({ order: OrderView, sagaId: z.string() });
export type CreateOrderResponse = z.infer<typeof CreateOrderResponse>;

export const ListOrdersResponse = z.object({
  orders: z.array(OrderView),
  /** Pass as `before` for the next page; absent on the last page. */
  nextBefore: z.string().optional(),
});
export type ListOrdersResponse = z.infer<typeof ListOrdersResponse>;
