import { describe, expect, it } from "vitest";
import { RtpHistory } from "./history.js";

describe("RtpHistory", () => {
  it("finds a packet by sequence number until a newer one takes its slot", () => {
    const h = new RtpHistory(8);
    const payloads = Array.from({ length: 10 }, (_, i) => Buffer.from([i]));
    for (let i = 0; i < 10; i++) h.record((65530 + i) & 0xffff, i < 6 ? 0 : 1, 1000 + i, i === 9, payloads[i]!);
    expect(h.find(65530)).toBeNull(); // overwritten by seq 2 (same slot)
    expect(h.find(65531)).toBeNull();
    expect(h.find(65532)).toEqual({ sequenceNumber: 65532, rolloverCounter: 0, timestamp: 1002, marker: false, payload: payloads[2] });
    expect(h.find(3)).toEqual({ sequenceNumber: 3, rolloverCounter: 1, timestamp: 1009, marker: true, payload: payloads[9] });
    expect(h.find(3)?.payload).toBe(payloads[9]); // a reference, not a copy
    expect(h.find(4)).toBeNull(); // never sent
  });

  it("forgets everything on clear and refuses sizes that are not powers of two", () => {
    const h = new RtpHistory(4);
    h.record(1, 0, 0, true, Buffer.from([1]));
    h.clear();
    expect(h.find(1)).toBeNull();
    expect(() => new RtpHistory(6)).toThrow(/power of two/);
  });
});
