import { z } from "zod";
import { CreateOrderRequest, CreateOrderResponse, ListOrdersQuery, ListOrdersResponse, OrderDetail, OrderView } from "@cloudphone/shared-protocol";
import { err, type RouteDoc } from "../types.js";

const notFound = err(404, "order_not_found", "unknown order, or another user's (same answer)");

/** Orders and the purchase saga (B2). */
export const ORDER_ROUTES: readonly RouteDoc[] = [
  {
    method: "post", path: "/api/orders", tag: "orders", auth: "bearer", scope: "billing:write", summary: "Buy a plan: allocates a device, then the saga continues",
    description:
      "202 once the order exists and the device is allocated; readiness, payment and activation follow in the background " +
      "(`order.completed` / `order.failed` platform events). A refusal after the order was written carries `orderId` and `sagaId` next to the error.",
    body: CreateOrderRequest,
    response: { status: 202, description: "order and saga id", schema: CreateOrderResponse },
    errors: [
      err(402, "insufficient_funds", "balance below the plan price (nothing written)"),
      err(404, "plan_not_found", "unknown plan"),
      err(409, "plan_inactive", "the plan is not on sale"),
      err(409, "quota_exceeded", "the caller's quota is full (order written and failed)"),
      err(409, "no_capacity", "no host has room (order written and failed)"),
      err(409, "no_host_online", "no host is online (order written and failed)"),
    ],
  },
  {
    method: "get", path: "/api/orders", tag: "orders", auth: "bearer", scope: "billing:read", summary: "Orders (own; admins all or one user's)",
    query: ListOrdersQuery,
    response: { status: 200, description: "a page of orders, newest first", schema: ListOrdersResponse },
  },
  {
    method: "get", path: "/api/orders/:id", tag: "orders", auth: "bearer", scope: "billing:read", summary: "One order with its saga and saga log",
    response: { status: 200, description: "the order", schema: OrderDetail },
    errors: [notFound],
  },
  {
    method: "post", path: "/api/orders/:id/cancel", tag: "orders", auth: "bearer", scope: "billing:write", summary: "Cancel an order before payment (compensates)",
    response: { status: 200, description: "compensated here", schema: z.object({ order: OrderView }) },
    alsoSucceeds: [{ status: 202, description: "accepted; the saga runner finishes the compensation" }],
    errors: [notFound, err(409, "order_not_cancellable", "already paid, finished or compensating")],
  },
];
