// The test device image behaves like redroid as the agent drives it: boot args in Cmd, a named volume at
// /data, host networking, CPU/memory limits, not privileged; it records its boot args and stops at once
// with exit code 0 on SIGTERM.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { TEST_DEVICE_IMAGE } from "./support/device-image.js";
import { docker, execInContainer, MANAGED_LABEL } from "./support/docker.js";
import { waitFor } from "./support/wait.js";

const suffix = randomBytes(4).toString("hex");
const name = `cloudphone-image-test-${suffix}`;
const volumeName = `cloudphone-image-test-data-${suffix}`;
const labels = { [MANAGED_LABEL]: "true", "io.cloudphone.test": "device-image" };
const bootArgs = [
  "androidboot.redroid_width=720",
  "androidboot.redroid_height=1280",
  "androidboot.redroid_dpi=320",
  "androidboot.redroid_fps=30",
  "androidboot.use_memfd=true",
];

afterAll(async () => {
  for (const container of await docker.listContainers({ all: true, filters: { label: ["io.cloudphone.test=device-image"] } })) {
    await docker.getContainer(container.Id).remove({ force: true });
  }
  await docker.getVolume(volumeName).remove({ force: true }).catch(() => undefined);
});

describe("test device image", () => {
  it("records boot args, runs with limits on the host network and stops promptly with 0", async () => {
    await docker.createVolume({ Name: volumeName, Labels: labels });
    const container = await docker.createContainer({
      name,
      Image: TEST_DEVICE_IMAGE,
      Cmd: bootArgs,
      Labels: labels,
      HostConfig: {
        Binds: [`${volumeName}:/data`],
        NetworkMode: "host",
        Privileged: false,
        NanoCpus: 500_000_000,
        Memory: 128 * 1024 * 1024,
        MemorySwap: 128 * 1024 * 1024,
        RestartPolicy: { Name: "no" },
      },
    });
    await container.start();

    const recorded = await waitFor(
      async () => {
        const result = await execInContainer(container.id, ["cat", "/data/boot-args"]);
        return result.exitCode === 0 ? result.stdout : undefined;
      },
      { timeoutMs: 10_000, message: "/data/boot-args written" },
    );
    expect(recorded.trim().split("\n")).toEqual(bootArgs);

    const width = await execInContainer(container.id, ["/system/bin/sh", "-c", "getprop ro.boot.redroid_width"]);
    expect(width.stdout.trim()).toBe("720");
    const booted = await execInContainer(container.id, ["getprop", "sys.boot_completed"]);
    expect(booted.stdout.trim()).toBe("1");

    const info = await container.inspect();
    expect(info.State.Running).toBe(true);
    expect(info.HostConfig.NetworkMode).toBe("host");
    expect(info.HostConfig.Privileged).toBe(false);
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.Memory).toBe(128 * 1024 * 1024);

    const stopStarted = Date.now();
    await container.stop({ t: 2 });
    const stopMs = Date.now() - stopStarted;
    const stopped = await container.inspect();
    expect(stopped.State.Running).toBe(false);
    expect(stopped.State.ExitCode).toBe(0);
    expect(stopMs).toBeLessThan(1500); // well before the 2 s kill deadline: SIGTERM was handled

    // The args persist on the named volume: read them back through a second, short-lived container.
    const reader = await docker.createContainer({
      Image: TEST_DEVICE_IMAGE,
      Entrypoint: ["/bin/cat"],
      Cmd: ["/data/boot-args"],
      Labels: labels,
      HostConfig: { Binds: [`${volumeName}:/data:ro`], NetworkMode: "none" },
    });
    await reader.start();
    const exit = (await reader.wait()) as { StatusCode: number };
    expect(exit.StatusCode).toBe(0);
    const output = (await reader.logs({ stdout: true, stderr: false })).toString("latin1");
    for (const arg of bootArgs) expect(output).toContain(arg);
  });
});
