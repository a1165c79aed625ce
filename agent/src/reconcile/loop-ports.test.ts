import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:net";
import type { DeviceAction, DeviceCommand } from "@cloudphone/shared-protocol";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { portIsFree } from "../adb/port-probe.js";
import { DockerRuntime } from "../runtime/docker.js";
import { applyCommand } from "../sync/commands.js";
import { ensureTestImage } from "../test-support/busybox-image.js";
import { SPEC, makeStore, type TestStore } from "../test-support/fixtures.js";
import { ReconcileLoop } from "./loop.js";

// Host network mode against the real dockerd: each device gets its own adbd port, kept while it lives.
const hostId = `test-ports-${randomBytes(4).toString("hex")}`;
const log = pino({ level: "silent" });
const FROM = 23000 + Math.floor(Math.random() * 5000);
let s: TestStore;
let rt: DockerRuntime;
let loop: ReconcileLoop;
let gen = 0;
let blocker: Server;

function command(action: DeviceAction, deviceId: string): void {
  gen++;
  const base = { id: `cmd-${randomBytes(6).toString("hex")}`, seq: gen, ts: Date.now(), v: 1 as const, hostId, deviceId, generation: gen };
  applyCommand(s.ctx, action === "create" ? { ...base, action, spec: { ...SPEC, memoryMb: 256 } } : { ...base, action });
  loop.trigger(deviceId);
}

async function until(pred: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  s = makeStore(hostId);
  s.ctx.now = Date.now;
  rt = new DockerRuntime({ hostId, socketPath: "/var/run/docker.sock", image: ensureTestImage(), networkMode: "host", privileged: false, extraBootArgs: [], stopTimeoutSeconds: 1 }, log);
  // Another program already listens on the range's last port: allocation must skip it.
  blocker = createServer();
  await new Promise<void>((r) => blocker.listen(FROM + 3, "0.0.0.0", r));
  loop = new ReconcileLoop({
    ctx: s.ctx,
    runtime: rt,
    policy: { maxAttempts: 1, backoffMs: 100 },
    intervalMs: 60_000,
    log,
    onRecorded: () => {},
    adbPorts: { range: { from: FROM, to: FROM + 3 }, isFree: portIsFree },
  });
  await loop.start();
});
afterAll(async () => {
  await loop.stop();
  await new Promise((r) => blocker.close(r));
  for (const c of await rt.listManaged()) await rt.removeContainer(c.containerId);
  for (const v of await rt.listManagedVolumes()) await rt.removeVolume(v.name);
  s.cleanup();
});

describe("adb port allocation (host network mode)", () => {
  it("gives every live device its own port from the range, keeps it while stopped, frees it on delete", async () => {
    for (const id of ["a", "b", "c"]) command("create", id);
    await until(() => ["a", "b", "c"].every((id) => s.repo.get(id)?.state === "running"));
    const ports = ["a", "b", "c"].map((id) => s.repo.get(id)!.adbPort!);
    expect(new Set(ports).size).toBe(3);
    for (const p of ports) expect(p >= FROM && p < FROM + 3).toBe(true); // FROM+3 is taken by another program
    // the container carries it: boot arg and label; inspect reports it
    const info = await rt.docker.getContainer("cloudphone-a").inspect();
    expect(info.Config.Cmd).toContain(`androidboot.redroid_adb_port=${ports[0]}`);
    expect((await rt.adbPortsInUse()).has(ports[0]!)).toBe(true);
    expect((await rt.inspect("a")).adbPort).toBe(ports[0]);

    // no port left: creation fails and says why
    command("create", "d");
    await until(() => s.repo.get("d")?.state === "failed");
    expect(s.repo.get("d")!.error).toMatch(/no free adb port in \d+-\d+ \(adb\.portRange\)/);

    // a stopped device keeps its port
    command("stop", "a");
    await until(() => s.repo.get("a")?.state === "stopped");
    expect(s.repo.get("a")!.adbPort).toBe(ports[0]);

    // a deleted device frees it for the next one
    command("delete", "b");
    await until(() => s.repo.get("b")?.state === "deleted");
    expect(s.repo.get("b")!.adbPort).toBeNull();
    command("create", "d"); // re-create the failed one
    await until(() => s.repo.get("d")?.state === "running");
    expect(s.repo.get("d")!.adbPort).toBe(ports[1]);
  });
});
