/** Pure placement: which host gets a new device. No I/O; the caller runs it inside an IMMEDIATE transaction. */

export interface HostCapacity {
  hostId: string;
  /** Totals the host offers. */
  cpuMillis: number;
  memoryMb: number;
  diskMb: number;
  deviceSlots: number;
  /** Sums over the host's non-deleted devices. */
  usedCpuMillis: number;
  usedMemoryMb: number;
  usedDiskMb: number;
  usedDevices: number;
}

export interface ResourceRequest {
  cpuMillis: number;
  memoryMb: number;
  diskMb: number;
}

export type PlacementResult =
  | { ok: true; hostId: string }
  | { ok: false; code: "no_host_online" | "no_capacity"; message: string };

function fits(h: HostCapacity, r: ResourceRequest): boolean {
  return (
    h.usedDevices + 1 <= h.deviceSlots &&
    h.usedCpuMillis + r.cpuMillis <= h.cpuMillis &&
    h.usedMemoryMb + r.memoryMb <= h.memoryMb &&
    h.usedDiskMb + r.diskMb <= h.diskMb
  );
}

/**
 * Chooses among eligible hosts (the caller passes only online, non-revoked ones) the one with room for the request,
 * preferring the most free device slots, then the most free memory, then the smallest id (deterministic).
 */
export function chooseHost(hosts: readonly HostCapacity[], request: ResourceRequest): PlacementResult {
  if (hosts.length === 0) return { ok: false, code: "no_host_online", message: "no host is online to place the device on" };
  let best: HostCapacity | null = null;
  for (const h of hosts) {
    if (!fits(h, request)) continue;
    if (best === null || better(h, best)) best = h;
  }
  if (best === null) {
    return {
      ok: false,
      code: "no_capacity",
      message: `no online host has room for ${request.cpuMillis} cpuMillis, ${request.memoryMb} memoryMb, ${request.diskMb} diskMb and one device slot`,
    };
  }
  return { ok: true, hostId: best.hostId };
}

function better(a: HostCapacity, b: HostCapacity): boolean {
  const slotsA = a.deviceSlots - a.usedDevices;
  const slotsB = b.deviceSlots - b.usedDevices;
  if (slotsA !== slotsB) return slotsA > slotsB;
  const memA = a.memoryMb - a.usedMemoryMb;
  const memB = b.memoryMb - b.usedMemoryMb;
  if (memA !== memB) return memA > memB;
  return a.hostId < b.hostId;
}

/** Whether one specific (pinned) host can take the request. */
export function checkPinnedHost(host: HostCapacity, request: ResourceRequest): PlacementResult {
  return fits(host, request)
    ? { ok: true, hostId: host.hostId }
    : { ok: false, code: "no_capacity", message: `host ${host.hostId} has no room for the device` };
}
