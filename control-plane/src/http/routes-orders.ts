import { CreateOrderRequest, ListOrdersQuery } from "@cloudphone/shared-protocol";
import { canAccess, requireScope } from "../auth/principal.js";
import { SagaEngine } from "../orders/engine.js";
import { cancelOrder, purchase } from "../orders/purchase.js";
import { getOrderDetail, listOrders, orderOwner } from "../orders/store.js";
import type { App, AppDeps } from "./app.js";
import { ApiError, errorBody } from "./errors.js";
import { readJson, validate } from "./validate.js";

/** Orders and the purchase saga (B2). Another user's order answers exactly like a missing one (404). */
export function registerOrderRoutes(app: App, deps: AppDeps): void {
  const engine = new SagaEngine(deps);
  const notFound = (id: string) => new ApiError(404, "order_not_found", `order ${id} does not exist`);

  app.post("/api/orders", async (c) => {
    const p = requireScope(c, "billing:write");
    const body = await readJson(c, CreateOrderRequest);
    const requestId = c.get("requestId");
    const r = await purchase(deps, engine, { userId: p.userId, planId: body.planId, name: body.name, requestId });
    if (r.ok) return c.json({ order: r.order, sagaId: r.sagaId }, 202);
    // Refused after the order was written: the caller gets the (already failed) order's id to look it up.
    if (r.orderId) return c.json({ ...errorBody(r.code, r.message, requestId), orderId: r.orderId, sagaId: r.sagaId }, r.status);
    throw new ApiError(r.status, r.code, r.message);
  });

  app.get("/api/orders", (c) => {
    const p = requireScope(c, "billing:read");
    const q = validate(ListOrdersQuery, c.req.query(), "query");
    // Users always see their own; admins everything, or one user's with ?userId=.
    const userId = p.role === "admin" ? (q.userId ?? null) : p.userId;
    return c.json(listOrders(deps.db, { userId, status: q.status, before: q.before, limit: q.limit }));
  });

  app.get("/api/orders/:id", (c) => {
    const p = requireScope(c, "billing:read");
    const id = c.req.param("id");
    const owner = orderOwner(deps.db, id);
    if (owner === null || !canAccess(p, owner)) throw notFound(id);
    return c.json(getOrderDetail(deps.db, id)!);
  });

  app.post("/api/orders/:id/cancel", async (c) => {
    const p = requireScope(c, "billing:write");
    const id = c.req.param("id");
    const owner = orderOwner(deps.db, id);
    if (owner === null || !canAccess(p, owner)) throw notFound(id);
    const r = await cancelOrder(deps, engine, id);
    if (!r.ok) throw new ApiError(r.status, r.code, r.message);
    // 200 when the compensation finished here, 202 when the runner finishes it (it was mid-step elsewhere).
    return c.json({ order: r.order }, r.done ? 200 : 202);
  });
}
