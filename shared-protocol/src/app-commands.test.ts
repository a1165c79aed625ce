import { describe, expect, it } from "vitest";
import { DeviceCommand } from "./messages.js";

const base = { id: "cmd00001", seq: 1, ts: 1, v: 1, hostId: "h1", deviceId: "d1", generation: 3 };
const app = { id: "app00001", sha256: "0".repeat(64), size: 1234, packageName: "com.example.app" };

describe("app commands (A2)", () => {
  it("accepts app_install and app_uninstall", () => {
    expect(DeviceCommand.parse({ ...base, action: "app_install", installId: "inst0001", app })).toMatchObject({ action: "app_install", app });
    expect(DeviceCommand.parse({ ...base, action: "app_uninstall", installId: "inst0001", appId: "app00001", packageName: "com.example.app" })).toMatchObject({
      action: "app_uninstall",
    });
  });

  it("refuses a bad digest, size or missing install id, naming the field", () => {
    const bad = (v: unknown) => DeviceCommand.safeParse(v).error?.issues.map((i) => i.path.join("."));
    expect(bad({ ...base, action: "app_install", installId: "inst0001", app: { ...app, sha256: "XYZ" } })).toEqual(["app.sha256"]);
    expect(bad({ ...base, action: "app_install", installId: "inst0001", app: { ...app, size: 0 } })).toEqual(["app.size"]);
    expect(bad({ ...base, action: "app_uninstall", appId: "app00001", packageName: "p" })).toEqual(["installId"]);
    expect(bad({ ...base, action: "app_install", installId: "inst0001", app, extra: 1 })).toHaveLength(1);
  });
});
