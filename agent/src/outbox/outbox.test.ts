import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeStore, type TestStore } from "../test-support/fixtures.js";
import { backoffDelay } from "./outbox.js";

let s: TestStore;
beforeEach(() => {
  s = makeStore();
});
afterEach(() => s.cleanup());

const put = (n: number) => {
  const out: number[] = [];
  s.db.transaction(() => {
    for (let i = 0; i < n; i++) out.push(s.outbox.enqueue(`t/${i}`, () => ({ hostId: "host-1", n: i }), { deviceId: "d1" }).seq);
  })();
  return out;
};

describe("outbox", () => {
  it("assigns increasing seq and a full envelope inside the caller's transaction", () => {
    const seqs = put(3);
    expect(seqs).toEqual([1, 2, 3]);
    const rows = s.outbox.nextBatch(10);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
    const msg = JSON.parse(rows[0]!.payload) as Record<string, unknown>;
    expect(msg).toMatchObject({ hostId: "host-1", n: 0, seq: 1, v: 1, ts: s.clock.now });
    expect(typeof msg.id).toBe("string");
  });

  it("rolls the row back with the caller's transaction", () => {
    expect(() =>
      s.db.transaction(() => {
        s.outbox.enqueue("t", () => ({}));
        throw new Error("abort");
      })(),
    ).toThrow("abort");
    expect(s.outbox.stats().pending).toBe(0);
  });

  it("batches in seq order with a limit and marks published in one call", () => {
    put(5);
    expect(s.outbox.nextBatch(2).map((r) => r.seq)).toEqual([1, 2]);
    s.outbox.markPublished([1, 2]);
    expect(s.outbox.nextBatch(10).map((r) => r.seq)).toEqual([3, 4, 5]);
    expect(s.outbox.stats()).toMatchObject({ pending: 3, published: 2, failed: 0 });
  });

  it("backs off a failed row exponentially (capped) and never lets later rows overtake it", () => {
    put(3);
    expect(s.outbox.markRetry(1, "boom")).toBe(500);
    expect(s.outbox.nextBatch(10)).toEqual([]); // head not due: nothing overtakes it
    s.clock.now += 500;
    expect(s.outbox.nextBatch(10).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(s.outbox.markRetry(1, "boom")).toBe(1000);
    expect(s.outbox.markRetry(1, "boom")).toBe(2000);
    expect(backoffDelay(20, 500, 30_000)).toBe(30_000);
    expect(s.outbox.stats().attemptsTotal).toBe(3);
  });

  it("parks failed rows, keeps them visible and requeues them", () => {
    put(2);
    s.outbox.markFailed(1, "too large");
    expect(s.outbox.stats()).toMatchObject({ pending: 1, failed: 1 });
    expect(s.outbox.nextBatch(10).map((r) => r.seq)).toEqual([2]);
    expect(s.outbox.requeueFailed()).toBe(1);
    expect(s.outbox.nextBatch(10).map((r) => r.seq)).toEqual([1, 2]);
  });

  it("cleans up published rows older than the retention only", () => {
    put(2);
    s.outbox.markPublished([1]);
    s.clock.now += 6 * 86_400_000;
    s.outbox.markPublished([2]);
    s.clock.now += 2 * 86_400_000;
    expect(s.outbox.cleanup()).toBe(1);
    expect(s.outbox.stats()).toMatchObject({ published: 1, pending: 0 });
  });

  it("reports the age of the oldest pending row", () => {
    expect(s.outbox.stats().oldestPendingAgeMs).toBeNull();
    put(1);
    s.clock.now += 1234;
    expect(s.outbox.stats().oldestPendingAgeMs).toBe(1234);
  });
});
