import { describe, expect, it } from "vitest";
import type { UsageModel } from "@cloudphone/shared-protocol";
import { UNIT_MS, chargeRecord, unitsFor, type Meter } from "./charges.js";

const ZERO: Meter = { meteredMs: 0, chargedUnits: 0, chargedMinor: 0 };
const MODELS: UsageModel[] = ["per_minute", "per_hour", "per_day", "monthly"];

/** Deterministic pseudo-random durations (no flaky seeds). */
function durations(n: number, maxMs: number, seed = 7): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return 1 + (x % maxMs);
  });
}

describe("usage charge arithmetic (B3)", () => {
  it("has the documented unit of every model", () => {
    expect(UNIT_MS).toEqual({ per_minute: 60_000, per_hour: 3_600_000, per_day: 86_400_000, monthly: 2_592_000_000 });
  });

  it.each(MODELS)("%s charges every started unit once", (model) => {
    const unit = UNIT_MS[model];
    expect(unitsFor(0, model)).toBe(0);
    expect(unitsFor(1, model)).toBe(1);
    expect(unitsFor(unit, model)).toBe(1);
    expect(unitsFor(unit + 1, model)).toBe(2);
    const tariff = { usageModel: model, usageRateMinor: 7 };
    const a = chargeRecord(ZERO, 1, tariff);
    expect(a).toMatchObject({ deltaUnits: 1, deltaMinor: 7, meter: { meteredMs: 1, chargedUnits: 1, chargedMinor: 7 } });
    // Still inside the paid unit: nothing more.
    const b = chargeRecord(a.meter, unit - 1, tariff);
    expect(b).toMatchObject({ deltaUnits: 0, deltaMinor: 0, meter: { meteredMs: unit, chargedUnits: 1, chargedMinor: 7 } });
    // One ms into the next unit: one more unit.
    const c = chargeRecord(b.meter, 1, tariff);
    expect(c).toMatchObject({ deltaUnits: 1, deltaMinor: 7, meter: { meteredMs: unit + 1, chargedUnits: 2, chargedMinor: 14 } });
  });

  it.each(MODELS)("%s: many small records cost exactly what one record of their total costs", (model) => {
    const tariff = { usageModel: model, usageRateMinor: 123 };
    const parts = durations(5_000, Math.max(2, Math.floor(UNIT_MS[model] / 3)));
    let meter = ZERO;
    let posted = 0;
    for (const d of parts) {
      const step = chargeRecord(meter, d, tariff);
      expect(step.deltaMinor).toBeGreaterThanOrEqual(0);
      posted += step.deltaMinor;
      meter = step.meter;
    }
    const total = parts.reduce((s, d) => s + d, 0);
    const once = chargeRecord(ZERO, total, tariff);
    expect(posted).toBe(once.deltaMinor);
    expect(meter).toEqual(once.meter);
    expect(posted).toBe(Math.ceil(total / UNIT_MS[model]) * 123);
  });

  it("a zero rate meters time and charges nothing", () => {
    const s = chargeRecord(ZERO, 90_000, { usageModel: "per_minute", usageRateMinor: 0 });
    expect(s).toEqual({ meter: { meteredMs: 90_000, chargedUnits: 2, chargedMinor: 0 }, deltaUnits: 2, deltaMinor: 0 });
  });

  it("refuses negative or fractional durations", () => {
    expect(() => chargeRecord(ZERO, -1, { usageModel: "per_hour", usageRateMinor: 1 })).toThrow(RangeError);
    expect(() => chargeRecord(ZERO, 1.5, { usageModel: "per_hour", usageRateMinor: 1 })).toThrow(RangeError);
  });
});
