/**
 * Pure zero-balance policy (B3). Only metered devices (those bought with a plan) cost money, so only they are
 * suspended when the owner's funds stay exhausted past the grace period, and resumed once the balance is positive.
 */

export interface FundsState {
  balanceMinor: number;
  /** When the balance last reached <= 0 (null while positive or never depleted). */
  depletedSince: number | null;
}

export interface OwnedDevice {
  id: string;
  desired: "running" | "stopped" | "deleted";
  deletedAt: number | null;
  /** Set while the device is stopped because its owner ran out of funds. */
  suspendedAt: number | null;
  /** Has a plan, so its running time is charged. */
  metered: boolean;
}

export type FundsAction =
  /** Stop it and mark it suspended for funds. */
  | { kind: "suspend"; deviceId: string }
  /** Start it again and clear the mark. */
  | { kind: "resume"; deviceId: string }
  /** Clear the mark only: the device was deleted or started meanwhile, there is nothing to restart. */
  | { kind: "release"; deviceId: string };

/** Whether the owner's funds have been exhausted for longer than the grace period. */
export function fundsExhausted(funds: FundsState, now: number, graceMs: number): boolean {
  return funds.balanceMinor <= 0 && funds.depletedSince !== null && now - funds.depletedSince >= graceMs;
}

/** What to do with one owner's devices now. */
export function decideFundsActions(funds: FundsState, devices: readonly OwnedDevice[], now: number, graceMs: number): FundsAction[] {
  if (fundsExhausted(funds, now, graceMs)) {
    return devices
      .filter((d) => d.metered && d.deletedAt === null && d.desired === "running" && d.suspendedAt === null)
      .map((d) => ({ kind: "suspend", deviceId: d.id }));
  }
  if (funds.balanceMinor > 0) {
    return devices
      .filter((d) => d.suspendedAt !== null)
      .map((d) => (d.deletedAt === null && d.desired === "stopped" ? { kind: "resume", deviceId: d.id } : { kind: "release", deviceId: d.id }));
  }
  // Depleted but still inside the grace period (or exactly zero and never depleted): leave everything as it is.
  return [];
}

/** Whether starting a device is refused for funds: a metered device whose owner's balance is not positive. */
export function startRefusedForFunds(metered: boolean, ownerBalanceMinor: number | null): boolean {
  return metered && ownerBalanceMinor !== null && ownerBalanceMinor <= 0;
}
