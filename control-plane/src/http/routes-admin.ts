import { z } from "zod";
import {
  AdjustRequest,
  AdminInvoicesQuery,
  AlertsQuery,
  CreatePlanRequest,
  QuotaLimitsBody,
  RechargeRequest,
  UpdatePlanRequest,
  newId,
} from "@cloudphone/shared-protocol";
import { requireAdmin } from "../auth/principal.js";
import { activeUserExists, entryView } from "../billing/accounts.js";
import { listAlerts, resolveAlert } from "../billing/alerts.js";
import { invoicesForPeriod } from "../billing/invoice-store.js";
import { verifyBalances, type PostRequest } from "../billing/ledger.js";
import { platformStats } from "../billing/stats.js";
import { createPlan, listPlans, updatePlan } from "../plans/store.js";
import { quotaDefaultsFrom, quotaView } from "../quota/defaults.js";
import { setQuota } from "../quota/store.js";
import type { Context } from "hono";
import type { App, AppDeps, AppEnv } from "./app.js";
import { ApiError } from "./errors.js";
import { ledgerError } from "./routes-billing.js";
import { readJson, validate } from "./validate.js";

const PlansQuery = z.object({ includeInactive: z.enum(["true", "false"]).default("true") });

/** Operator routes for plans, money, quotas, invoices, statistics and alerts; every one needs the admin role. */
export function registerAdminRoutes(app: App, deps: AppDeps): void {
  const { db, ledger, config, log } = deps;
  const quotaDefaults = quotaDefaultsFrom(config);

  const existingUser = (id: string): string => {
    if (!activeUserExists(db, id)) throw new ApiError(404, "user_not_found", `user ${id} does not exist`);
    return id;
  };

  // ---- plans ----
  app.post("/api/admin/plans", async (c) => {
    requireAdmin(c);
    const body = await readJson(c, CreatePlanRequest);
    const plan = createPlan(db, body);
    log.info({ requestId: c.get("requestId"), planId: plan.id }, "plan created");
    return c.json(plan, 201);
  });

  app.get("/api/admin/plans", (c) => {
    requireAdmin(c);
    const q = validate(PlansQuery, c.req.query(), "query");
    return c.json({ plans: listPlans(db, { includeInactive: q.includeInactive === "true" }), currency: config.currency });
  });

  app.patch("/api/admin/plans/:id", async (c) => {
    requireAdmin(c);
    const body = await readJson(c, UpdatePlanRequest);
    const plan = updatePlan(db, c.req.param("id"), body);
    if (!plan) throw new ApiError(404, "plan_not_found", `plan ${c.req.param("id")} does not exist`);
    log.info({ requestId: c.get("requestId"), planId: plan.id, changed: Object.keys(body) }, "plan updated");
    return c.json(plan);
  });

  // ---- money ----
  /** One operator ledger post: 201 with the entry, or 200 when the idempotency key was used before. */
  const operatorPost = (c: Context<AppEnv>, by: string, what: string, req: Omit<PostRequest, "requestId">) => {
    const requestId = c.get("requestId");
    const r = ledger.post({ ...req, requestId });
    if (!r.ok) throw ledgerError(r);
    if (!r.duplicate) log.info({ requestId, userId: req.userId, by, amountMinor: req.amountMinor }, what);
    const reply = { entry: entryView(r.entry), balanceMinor: ledger.balance(req.userId), duplicate: r.duplicate, currency: config.currency };
    return c.json(reply, r.duplicate ? 200 : 201);
  };

  app.get("/api/admin/users/:id/balance", (c) => {
    requireAdmin(c);
    const id = existingUser(c.req.param("id"));
    return c.json({ userId: id, balanceMinor: ledger.balance(id), currency: config.currency, entries: ledger.entries(id, { limit: 20 }).map(entryView) });
  });

  app.post("/api/admin/users/:id/recharge", async (c) => {
    const admin = requireAdmin(c);
    const body = await readJson(c, RechargeRequest); // validate before the lookup: bad input is a 400 whatever the id
    const id = existingUser(c.req.param("id"));
    return operatorPost(c, admin.userId, "balance recharged by operator", {
      userId: id,
      kind: "recharge",
      amountMinor: body.amountMinor,
      idempotencyKey: `admin-recharge:${id}:${body.idempotencyKey}`,
      description: `recharge by operator ${admin.userId}`,
    });
  });

  app.post("/api/admin/users/:id/adjust", async (c) => {
    const admin = requireAdmin(c);
    const body = await readJson(c, AdjustRequest); // validate before the lookup: bad input is a 400 whatever the id
    const id = existingUser(c.req.param("id"));
    return operatorPost(c, admin.userId, "balance adjusted by operator", {
      userId: id,
      kind: "adjustment",
      amountMinor: body.amountMinor,
      idempotencyKey: `adjust:${id}:${body.idempotencyKey ?? newId()}`,
      description: `${body.reason} (operator ${admin.userId})`,
    });
  });

  app.get("/api/admin/billing/verify", (c) => {
    requireAdmin(c);
    const mismatches = verifyBalances(db);
    return c.json({ consistent: mismatches.length === 0, mismatches });
  });

  // ---- quotas ----
  app.get("/api/admin/users/:id/quota", (c) => {
    requireAdmin(c);
    return c.json(quotaView(db, existingUser(c.req.param("id")), quotaDefaults));
  });

  app.put("/api/admin/users/:id/quota", async (c) => {
    requireAdmin(c);
    const body = await readJson(c, QuotaLimitsBody); // validate before the lookup: bad input is a 400 whatever the id
    const id = existingUser(c.req.param("id"));
    setQuota(db, id, body, "admin");
    log.info({ requestId: c.get("requestId"), userId: id, quota: body }, "quota set by operator");
    return c.json(quotaView(db, id, quotaDefaults));
  });

  // ---- invoices, statistics, alerts ----
  app.get("/api/admin/invoices", (c) => {
    requireAdmin(c);
    const q = validate(AdminInvoicesQuery, c.req.query(), "query");
    return c.json({ period: q.period, invoices: invoicesForPeriod(db, q.period, config.currency) });
  });

  app.get("/api/admin/stats", (c) => {
    requireAdmin(c);
    return c.json(platformStats(db, config.currency));
  });

  app.get("/api/admin/alerts", (c) => {
    requireAdmin(c);
    const q = validate(AlertsQuery, c.req.query(), "query");
    return c.json({ alerts: listAlerts(db, { ...(q.open ? { open: q.open === "true" } : {}), limit: q.limit }) });
  });

  app.post("/api/admin/alerts/:id/resolve", (c) => {
    const admin = requireAdmin(c);
    const alert = resolveAlert(db, c.req.param("id"), admin.userId);
    if (!alert) throw new ApiError(404, "alert_not_found", `alert ${c.req.param("id")} does not exist`);
    log.info({ requestId: c.get("requestId"), alertId: alert.id, by: admin.userId }, "alert resolved");
    return c.json(alert);
  });
}
