import type { HostCapacityMessage } from "@cloudphone/shared-protocol";
import type { DeviceRecord } from "../devices/types.js";

export interface CapacityTotals {
  cpuMillis: number;
  memoryMb: number;
  diskMb: number;
  deviceSlots: number;
}

/** Capacity body from configured totals and the recorded (non-deleted) devices. Pure. */
export function capacityBody(
  hostId: string,
  total: CapacityTotals,
  devices: readonly DeviceRecord[],
  dockerVersion: string | null,
): Omit<HostCapacityMessage, "id" | "seq" | "ts" | "v"> {
  const live = devices.filter((d) => d.state !== "deleted");
  const used = { cpuMillis: 0, memoryMb: 0, diskMb: 0, devices: live.length };
  for (const d of live) {
    used.cpuMillis += d.spec.cpuMillis;
    used.memoryMb += d.spec.memoryMb;
    used.diskMb += d.spec.diskMb;
  }
  const body: Omit<HostCapacityMessage, "id" | "seq" | "ts" | "v"> = {
    hostId,
    total: { ...total },
    used,
    inventory: live.slice(0, 10_000).map((d) => ({ deviceId: d.id, state: d.state, desired: d.desired })),
  };
  if (dockerVersion) body.docker = { version: dockerVersion.slice(0, 64) };
  return body;
}
