import { describe, expect, it } from "vitest";
import { resolveConfig } from "../config/load.js";

const FILE = "file /etc/agent.json";
const base = { controlPlaneUrl: "http://127.0.0.1:8080" };

describe("adb configuration", () => {
  it("has defaults: adb server on loopback 5037, a port range outside the ephemeral ports, 120 s boot, 10 s health", () => {
    const { config } = resolveConfig(base, FILE, {});
    expect(config.adb).toEqual({
      enabled: true,
      serverHost: "127.0.0.1",
      serverPort: 5037,
      bin: "adb",
      portRange: "20000-20999",
      bootTimeoutMs: 120_000,
      healthIntervalMs: 10_000,
      commandTimeoutMs: 5000,
      probeIntervalMs: 250,
      maxReconnects: 3,
      reconnectBackoffMs: 1000,
      execMaxOutputBytes: 8 * 1024 * 1024,
    });
  });

  it("takes every key from the environment", () => {
    const { config, warnings } = resolveConfig(base, FILE, {
      CLOUDPHONE_AGENT_ADB_ENABLED: "false",
      CLOUDPHONE_AGENT_ADB_SERVER_PORT: "5038",
      CLOUDPHONE_AGENT_ADB_BIN: "/usr/lib/android-sdk/platform-tools/adb",
      CLOUDPHONE_AGENT_ADB_PORT_RANGE: "41000-41099",
      CLOUDPHONE_AGENT_ADB_BOOT_TIMEOUT_MS: "60000",
      CLOUDPHONE_AGENT_ADB_HEALTH_INTERVAL_MS: "2000",
      CLOUDPHONE_AGENT_ADB_MAX_RECONNECTS: "0",
    });
    expect(warnings).toEqual([]);
    expect(config.adb).toMatchObject({
      enabled: false,
      serverPort: 5038,
      bin: "/usr/lib/android-sdk/platform-tools/adb",
      portRange: "41000-41099",
      bootTimeoutMs: 60_000,
      healthIntervalMs: 2000,
      maxReconnects: 0,
    });
  });

  it("names the key and the source of a bad value", () => {
    expect(() => resolveConfig({ ...base, adb: { portRange: "5000-4000" } }, FILE, {})).toThrow(/adb\.portRange \(file \/etc\/agent\.json\): must be FROM-TO/);
    expect(() => resolveConfig(base, FILE, { CLOUDPHONE_AGENT_ADB_SERVER_HOST: "10.0.0.5" })).toThrow(
      /adb\.serverHost \(env CLOUDPHONE_AGENT_ADB_SERVER_HOST\): must be a loopback address/,
    );
    expect(() => resolveConfig({ ...base, adb: { bootTimeoutMs: 10 } }, FILE, {})).toThrow(/adb\.bootTimeoutMs/);
    expect(() => resolveConfig({ ...base, adb: { nope: 1 } }, FILE, {})).toThrow(/adb\.nope \(file \/etc\/agent\.json\): unknown key/);
  });
});
