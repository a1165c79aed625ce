import { z } from "zod";
import {
  AdjustRequest,
  AdminInvoicesQuery,
  AlertView,
  AlertsQuery,
  BalanceView,
  CreatePlanRequest,
  InvoiceView,
  LedgerEntryView,
  LedgerQuery,
  PlanView,
  QuotaLimitsBody,
  QuotaView,
  RechargeRequest,
  StatsView,
  UpdatePlanRequest,
} from "@cloudphone/shared-protocol";
import { err, type RouteDoc } from "../types.js";
import { Period, PlansQuery } from "./local-schemas.js";

const Posted = z.object({ entry: LedgerEntryView, balanceMinor: z.number().int(), duplicate: z.boolean(), currency: z.string() });
const replay = [{ status: 200, description: "the same idempotency key again: the first entry, `duplicate: true`" }];
const conflict = err(409, "idempotency_conflict", "the idempotency key was used for a different amount");
const userNotFound = err(404, "user_not_found", "unknown or deleted user");
const Plans = z.object({ plans: z.array(PlanView), currency: z.string() });

/** Plans, balance and ledger, quotas, invoices, statistics and alerts (Q1, B1, B3, B4). */
export const BILLING_ROUTES: readonly RouteDoc[] = [
  {
    method: "get", path: "/api/plans", tag: "billing", auth: "bearer", summary: "Plans on sale",
    response: { status: 200, description: "active plans", schema: Plans },
  },
  {
    method: "get", path: "/api/billing/balance", tag: "billing", auth: "bearer", scope: "billing:read", summary: "The caller's balance",
    response: { status: 200, description: "balance in minor units", schema: BalanceView },
  },
  {
    method: "get", path: "/api/billing/ledger", tag: "billing", auth: "bearer", scope: "billing:read", summary: "The caller's ledger, newest first (paged by beforeId)",
    query: LedgerQuery,
    response: { status: 200, description: "entries", schema: z.object({ entries: z.array(LedgerEntryView), nextBeforeId: z.number().int().nullable(), currency: z.string() }) },
  },
  {
    method: "post", path: "/api/billing/recharge", tag: "billing", auth: "bearer", scope: "billing:write",
    summary: "Recharge the caller's balance (stand-in for a payment provider webhook)",
    body: RechargeRequest,
    response: { status: 201, description: "posted", schema: Posted },
    alsoSucceeds: replay,
    errors: [err(403, "self_recharge_disabled", "selfRecharge is off"), conflict],
  },
  {
    method: "get", path: "/api/me/quota", tag: "billing", auth: "bearer", scope: "account:read", summary: "The caller's quota limits and usage",
    response: { status: 200, description: "limits and usage", schema: QuotaView },
  },
  {
    method: "get", path: "/api/billing/invoices", tag: "billing", auth: "bearer", scope: "billing:read", summary: "The caller's monthly invoices",
    response: { status: 200, description: "invoices", schema: z.object({ invoices: z.array(InvoiceView) }) },
  },
  {
    method: "get", path: "/api/billing/invoices/:period", tag: "billing", auth: "bearer", scope: "billing:read", summary: "One month's invoice (UTC YYYY-MM)",
    params: { period: Period },
    response: { status: 200, description: "the invoice (`open` for the current month, `final` for past ones)", schema: InvoiceView },
    errors: [err(404, "invoice_not_found", "a future month, or before the first ledger entry")],
  },
  {
    method: "post", path: "/api/admin/plans", tag: "admin", auth: "admin", summary: "Create a plan",
    body: CreatePlanRequest,
    response: { status: 201, description: "the plan", schema: PlanView },
  },
  {
    method: "get", path: "/api/admin/plans", tag: "admin", auth: "admin", summary: "All plans",
    query: PlansQuery,
    response: { status: 200, description: "plans", schema: Plans },
  },
  {
    method: "patch", path: "/api/admin/plans/:id", tag: "admin", auth: "admin", summary: "Change a plan's name, description, price or active flag",
    body: UpdatePlanRequest,
    response: { status: 200, description: "the plan", schema: PlanView },
    errors: [err(404, "plan_not_found", "unknown plan id")],
  },
  {
    method: "get", path: "/api/admin/users/:id/balance", tag: "admin", auth: "admin", summary: "A user's balance and latest entries",
    response: { status: 200, description: "balance and the last 20 entries", schema: z.object({ userId: z.string(), balanceMinor: z.number().int(), currency: z.string(), entries: z.array(LedgerEntryView) }) },
    errors: [userNotFound],
  },
  {
    method: "post", path: "/api/admin/users/:id/recharge", tag: "admin", auth: "admin", summary: "Recharge a user's balance",
    body: RechargeRequest,
    response: { status: 201, description: "posted", schema: Posted },
    alsoSucceeds: replay,
    errors: [userNotFound, conflict],
  },
  {
    method: "post", path: "/api/admin/users/:id/adjust", tag: "admin", auth: "admin", summary: "Signed balance adjustment with a reason",
    body: AdjustRequest,
    response: { status: 201, description: "posted", schema: Posted },
    alsoSucceeds: replay,
    errors: [userNotFound, conflict, err(402, "insufficient_funds", "a negative adjustment larger than the balance")],
  },
  {
    method: "get", path: "/api/admin/billing/verify", tag: "admin", auth: "admin", summary: "Re-derive every balance from the ledger",
    response: { status: 200, description: "consistency report", schema: z.object({ consistent: z.boolean(), mismatches: z.array(z.unknown()) }) },
  },
  {
    method: "get", path: "/api/admin/users/:id/quota", tag: "admin", auth: "admin", summary: "A user's quota limits and usage",
    response: { status: 200, description: "limits and usage", schema: QuotaView },
    errors: [userNotFound],
  },
  {
    method: "put", path: "/api/admin/users/:id/quota", tag: "admin", auth: "admin", summary: "Set a user's quota",
    body: QuotaLimitsBody,
    response: { status: 200, description: "limits and usage", schema: QuotaView },
    errors: [userNotFound],
  },
  {
    method: "get", path: "/api/admin/invoices", tag: "admin", auth: "admin", summary: "All users' invoices for a month",
    query: AdminInvoicesQuery,
    response: { status: 200, description: "invoices", schema: z.object({ period: z.string(), invoices: z.array(InvoiceView) }) },
  },
  {
    method: "get", path: "/api/admin/stats", tag: "admin", auth: "admin", summary: "Platform statistics (users, devices, hosts, plans, revenue)",
    response: { status: 200, description: "statistics", schema: StatsView },
  },
  {
    method: "get", path: "/api/admin/alerts", tag: "admin", auth: "admin", summary: "Operator alerts",
    query: AlertsQuery,
    response: { status: 200, description: "alerts, newest first", schema: z.object({ alerts: z.array(AlertView) }) },
  },
  {
    method: "post", path: "/api/admin/alerts/:id/resolve", tag: "admin", auth: "admin", summary: "Resolve an alert",
    response: { status: 200, description: "the alert", schema: AlertView },
    errors: [err(404, "alert_not_found", "unknown alert id")],
  },
];
