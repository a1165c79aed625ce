import { z } from "zod";
import { InvoicePeriod, LedgerQuery, RechargeRequest } from "@cloudphone/shared-protocol";
import { principalOf, requireScope } from "../auth/principal.js";
import { entryView } from "../billing/accounts.js";
import { getInvoice, listInvoices } from "../billing/invoice-store.js";
import type { PostResult } from "../billing/ledger.js";
import { listPlans } from "../plans/store.js";
import { quotaDefaultsFrom, quotaView } from "../quota/defaults.js";
import type { App, AppDeps } from "./app.js";
import { ApiError } from "./errors.js";
import { readJson, validate } from "./validate.js";

const PeriodParam = z.object({ period: InvoicePeriod });

/** Maps a refused ledger post to its HTTP error (400 is unreachable after the schema check, kept for safety). */
export function ledgerError(r: Extract<PostResult, { ok: false }>): ApiError {
  const status = r.code === "insufficient_funds" ? 402 : r.code === "idempotency_conflict" ? 409 : 400;
  return new ApiError(status, r.code, r.message, r.code === "invalid_amount" ? [{ path: "amountMinor", message: r.message }] : undefined);
}

export function registerBillingRoutes(app: App, deps: AppDeps): void {
  const { db, ledger, config, log } = deps;
  const quotaDefaults = quotaDefaultsFrom(config);

  // Any authenticated caller may see what is for sale.
  app.get("/api/plans", (c) => {
    principalOf(c);
    return c.json({ plans: listPlans(db, { includeInactive: false }), currency: config.currency });
  });

  app.get("/api/billing/balance", (c) => {
    const p = requireScope(c, "billing:read");
    return c.json({ balanceMinor: ledger.balance(p.userId), currency: config.currency, lowBalanceThresholdMinor: config.lowBalanceThresholdMinor });
  });

  app.get("/api/billing/ledger", (c) => {
    const p = requireScope(c, "billing:read");
    const q = validate(LedgerQuery, c.req.query(), "query");
    const entries = ledger.entries(p.userId, { ...(q.beforeId ? { beforeId: q.beforeId } : {}), limit: q.limit });
    const last = entries.at(-1);
    return c.json({ entries: entries.map(entryView), nextBeforeId: entries.length === q.limit && last ? last.id : null, currency: config.currency });
  });

  // Stand-in for a payment provider's webhook: credits the caller directly. Disabled with selfRecharge=false.
  app.post("/api/billing/recharge", async (c) => {
    const p = requireScope(c, "billing:write");
    if (!config.selfRecharge) throw new ApiError(403, "self_recharge_disabled", "self-service recharge is disabled on this platform; ask an operator");
    const body = await readJson(c, RechargeRequest);
    const requestId = c.get("requestId");
    const r = ledger.post({
      userId: p.userId,
      kind: "recharge",
      amountMinor: body.amountMinor,
      // Namespaced per user, so a client key can never collide with another user's or a system key.
      idempotencyKey: `recharge:${p.userId}:${body.idempotencyKey}`,
      description: "self-service recharge",
      requestId,
    });
    if (!r.ok) throw ledgerError(r);
    if (!r.duplicate) log.info({ requestId, userId: p.userId, amountMinor: body.amountMinor, entryId: r.entry.id }, "balance recharged");
    return c.json({ entry: entryView(r.entry), balanceMinor: ledger.balance(p.userId), duplicate: r.duplicate, currency: config.currency }, r.duplicate ? 200 : 201);
  });

  app.get("/api/me/quota", (c) => {
    const p = requireScope(c, "account:read");
    return c.json(quotaView(db, p.userId, quotaDefaults));
  });

  app.get("/api/billing/invoices", (c) => {
    const p = requireScope(c, "billing:read");
    return c.json({ invoices: listInvoices(db, p.userId, config.currency) });
  });

  app.get("/api/billing/invoices/:period", (c) => {
    const p = requireScope(c, "billing:read");
    const { period } = validate(PeriodParam, { period: c.req.param("period") }, "path");
    const inv = getInvoice(db, p.userId, period, config.currency);
    if (!inv) throw new ApiError(404, "invoice_not_found", `no invoice for ${period}: the month is in the future or before the first ledger entry`);
    return c.json(inv);
  });
}
