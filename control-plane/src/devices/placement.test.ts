import { describe, expect, it } from "vitest";
import { checkPinnedHost, chooseHost, type HostCapacity } from "./placement.js";

const host = (hostId: string, over: Partial<HostCapacity> = {}): HostCapacity => ({
  hostId,
  cpuMillis: 8000,
  memoryMb: 16384,
  diskMb: 100_000,
  deviceSlots: 4,
  usedCpuMillis: 0,
  usedMemoryMb: 0,
  usedDiskMb: 0,
  usedDevices: 0,
  ...over,
});
const req = { cpuMillis: 2000, memoryMb: 2048, diskMb: 8192 };

describe("chooseHost", () => {
  it("reports no_host_online when there is no eligible host", () => {
    const r = chooseHost([], req);
    expect(r).toMatchObject({ ok: false, code: "no_host_online" });
  });

  it("reports no_capacity when no host has room", () => {
    const r = chooseHost([host("a", { usedDevices: 4 }), host("b", { usedCpuMillis: 7000 })], req);
    expect(r).toMatchObject({ ok: false, code: "no_capacity" });
  });

  it("checks every resource and the slot count", () => {
    expect(chooseHost([host("a", { usedMemoryMb: 15000 })], req).ok).toBe(false);
    expect(chooseHost([host("a", { usedDiskMb: 95_000 })], req).ok).toBe(false);
    expect(chooseHost([host("a", { usedDevices: 3, usedCpuMillis: 6000, usedMemoryMb: 14336, usedDiskMb: 91_808 })], req)).toEqual({
      ok: true,
      hostId: "a",
    });
  });

  it("prefers the most free slots, then the most free memory, then the smallest id", () => {
    expect(chooseHost([host("a", { usedDevices: 2 }), host("b", { usedDevices: 1 })], req)).toEqual({ ok: true, hostId: "b" });
    expect(chooseHost([host("a", { usedMemoryMb: 4096 }), host("b")], req)).toEqual({ ok: true, hostId: "b" });
    expect(chooseHost([host("b"), host("a")], req)).toEqual({ ok: true, hostId: "a" });
  });

  it("skips a full host in favour of one with room", () => {
    expect(chooseHost([host("a", { usedDevices: 4 }), host("b", { usedDevices: 3 })], req)).toEqual({ ok: true, hostId: "b" });
  });
});

describe("checkPinnedHost", () => {
  it("accepts a host with room and refuses a full one", () => {
    expect(checkPinnedHost(host("a"), req)).toEqual({ ok: true, hostId: "a" });
    expect(checkPinnedHost(host("a", { usedDevices: 4 }), req)).toMatchObject({ ok: false, code: "no_capacity" });
  });
});
