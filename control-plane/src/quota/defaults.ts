import type { Config } from "../config.js";
import type { QuotaLimits, QuotaUsage } from "./quota.js";
import type { Db } from "../store/db.js";
import { quotaLimits, quotaUsage, type StoredQuota } from "./store.js";

/** The platform default quota (config `defaultQuota*`) for users without their own row. */
export function quotaDefaultsFrom(config: Config): QuotaLimits {
  return {
    maxDevices: config.defaultQuotaDevices,
    maxCpuMillis: config.defaultQuotaCpuMillis,
    maxMemoryMb: config.defaultQuotaMemoryMb,
    maxDiskMb: config.defaultQuotaDiskMb,
  };
}

/** Limits and current usage of one user, read in one snapshot. */
export function quotaView(db: Db, userId: string, defaults: QuotaLimits): { limits: StoredQuota; usage: QuotaUsage } {
  return db.transaction(() => ({ limits: quotaLimits(db, userId, defaults), usage: quotaUsage(db, userId) }))();
}
