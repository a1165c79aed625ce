import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, envVarName, loadConfigFile, resolveConfig } from "./load.js";

const FILE = "file /etc/agent.json";

describe("config", () => {
  it("fills defaults from a minimal file", () => {
    const { config } = resolveConfig({ controlPlaneUrl: "http://127.0.0.1:8080" }, FILE, {});
    expect(config.dataDir).toBe("/var/lib/cloudphone-agent");
    expect(config.runtime).toMatchObject({ networkMode: "bridge", privileged: true, extraBootArgs: [], stopTimeoutSeconds: 10 });
    expect(config.localApi).toEqual({ host: "127.0.0.1", port: 7070 });
    expect(config.outbox).toEqual({ maxInFlight: 100, batchSize: 200, retentionDays: 7, maxBackoffMs: 30000 });
    expect(config.recovery).toEqual({ maxAttempts: 3, backoffMs: 2000 });
    expect(config.sqliteSynchronous).toBe("FULL");
    expect(config.capacity.deviceSlots).toBe(8);
    expect(config.capacity.cpuMillis).toBeGreaterThan(0);
  });

  it("maps camelCase paths to upper-snake env names", () => {
    expect(envVarName("runtime.networkMode")).toBe("CLOUDPHONE_AGENT_RUNTIME_NETWORK_MODE");
    expect(envVarName("localApi.port")).toBe("CLOUDPHONE_AGENT_LOCAL_API_PORT");
    expect(envVarName("controlPlaneUrl")).toBe("CLOUDPHONE_AGENT_CONTROL_PLANE_URL");
  });

  it("applies env overrides with coercion over the file", () => {
    const { config, warnings } = resolveConfig({ controlPlaneUrl: "http://127.0.0.1:1", runtime: { networkMode: "bridge" } }, FILE, {
      CLOUDPHONE_AGENT_RUNTIME_NETWORK_MODE: "host",
      CLOUDPHONE_AGENT_LOCAL_API_PORT: "0",
      CLOUDPHONE_AGENT_RUNTIME_PRIVILEGED: "false",
      CLOUDPHONE_AGENT_RUNTIME_EXTRA_BOOT_ARGS: '["androidboot.redroid_gpu_mode=guest"]',
      CLOUDPHONE_AGENT_CONTROL_PLANE_URL: "https://cp.example.test",
      CLOUDPHONE_AGENT_NOPE: "x",
    });
    expect(config.runtime.networkMode).toBe("host");
    expect(config.runtime.privileged).toBe(false);
    expect(config.runtime.extraBootArgs).toEqual(["androidboot.redroid_gpu_mode=guest"]);
    expect(config.localApi.port).toBe(0);
    expect(config.controlPlaneUrl).toBe("https://cp.example.test");
    expect(warnings).toEqual(["environment variable CLOUDPHONE_AGENT_NOPE matches no configuration key; ignored"]);
  });

  it("names an unknown file key and its source", () => {
    expect(() => resolveConfig({ controlPlaneUrl: "http://127.0.0.1:1", runtime: { netMode: "host" } }, FILE, {})).toThrow(
      /runtime\.netMode \(file \/etc\/agent\.json\): unknown key/,
    );
  });

  it("requires controlPlaneUrl as an http(s) URL", () => {
    expect(() => resolveConfig({}, FILE, {})).toThrow(/controlPlaneUrl \(file \/etc\/agent\.json\)/);
    expect(() => resolveConfig({ controlPlaneUrl: "ftp://x" }, FILE, {})).toThrow(/controlPlaneUrl .*http/);
  });

  it("names the env var when an env value is invalid", () => {
    const env = { CLOUDPHONE_AGENT_RUNTIME_NETWORK_MODE: "overlay" };
    expect(() => resolveConfig({ controlPlaneUrl: "http://127.0.0.1:1" }, FILE, env)).toThrow(
      /runtime\.networkMode \(env CLOUDPHONE_AGENT_RUNTIME_NETWORK_MODE\)/,
    );
    expect(() => resolveConfig({ controlPlaneUrl: "http://127.0.0.1:1" }, FILE, { CLOUDPHONE_AGENT_LOCAL_API_PORT: "abc" })).toThrow(
      /localApi\.port \(env CLOUDPHONE_AGENT_LOCAL_API_PORT\): expected a number/,
    );
    expect(() => resolveConfig({ controlPlaneUrl: "http://127.0.0.1:1" }, FILE, { CLOUDPHONE_AGENT_RUNTIME_PRIVILEGED: "maybe" })).toThrow(
      /runtime\.privileged .*expected true or false/,
    );
  });

  it("refuses a non-loopback local API host", () => {
    expect(() => resolveConfig({ controlPlaneUrl: "http://127.0.0.1:1", localApi: { host: "0.0.0.0" } }, FILE, {})).toThrow(
      /localApi\.host \(file \/etc\/agent\.json\): must be a loopback address/,
    );
    expect(resolveConfig({ controlPlaneUrl: "http://127.0.0.1:1", localApi: { host: "::1" } }, FILE, {}).config.localApi.host).toBe("::1");
  });

  it("reports unreadable and malformed files as ConfigError", () => {
    const dir = mkdtempSync(join(tmpdir(), "cp-cfg-"));
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{ not json");
    expect(() => loadConfigFile(bad, {})).toThrow(ConfigError);
    expect(() => loadConfigFile(join(dir, "missing.json"), {})).toThrow(/cannot read config file/);
    const good = join(dir, "good.json");
    writeFileSync(good, JSON.stringify({ controlPlaneUrl: "http://127.0.0.1:9" }));
    expect(loadConfigFile(good, {}).config.controlPlaneUrl).toBe("http://127.0.0.1:9");
  });
});
