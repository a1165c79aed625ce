import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { portIsFree } from "./port-probe.js";
import { formatPortRange, parsePortRange, pickPort } from "./ports.js";

describe("adb port range", () => {
  it("parses FROM-TO and refuses malformed, privileged or reversed ranges", () => {
    expect(parsePortRange("20000-20999")).toEqual({ from: 20000, to: 20999 });
    expect(parsePortRange(" 40000 - 40000 ")).toEqual({ from: 40000, to: 40000 });
    for (const bad of ["", "20000", "20000-", "a-b", "80-90", "30000-20000", "60000-70000", "1e4-2e4"]) expect(parsePortRange(bad), bad).toBeNull();
    expect(formatPortRange({ from: 1, to: 2 })).toBe("1-2");
  });

  it("picks a free port starting at a random offset and wrapping around", () => {
    const r = { from: 100, to: 109 };
    expect(pickPort(r, new Set(), 0)).toBe(100);
    expect(pickPort(r, new Set(), 0.55)).toBe(105);
    expect(pickPort(r, new Set([105, 106]), 0.55)).toBe(107);
    expect(pickPort(r, new Set([108, 109]), 0.85)).toBe(100); // wraps
    expect(pickPort(r, new Set(), 0.9999999)).toBe(109);
  });

  it("never hands out a taken port and reports exhaustion", () => {
    const r = { from: 1, to: 50 };
    const taken = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const p = pickPort(r, taken, (i * 37) % 50 / 50);
      expect(p).not.toBeNull();
      expect(taken.has(p!)).toBe(false);
      taken.add(p!);
    }
    expect(pickPort(r, taken, 0.3)).toBeNull();
  });

  it("sees a port somebody listens on as taken", async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      expect(await portIsFree(port)).toBe(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await portIsFree(port)).toBe(true);
  });
});
