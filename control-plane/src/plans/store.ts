import { newId, type CreatePlanRequest, type DeviceSpec, type PlanView, type QuotaLimitsBody, type UpdatePlanRequest, type UsageModel } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";

/**
 * Plans (B2/B3): a device spec, a one-off price paid at purchase and a usage rate charged per started unit of the
 * usage model while the device runs. Usage model, rate and spec are immutable once created, because the charge to
 * date of a metered device is `ceil(metered / unit) * rate` and must not change retroactively.
 */

export type Plan = PlanView;

interface PlanRow {
  id: string;
  name: string;
  description: string;
  price_minor: number;
  usage_model: UsageModel;
  usage_rate_minor: number;
  spec: string;
  quota: string | null;
  active: number;
  created_at: number;
  updated_at: number;
}

function toPlan(r: PlanRow): Plan {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    priceMinor: r.price_minor,
    usageModel: r.usage_model,
    usageRateMinor: r.usage_rate_minor,
    spec: JSON.parse(r.spec) as DeviceSpec,
    quota: r.quota ? (JSON.parse(r.quota) as QuotaLimitsBody) : null,
    active: r.active === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function createPlan(db: Db, req: CreatePlanRequest, now = Date.now()): Plan {
  const id = newId(now);
  db.prepare(
    `INSERT INTO plans (id, name, description, price_minor, usage_model, usage_rate_minor, spec, quota, active, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(id, req.name, req.description, req.priceMinor, req.usageModel, req.usageRateMinor, JSON.stringify(req.spec),
    req.quota ? JSON.stringify(req.quota) : null, req.active ? 1 : 0, now, now);
  return getPlan(db, id)!;
}

export function getPlan(db: Db, id: string): Plan | null {
  const r = db.prepare("SELECT * FROM plans WHERE id = ?").get(id) as PlanRow | undefined;
  return r ? toPlan(r) : null;
}

/** Active plans only (what users may buy), or all of them for admins. */
export function listPlans(db: Db, opts: { includeInactive: boolean }): Plan[] {
  const sql = `SELECT * FROM plans ${opts.includeInactive ? "" : "WHERE active = 1"} ORDER BY created_at, id`;
  return (db.prepare(sql).all() as PlanRow[]).map(toPlan);
}

/** Name, description, price and the active flag; a price change applies to orders created afterwards only. */
export function updatePlan(db: Db, id: string, patch: UpdatePlanRequest, now = Date.now()): Plan | null {
  const info = db
    .prepare(
      `UPDATE plans SET name = COALESCE(?, name), description = COALESCE(?, description), price_minor = COALESCE(?, price_minor),
         active = COALESCE(?, active), updated_at = ? WHERE id = ?`,
    )
    .run(patch.name ?? null, patch.description ?? null, patch.priceMinor ?? null, patch.active === undefined ? null : patch.active ? 1 : 0, now, id);
  return info.changes === 0 ? null : getPlan(db, id);
}
