import type { UsageModel } from "@cloudphone/shared-protocol";

/**
 * Pure usage-charge arithmetic (B3). A metered device's charge to date is `ceil(meteredMs / unitMs) * rate`: every
 * started unit is paid in full, once. Each usage record posts only the difference to what was already charged, so
 * many small records cost exactly what one record of their total duration costs, whatever their boundaries.
 */

const MINUTE = 60_000;
export const UNIT_MS: Readonly<Record<UsageModel, number>> = {
  per_minute: MINUTE,
  per_hour: 60 * MINUTE,
  per_day: 24 * 60 * MINUTE,
  monthly: 30 * 24 * 60 * MINUTE,
};

/** Started units in `meteredMs` of running time (0 ms → 0 units, 1 ms → 1 unit). */
export function unitsFor(meteredMs: number, model: UsageModel): number {
  if (!Number.isSafeInteger(meteredMs) || meteredMs < 0) throw new RangeError(`metered time must be a non-negative integer, got ${meteredMs}`);
  return Math.ceil(meteredMs / UNIT_MS[model]);
}

export interface Meter {
  meteredMs: number;
  chargedUnits: number;
  chargedMinor: number;
}

export interface Tariff {
  usageModel: UsageModel;
  usageRateMinor: number;
}

export interface ChargeStep {
  meter: Meter;
  /** Units newly started by this record (0 while still inside an already-paid unit). */
  deltaUnits: number;
  /** What this record costs; 0 posts nothing. */
  deltaMinor: number;
}

/** Adds one record's running time to a device meter and prices the difference. */
export function chargeRecord(meter: Meter, durationMs: number, tariff: Tariff): ChargeStep {
  if (!Number.isSafeInteger(durationMs) || durationMs < 0) throw new RangeError(`duration must be a non-negative integer, got ${durationMs}`);
  const meteredMs = meter.meteredMs + durationMs;
  const units = Math.max(unitsFor(meteredMs, tariff.usageModel), meter.chargedUnits);
  const deltaUnits = units - meter.chargedUnits;
  const deltaMinor = deltaUnits * tariff.usageRateMinor;
  return { meter: { meteredMs, chargedUnits: units, chargedMinor: meter.chargedMinor + deltaMinor }, deltaUnits, deltaMinor };
}
