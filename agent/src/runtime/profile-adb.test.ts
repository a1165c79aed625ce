import { describe, expect, it } from "vitest";
import { SPEC } from "../test-support/fixtures.js";
import { adbPortFromLabels, containerOptions } from "./profile.js";

const CFG = { hostId: "h1", image: "redroid/redroid:12", networkMode: "host" as const, privileged: false, extraBootArgs: ["x=1"] };

describe("containerOptions: the device's own adbd port", () => {
  it("host mode: passes the port as a boot arg and records it in a label", () => {
    const o = containerOptions(CFG, { id: "d1", spec: SPEC, ownerId: null, adbPort: 20042 });
    expect(o.Cmd).toContain("androidboot.redroid_adb_port=20042");
    expect(o.Cmd.at(-1)).toBe("x=1"); // operator boot args come last
    expect(o.Labels["io.cloudphone.adb-port"]).toBe("20042");
    expect(adbPortFromLabels(o.Labels)).toBe(20042);
  });

  it("bridge mode, or no port: neither boot arg nor label (adbd stays on 5555, published by Docker)", () => {
    for (const o of [
      containerOptions({ ...CFG, networkMode: "bridge" }, { id: "d1", spec: SPEC, ownerId: null, adbPort: 20042 }),
      containerOptions(CFG, { id: "d1", spec: SPEC, ownerId: null }),
    ]) {
      expect(o.Cmd.some((a) => a.startsWith("androidboot.redroid_adb_port="))).toBe(false);
      expect(o.Labels["io.cloudphone.adb-port"]).toBeUndefined();
    }
  });

  it("reads only a valid port from labels", () => {
    expect(adbPortFromLabels(undefined)).toBeNull();
    expect(adbPortFromLabels({ "io.cloudphone.adb-port": "x" })).toBeNull();
    expect(adbPortFromLabels({ "io.cloudphone.adb-port": "70000" })).toBeNull();
    expect(adbPortFromLabels({ "io.cloudphone.adb-port": "5555" })).toBe(5555);
  });
});
