import { z } from "zod";
import { DeviceSpec } from "./messages.js";

/**
 * HTTP bodies of plans, balance/ledger, quotas, invoices, statistics and alerts (Q1, B1, B3, B4).
 * Money is always an integer number of minor units (cents); time is epoch milliseconds.
 */

/** Largest single amount accepted anywhere (10^12 minor units); the ledger enforces the same bound. */
export const MAX_AMOUNT_MINOR = 1_000_000_000_000;

const INT_MSG = "must be an integer number of minor units";
/** A positive amount: recharges, prices are checked with this (or `PriceMinor`, which allows 0). */
export const AmountMinor = z
  .number({ error: "must be a number (integer minor units)" })
  .int(INT_MSG)
  .min(1, "must be at least 1")
  .max(MAX_AMOUNT_MINOR, `must be at most ${MAX_AMOUNT_MINOR}`);
export const PriceMinor = z
  .number({ error: "must be a number (integer minor units)" })
  .int(INT_MSG)
  .min(0, "must not be negative")
  .max(MAX_AMOUNT_MINOR, `must be at most ${MAX_AMOUNT_MINOR}`);
/** A signed, non-zero amount (admin adjustments). */
export const SignedAmountMinor = z
  .number({ error: "must be a number (integer minor units)" })
  .int(INT_MSG)
  .min(-MAX_AMOUNT_MINOR, `must be at least -${MAX_AMOUNT_MINOR}`)
  .max(MAX_AMOUNT_MINOR, `must be at most ${MAX_AMOUNT_MINOR}`)
  .refine((n) => n !== 0, "must not be zero");

/** Client-chosen key making a money request safe to retry: the same key never posts twice. */
export const IdempotencyKey = z.string().regex(/^[\x21-\x7e]{1,128}$/, "must be 1-128 printable ASCII characters without spaces");

export const RechargeRequest = z.strictObject({ amountMinor: AmountMinor, idempotencyKey: IdempotencyKey });
export type RechargeRequest = z.infer<typeof RechargeRequest>;

export const AdjustRequest = z.strictObject({
  amountMinor: SignedAmountMinor,
  reason: z.string().trim().min(1, "must not be empty").max(500),
  /** Optional; without it every call is a new adjustment. */
  idempotencyKey: IdempotencyKey.optional(),
});
export type AdjustRequest = z.infer<typeof AdjustRequest>;

export const LedgerQuery = z.object({
  beforeId: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const LedgerKind = z.enum(["recharge", "deduct", "refund", "usage", "adjustment"]);

export const BalanceView = z.object({ balanceMinor: z.number().int(), currency: z.string(), lowBalanceThresholdMinor: z.number().int() });
export type BalanceView = z.infer<typeof BalanceView>;

export const LedgerEntryView = z.object({
  id: z.number().int(),
  kind: LedgerKind,
  amountMinor: z.number().int(),
  balanceAfterMinor: z.number().int(),
  orderId: z.string().nullable(),
  deviceId: z.string().nullable(),
  description: z.string(),
  createdAt: z.number().int(),
});
export type LedgerEntryView = z.infer<typeof LedgerEntryView>;

// ---- plans ----

export const UsageModel = z.enum(["per_minute", "per_hour", "per_day", "monthly"]);
export type UsageModel = z.infer<typeof UsageModel>;

export const QuotaLimitsBody = z.strictObject({
  maxDevices: z.number().int().min(0).max(100_000),
  maxCpuMillis: z.number().int().min(0).max(100_000_000),
  maxMemoryMb: z.number().int().min(0).max(100_000_000),
  maxDiskMb: z.number().int().min(0).max(1_000_000_000),
});
export type QuotaLimitsBody = z.infer<typeof QuotaLimitsBody>;

export const CreatePlanRequest = z.strictObject({
  name: z.string().trim().min(1).max(100),
  description: z.string().max(2000).default(""),
  /** Paid once, at purchase. */
  priceMinor: PriceMinor,
  usageModel: UsageModel,
  /** Charged per started unit of the usage model while the device runs. */
  usageRateMinor: PriceMinor,
  spec: DeviceSpec.strict(),
  /** Quota granted with the plan (used by the order saga), optional. */
  quota: QuotaLimitsBody.optional(),
  active: z.boolean().default(true),
});
export type CreatePlanRequest = z.infer<typeof CreatePlanRequest>;

/** Usage model, rate and spec are fixed once created (metered devices depend on them): create a new plan instead. */
export const UpdatePlanRequest = z
  .strictObject({
    name: z.string().trim().min(1).max(100).optional(),
    description: z.string().max(2000).optional(),
    priceMinor: PriceMinor.optional(),
    active: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, {
    message: "must change at least one of name, description, priceMinor, active",
    // Only for an otherwise valid body: an unknown key alone is reported as such, not as an empty change.
    when: (payload) => payload.issues.length === 0,
  });
export type UpdatePlanRequest = z.infer<typeof UpdatePlanRequest>;

export const PlanView = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  priceMinor: z.number().int(),
  usageModel: UsageModel,
  usageRateMinor: z.number().int(),
  spec: DeviceSpec,
  quota: QuotaLimitsBody.nullable(),
  active: z.boolean(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});
export type PlanView = z.infer<typeof PlanView>;

// ---- quotas ----

export const QuotaUsageView = z.object({ devices: z.number().int(), cpuMillis: z.number().int(), memoryMb: z.number().int(), diskMb: z.number().int() });
export const QuotaView = z.object({
  limits: QuotaLimitsBody.extend({ source: z.enum(["default", "plan", "admin"]) }),
  usage: QuotaUsageView,
});
export type QuotaView = z.infer<typeof QuotaView>;

// ---- invoices ----

/** A UTC calendar month. */
export const InvoicePeriod = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, "must be a UTC month YYYY-MM");

export const InvoiceLine = z.object({
  kind: LedgerKind,
  deviceId: z.string().nullable(),
  entries: z.number().int(),
  /** Signed sum of the entries of this kind (and device) in the month. */
  amountMinor: z.number().int(),
});
export type InvoiceLine = z.infer<typeof InvoiceLine>;

export const InvoiceView = z.object({
  userId: z.string(),
  period: InvoicePeriod,
  status: z.enum(["open", "final"]),
  currency: z.string(),
  openingMinor: z.number().int(),
  creditsMinor: z.number().int(),
  debitsMinor: z.number().int(),
  closingMinor: z.number().int(),
  lines: z.array(InvoiceLine),
});
export type InvoiceView = z.infer<typeof InvoiceView>;

export const AdminInvoicesQuery = z.object({ period: InvoicePeriod });

// ---- statistics and alerts ----

export const StatsView = z.object({
  users: z.object({ total: z.number().int(), newToday: z.number().int() }),
  devices: z.object({ total: z.number().int(), online: z.number().int(), byState: z.record(z.string(), z.number().int()) }),
  hosts: z.object({ total: z.number().int(), online: z.number().int() }),
  plans: z.array(z.object({ planId: z.string(), name: z.string(), activeOrders: z.number().int(), liveDevices: z.number().int() })),
  revenue: z.object({
    period: InvoicePeriod,
    currency: z.string(),
    paymentsMinor: z.number().int(),
    usageMinor: z.number().int(),
    refundsMinor: z.number().int(),
    netMinor: z.number().int(),
  }),
  at: z.number().int(),
});
export type StatsView = z.infer<typeof StatsView>;

export const AlertsQuery = z.object({
  open: z.enum(["true", "false"]).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const AlertView = z.object({
  id: z.string(),
  kind: z.string(),
  severity: z.enum(["warning", "critical"]),
  subjectId: z.string().nullable(),
  message: z.string(),
  data: z.unknown(),
  createdAt: z.number().int(),
  resolvedAt: z.number().int().nullable(),
  resolvedBy: z.string().nullable(),
});
export type AlertView = z.infer<typeof AlertView>;
