import { describe, expect, it } from "vitest";
import { decideFundsActions, fundsExhausted, startRefusedForFunds, type OwnedDevice } from "./suspension.js";

const GRACE = 300_000;
const NOW = 10_000_000;
const dev = (id: string, o: Partial<OwnedDevice> = {}): OwnedDevice => ({ id, desired: "running", deletedAt: null, suspendedAt: null, metered: true, ...o });

describe("zero-balance policy (B3)", () => {
  it("waits for the grace period before suspending", () => {
    const devices = [dev("a")];
    expect(decideFundsActions({ balanceMinor: 0, depletedSince: NOW - GRACE + 1 }, devices, NOW, GRACE)).toEqual([]);
    expect(decideFundsActions({ balanceMinor: -5, depletedSince: NOW - GRACE }, devices, NOW, GRACE)).toEqual([{ kind: "suspend", deviceId: "a" }]);
  });

  it("suspends only running, live, unsuspended, metered devices", () => {
    const devices = [
      dev("run"),
      dev("stopped", { desired: "stopped" }),
      dev("deleting", { desired: "deleted" }),
      dev("gone", { deletedAt: 1 }),
      dev("already", { suspendedAt: 5, desired: "stopped" }),
      dev("free", { metered: false }),
    ];
    expect(decideFundsActions({ balanceMinor: -1, depletedSince: 0 }, devices, NOW, GRACE)).toEqual([{ kind: "suspend", deviceId: "run" }]);
  });

  it("does nothing for a zero balance that never depleted (no row, never charged)", () => {
    expect(fundsExhausted({ balanceMinor: 0, depletedSince: null }, NOW, 0)).toBe(false);
    expect(decideFundsActions({ balanceMinor: 0, depletedSince: null }, [dev("a")], NOW, 0)).toEqual([]);
  });

  it("resumes suspended devices once the balance is positive, and only releases those deleted or started meanwhile", () => {
    const devices = [
      dev("susp", { desired: "stopped", suspendedAt: 1 }),
      dev("startedByOwner", { desired: "running", suspendedAt: 1 }),
      dev("deleted", { desired: "deleted", suspendedAt: 1 }),
      dev("released", { desired: "stopped", suspendedAt: 1, deletedAt: 2 }),
      dev("untouched", { desired: "stopped" }),
    ];
    expect(decideFundsActions({ balanceMinor: 1, depletedSince: null }, devices, NOW, GRACE)).toEqual([
      { kind: "resume", deviceId: "susp" },
      { kind: "release", deviceId: "startedByOwner" },
      { kind: "release", deviceId: "deleted" },
      { kind: "release", deviceId: "released" },
    ]);
  });

  it("keeps suspended devices stopped while the balance is still not positive", () => {
    expect(decideFundsActions({ balanceMinor: 0, depletedSince: 0 }, [dev("s", { desired: "stopped", suspendedAt: 1 })], NOW, GRACE)).toEqual([]);
  });

  it("refuses to start a metered device of an owner without funds", () => {
    expect(startRefusedForFunds(true, 0)).toBe(true);
    expect(startRefusedForFunds(true, -1)).toBe(true);
    expect(startRefusedForFunds(true, 1)).toBe(false);
    expect(startRefusedForFunds(false, -100)).toBe(false);
    expect(startRefusedForFunds(true, null)).toBe(false);
  });
});
