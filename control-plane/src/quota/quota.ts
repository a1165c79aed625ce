/** Pure quota arithmetic (Q1). The caller reads usage and limits inside the same IMMEDIATE transaction that inserts the device. */

export interface QuotaLimits {
  maxDevices: number;
  maxCpuMillis: number;
  maxMemoryMb: number;
  maxDiskMb: number;
}

export interface QuotaUsage {
  devices: number;
  cpuMillis: number;
  memoryMb: number;
  diskMb: number;
}

export interface QuotaRequest {
  cpuMillis: number;
  memoryMb: number;
  diskMb: number;
}

export type QuotaCheck =
  | { ok: true }
  | { ok: false; code: "quota_exceeded"; dimension: "devices" | "cpuMillis" | "memoryMb" | "diskMb"; message: string };

/** Whether one more device of `request` fits; names the first dimension that would be exceeded. */
export function checkQuota(limits: QuotaLimits, usage: QuotaUsage, request: QuotaRequest): QuotaCheck {
  const checks: [Extract<QuotaCheck, { ok: false }>["dimension"], number, number, number][] = [
    ["devices", usage.devices, 1, limits.maxDevices],
    ["cpuMillis", usage.cpuMillis, request.cpuMillis, limits.maxCpuMillis],
    ["memoryMb", usage.memoryMb, request.memoryMb, limits.maxMemoryMb],
    ["diskMb", usage.diskMb, request.diskMb, limits.maxDiskMb],
  ];
  for (const [dimension, used, wanted, max] of checks) {
    if (used + wanted > max) {
      return { ok: false, code: "quota_exceeded", dimension, message: `quota exceeded: ${dimension} would be ${used + wanted}, the limit is ${max}` };
    }
  }
  return { ok: true };
}
