import { describe, expect, it } from "vitest";
import { resolveConfig } from "../config/load.js";

const FILE = "file /etc/agent.json";
const base = { controlPlaneUrl: "http://127.0.0.1:1" };

describe("metering config", () => {
  it("defaults to a 60 s reporting interval", () => {
    expect(resolveConfig(base, FILE, {}).config.metering).toEqual({ intervalMs: 60_000 });
  });
  it("takes the interval from the file or from CLOUDPHONE_AGENT_METERING_INTERVAL_MS", () => {
    expect(resolveConfig({ ...base, metering: { intervalMs: 5000 } }, FILE, {}).config.metering.intervalMs).toBe(5000);
    const { config, warnings } = resolveConfig(base, FILE, { CLOUDPHONE_AGENT_METERING_INTERVAL_MS: "1500" });
    expect(config.metering.intervalMs).toBe(1500);
    expect(warnings).toEqual([]);
  });
  it("refuses an interval under 1 s or a fraction, naming the key and its source", () => {
    expect(() => resolveConfig(base, FILE, { CLOUDPHONE_AGENT_METERING_INTERVAL_MS: "999" })).toThrow(
      /metering\.intervalMs \(env CLOUDPHONE_AGENT_METERING_INTERVAL_MS\)/,
    );
    expect(() => resolveConfig({ ...base, metering: { intervalMs: 1500.5 } }, FILE, {})).toThrow(/metering\.intervalMs \(file/);
    expect(() => resolveConfig({ ...base, metering: { every: 1 } }, FILE, {})).toThrow(/metering\.every .*unknown key/);
  });
});
