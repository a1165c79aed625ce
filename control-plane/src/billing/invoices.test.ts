import { describe, expect, it } from "vitest";
import { buildInvoice, periodBounds, periodOf, periodsBetween } from "./invoices.js";

describe("invoice arithmetic (B4)", () => {
  it("maps times to UTC months and back", () => {
    expect(periodOf(Date.UTC(2026, 0, 31, 23, 59, 59, 999))).toBe("2026-01");
    expect(periodOf(Date.UTC(2026, 1, 1))).toBe("2026-02");
    expect(periodBounds("2026-12")).toEqual({ start: Date.UTC(2026, 11, 1), end: Date.UTC(2027, 0, 1) });
    expect(periodBounds("2024-02").end - periodBounds("2024-02").start).toBe(29 * 86_400_000);
    expect(() => periodBounds("2026-13")).toThrow(RangeError);
    expect(periodsBetween("2025-11", "2026-02")).toEqual(["2025-11", "2025-12", "2026-01", "2026-02"]);
    expect(periodsBetween("2026-02", "2026-02")).toEqual(["2026-02"]);
  });

  it("groups lines by kind and device, with credits, debits and closing", () => {
    const inv = buildInvoice(1_000, [
      { kind: "recharge", amountMinor: 5_000, deviceId: null },
      { kind: "deduct", amountMinor: -2_000, deviceId: null },
      { kind: "usage", amountMinor: -30, deviceId: "d2" },
      { kind: "usage", amountMinor: -10, deviceId: "d1" },
      { kind: "usage", amountMinor: -10, deviceId: "d1" },
      { kind: "adjustment", amountMinor: -100, deviceId: null },
      { kind: "adjustment", amountMinor: 40, deviceId: null },
      { kind: "refund", amountMinor: 2_000, deviceId: null },
    ]);
    expect(inv).toEqual({
      openingMinor: 1_000,
      creditsMinor: 7_040,
      debitsMinor: 2_150,
      closingMinor: 5_890,
      lines: [
        { kind: "recharge", deviceId: null, entries: 1, amountMinor: 5_000 },
        { kind: "refund", deviceId: null, entries: 1, amountMinor: 2_000 },
        { kind: "adjustment", deviceId: null, entries: 2, amountMinor: -60 },
        { kind: "deduct", deviceId: null, entries: 1, amountMinor: -2_000 },
        { kind: "usage", deviceId: "d1", entries: 2, amountMinor: -20 },
        { kind: "usage", deviceId: "d2", entries: 1, amountMinor: -30 },
      ],
    });
  });

  it("an empty month closes at its opening balance", () => {
    expect(buildInvoice(-15, [])).toEqual({ openingMinor: -15, creditsMinor: 0, debitsMinor: 0, closingMinor: -15, lines: [] });
  });
});
