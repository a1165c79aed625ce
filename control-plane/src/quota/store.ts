import type { Db } from "../store/db.js";
import { stmt } from "../store/statements.js";
import type { QuotaLimits, QuotaUsage } from "./quota.js";

const USAGE_SQL = `SELECT COUNT(*) AS devices, COALESCE(SUM(cpu_millis), 0) AS cpuMillis, COALESCE(SUM(memory_mb), 0) AS memoryMb,
       COALESCE(SUM(disk_mb), 0) AS diskMb
FROM devices WHERE owner_id = ? AND deleted_at IS NULL AND desired != 'deleted'`;
const LIMITS_SQL = "SELECT max_devices, max_cpu_millis, max_memory_mb, max_disk_mb, source FROM quotas WHERE user_id = ?";

/**
 * Usage is derived from the owner's live devices, so it is exact by construction: a device counts from the
 * transaction that inserts it until the user asks to delete it (desired = deleted) or the platform releases it.
 */
export function quotaUsage(db: Db, userId: string): QuotaUsage {
  return stmt(db, USAGE_SQL).get(userId) as QuotaUsage;
}

export interface StoredQuota extends QuotaLimits {
  source: "default" | "plan" | "admin";
}

/** The user's limits: their own row, else the platform default. */
export function quotaLimits(db: Db, userId: string, defaults: QuotaLimits): StoredQuota {
  const r = stmt(db, LIMITS_SQL).get(userId) as { max_devices: number; max_cpu_millis: number; max_memory_mb: number; max_disk_mb: number; source: StoredQuota["source"] } | undefined;
  if (!r) return { ...defaults, source: "default" };
  return { maxDevices: r.max_devices, maxCpuMillis: r.max_cpu_millis, maxMemoryMb: r.max_memory_mb, maxDiskMb: r.max_disk_mb, source: r.source };
}

export function setQuota(db: Db, userId: string, limits: QuotaLimits, source: StoredQuota["source"], now = Date.now()): void {
  db.prepare(
    `INSERT INTO quotas (user_id, max_devices, max_cpu_millis, max_memory_mb, max_disk_mb, source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (user_id) DO UPDATE SET max_devices = excluded.max_devices, max_cpu_millis = excluded.max_cpu_millis,
       max_memory_mb = excluded.max_memory_mb, max_disk_mb = excluded.max_disk_mb, source = excluded.source, updated_at = excluded.updated_at`,
  ).run(userId, limits.maxDevices, limits.maxCpuMillis, limits.maxMemoryMb, limits.maxDiskMb, source, now);
}

/** The limits after buying a plan with `planQuota` (Q1: defaults from the plan); an operator's quota stands as it is. */
export function raisedByPlan(current: StoredQuota, planQuota: QuotaLimits | null): StoredQuota {
  if (!planQuota || current.source === "admin") return current;
  const raised: StoredQuota = {
    maxDevices: Math.max(current.maxDevices, planQuota.maxDevices),
    maxCpuMillis: Math.max(current.maxCpuMillis, planQuota.maxCpuMillis),
    maxMemoryMb: Math.max(current.maxMemoryMb, planQuota.maxMemoryMb),
    maxDiskMb: Math.max(current.maxDiskMb, planQuota.maxDiskMb),
    source: "plan",
  };
  const same =
    raised.maxDevices === current.maxDevices &&
    raised.maxCpuMillis === current.maxCpuMillis &&
    raised.maxMemoryMb === current.maxMemoryMb &&
    raised.maxDiskMb === current.maxDiskMb;
  return same ? current : raised;
}

/** Buying a plan that carries a quota raises the buyer's stored limits to at least the plan's, dimension by dimension. */
export function grantPlanQuota(db: Db, userId: string, planQuota: QuotaLimits, defaults: QuotaLimits, now = Date.now()): boolean {
  const current = quotaLimits(db, userId, defaults);
  const raised = raisedByPlan(current, planQuota);
  if (raised === current) return false;
  setQuota(db, userId, raised, "plan", now);
  return true;
}
