import { describe, expect, it } from "vitest";
import { discardBody } from "./discard-body.js";

function source(chunks: number, chunkBytes: number, pauseMs = 0): { stream: ReadableStream<Uint8Array>; pulled: () => number; cancelled: () => boolean } {
  let pulled = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      if (pulled >= chunks) return ctrl.close();
      pulled++;
      ctrl.enqueue(new Uint8Array(chunkBytes));
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, pulled: () => pulled, cancelled: () => cancelled };
}

describe("discardBody", () => {
  it("reads a small refused body to its end", async () => {
    const s = source(4, 1024);
    await discardBody(s.stream, 1 << 20, 1000);
    expect(s.pulled()).toBe(4);
  });

  it("stops after maxBytes and cancels the rest", async () => {
    const s = source(1000, 1024);
    await discardBody(s.stream, 10 * 1024, 1000);
    expect(s.pulled()).toBeLessThan(20);
    expect(s.cancelled()).toBe(true);
  });

  it("stops after maxMs when the client trickles", async () => {
    const s = source(1000, 1, 20);
    const t0 = Date.now();
    await discardBody(s.stream, 1 << 20, 150);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(s.cancelled()).toBe(true);
  });

  it("accepts no body at all", async () => {
    await expect(discardBody(null)).resolves.toBeUndefined();
  });
});
