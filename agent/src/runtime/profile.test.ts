import { describe, expect, it } from "vitest";
import { SPEC } from "../test-support/fixtures.js";
import { containerOptions } from "./profile.js";

const CFG = { hostId: "h1", image: "redroid/redroid:12", networkMode: "bridge" as const, privileged: true, extraBootArgs: ["x=1"] };

describe("containerOptions", () => {
  it("maps a spec to redroid create options with limits, labels, volume and loopback adb", () => {
    const o = containerOptions(CFG, { id: "d1", spec: SPEC, ownerId: "u9" });
    expect(o.name).toBe("cloudphone-d1");
    expect(o.Image).toBe("redroid/redroid:12");
    expect(o.Cmd).toEqual([
      "androidboot.redroid_width=720",
      "androidboot.redroid_height=1280",
      "androidboot.redroid_dpi=320",
      "androidboot.redroid_fps=30",
      "androidboot.use_memfd=true",
      "x=1",
    ]);
    expect(o.Labels).toEqual({
      "io.cloudphone.managed": "true",
      "io.cloudphone.host-id": "h1",
      "io.cloudphone.device-id": "d1",
      "io.cloudphone.owner-id": "u9",
      "io.cloudphone.disk-mb": "1024",
    });
    expect(o.HostConfig).toMatchObject({
      Privileged: true,
      NanoCpus: 1_000_000_000,
      Memory: 512 * 1048576,
      MemorySwap: 512 * 1048576,
      PidsLimit: 4096,
      RestartPolicy: { Name: "no" },
      NetworkMode: "bridge",
      Mounts: [{ Type: "volume", Source: "cloudphone-data-d1", Target: "/data" }],
      PortBindings: { "5555/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] },
    });
    expect(o.ExposedPorts).toEqual({ "5555/tcp": {} });
  });

  it("uses the spec image, omits owner when unset, and publishes no port in host mode", () => {
    const o = containerOptions({ ...CFG, networkMode: "host", privileged: false }, { id: "d2", spec: { ...SPEC, image: "my/img:1" }, ownerId: null });
    expect(o.Image).toBe("my/img:1");
    expect(o.Labels["io.cloudphone.owner-id"]).toBeUndefined();
    expect(o.ExposedPorts).toBeUndefined();
    expect(o.HostConfig.PortBindings).toBeUndefined();
    expect(o.HostConfig.Privileged).toBe(false);
  });
});
