// The harness's own pure helpers: waitFor's result and timeout report, config deep merge, free ports.
import { describe, expect, it } from "vitest";
import { freePort } from "./ports.js";
import { deepMerge } from "./processes.js";
import { waitFor } from "./wait.js";

describe("waitFor", () => {
  it("returns the first truthy value of the probe", async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { intervalMs: 1 });
    expect(value).toEqual({ calls: 3 });
  });

  it("names the condition and the last observed value or error on timeout", async () => {
    const state = (): string => "pending";
    await expect(waitFor(() => state() === "running", { timeoutMs: 30, intervalMs: 5, message: "device running" })).rejects.toThrow(
      /device running not met within 30 ms; last value: false/,
    );
    await expect(
      waitFor(
        () => {
          throw new Error("ECONNREFUSED");
        },
        { timeoutMs: 30, intervalMs: 5, message: "api up" },
      ),
    ).rejects.toThrow(/api up not met within 30 ms; last error: Error: ECONNREFUSED/);
  });
});

describe("deepMerge", () => {
  it("merges nested objects and lets overrides replace leaves and arrays", () => {
    const merged = deepMerge(
      { runtime: { image: "a", privileged: false }, extra: [1], reconcileIntervalMs: 2000 },
      { runtime: { image: "b" }, extra: [2, 3] },
    );
    expect(merged).toEqual({ runtime: { image: "b", privileged: false }, extra: [2, 3], reconcileIntervalMs: 2000 });
  });
});

describe("freePort", () => {
  it("returns a loopback port that can be listened on", async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
  });
});
