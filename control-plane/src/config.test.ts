import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, envVarName, loadConfig, publicMqttUrl } from "./config.js";
import { tempDir } from "./testing/fixtures.js";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe("config", () => {
  it("applies the documented defaults", () => {
    const c = loadConfig({}, []);
    expect(c).toMatchObject({
      httpHost: "127.0.0.1",
      httpPort: 8080,
      dataDir: "./.data/control-plane",
      mqttMode: "embedded",
      mqttHost: "127.0.0.1",
      mqttPort: 1883,
      commandResendMs: 10_000,
      sqliteSynchronous: "FULL",
      logLevel: "info",
    });
    expect(c.adminToken).toBeUndefined();
    expect(publicMqttUrl(c, 41_000)).toBe("mqtt://127.0.0.1:41000");
  });

  it("maps camelCase keys to CLOUDPHONE_CP_ variables", () => {
    expect(envVarName("httpPort")).toBe("CLOUDPHONE_CP_HTTP_PORT");
    expect(envVarName("mqttPublicUrl")).toBe("CLOUDPHONE_CP_MQTT_PUBLIC_URL");
  });

  it("reads env values and names the variable in errors", () => {
    expect(loadConfig({ CLOUDPHONE_CP_HTTP_PORT: "0", CLOUDPHONE_CP_SQLITE_SYNCHRONOUS: "NORMAL" }, [])).toMatchObject({
      httpPort: 0,
      sqliteSynchronous: "NORMAL",
    });
    expect(() => loadConfig({ CLOUDPHONE_CP_HTTP_PORT: "70000" }, [])).toThrow(/CLOUDPHONE_CP_HTTP_PORT: must be 0-65535/);
    expect(() => loadConfig({ CLOUDPHONE_CP_ADMIN_TOKEN: "short" }, [])).toThrow(/CLOUDPHONE_CP_ADMIN_TOKEN: must be at least 16/);
    expect(() => loadConfig({ CLOUDPHONE_CP_MQTT_MODE: "external" }, [])).toThrow(/CLOUDPHONE_CP_MQTT_URL: is required/);
    expect(() => loadConfig({ CLOUDPHONE_CP_MQTT_MODE: "cluster" }, [])).toThrow(ConfigError);
  });

  it("merges --config file with env winning, and names file keys in errors", () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const file = join(t.dir, "cp.json");
    writeFileSync(file, JSON.stringify({ httpPort: 9000, mqttPort: 1999, mqttMode: "external", mqttUrl: "mqtt://127.0.0.1:1884" }));
    const c = loadConfig({ CLOUDPHONE_CP_HTTP_PORT: "9100" }, ["--config", file]);
    expect(c).toMatchObject({ httpPort: 9100, mqttPort: 1999, mqttMode: "external", mqttUrl: "mqtt://127.0.0.1:1884" });
    expect(publicMqttUrl(c, null)).toBe("mqtt://127.0.0.1:1884");
    writeFileSync(file, JSON.stringify({ commandResendMs: 5 }));
    expect(() => loadConfig({}, ["--config", file])).toThrow(/config file key commandResendMs: must be at least 100/);
    writeFileSync(file, JSON.stringify({ nope: 1 }));
    expect(() => loadConfig({}, ["--config", file])).toThrow(/unknown configuration key\(s\): nope/);
    writeFileSync(file, "{");
    expect(() => loadConfig({}, ["--config", file])).toThrow(/malformed JSON/);
  });
});
