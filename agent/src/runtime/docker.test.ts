import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SPEC } from "../test-support/fixtures.js";
import { ensureTestImage } from "../test-support/busybox-image.js";
import { DockerRuntime } from "./docker.js";
import { DockerEventWatcher, type ContainerEvent } from "./events.js";
import { volumeName } from "./profile.js";

const hostId = `test-host-${randomBytes(4).toString("hex")}`;
const log = pino({ level: "silent" });
let rt: DockerRuntime;

async function sweep(): Promise<void> {
  for (const c of await rt.listManaged()) await rt.removeContainer(c.containerId);
  for (const v of await rt.listManagedVolumes()) await rt.removeVolume(v.name);
}

beforeAll(() => {
  const image = ensureTestImage();
  rt = new DockerRuntime(
    { hostId, socketPath: "/var/run/docker.sock", image, networkMode: "host", privileged: false, extraBootArgs: [], stopTimeoutSeconds: 1 },
    log,
  );
});
afterAll(async () => {
  await sweep();
  expect(await rt.listManaged()).toEqual([]);
});

describe("DockerRuntime against the real dockerd", () => {
  it("creates, adopts, starts, inspects, stops and removes idempotently", async () => {
    const dev = { id: "dev-a", spec: { ...SPEC, memoryMb: 256 }, ownerId: "u1" };
    expect((await rt.inspect("dev-a")).exists).toBe(false);

    const first = await rt.create(dev);
    const second = await rt.create(dev); // name conflict → adopted, never a duplicate
    expect(second).toEqual({ containerId: first.containerId, adopted: true });
    expect((await rt.listManaged()).filter((c) => c.deviceId === "dev-a")).toHaveLength(1);
    expect((await rt.listManagedVolumes()).map((v) => v.name)).toContain(volumeName("dev-a"));

    const info = await rt.docker.getContainer(first.containerId).inspect();
    expect(info.HostConfig.Memory).toBe(256 * 1048576);
    expect(info.HostConfig.NanoCpus).toBe(1_000_000_000);
    expect(info.Config.Labels["io.cloudphone.owner-id"]).toBe("u1");

    await rt.start("dev-a");
    await rt.start("dev-a"); // 304 already started
    const running = await rt.inspect("dev-a");
    expect(running).toMatchObject({ exists: true, running: true, containerId: first.containerId, adbPort: 5555 });

    await rt.stop("dev-a");
    await rt.stop("dev-a"); // 304 already stopped
    const stopped = await rt.inspect("dev-a");
    expect(stopped.running).toBe(false);
    expect(stopped.exitCode).not.toBeNull();
    expect(stopped.finishedAt).toBeGreaterThan(0);

    await rt.remove("dev-a");
    await rt.remove("dev-a"); // 404 gone
    expect((await rt.inspect("dev-a")).exists).toBe(false);
    expect((await rt.listManagedVolumes()).map((v) => v.name)).not.toContain(volumeName("dev-a"));
  });

  it("reports die events for this host's devices", async () => {
    const seen: ContainerEvent[] = [];
    const watcher = new DockerEventWatcher(rt.docker, hostId, (e) => seen.push(e), log);
    watcher.start();
    await new Promise((r) => setTimeout(r, 300));
    await rt.create({ id: "dev-b", spec: SPEC, ownerId: null });
    await rt.start("dev-b");
    await rt.docker.getContainer("cloudphone-dev-b").kill();
    const deadline = Date.now() + 10_000;
    while (!seen.some((e) => e.action === "die") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    watcher.stop();
    expect(seen.filter((e) => e.deviceId === "dev-b").map((e) => e.action)).toEqual(expect.arrayContaining(["start", "die"]));
    expect((await rt.inspect("dev-b")).exitCode).toBe(137);
    await rt.remove("dev-b");
  });
});
