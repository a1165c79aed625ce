import { randomBytes } from "node:crypto";
import type { DeviceAction, DeviceCommand, EventName } from "@cloudphone/shared-protocol";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerRuntime } from "../runtime/docker.js";
import { applyCommand } from "../sync/commands.js";
import { ensureTestImage } from "../test-support/busybox-image.js";
import { SPEC, makeStore, type TestStore } from "../test-support/fixtures.js";
import { ReconcileLoop } from "./loop.js";

const hostId = `test-loop-${randomBytes(4).toString("hex")}`;
const log = pino({ level: "silent" });
let s: TestStore;
let rt: DockerRuntime;
let loop: ReconcileLoop;
let gen = 0;

function command(action: DeviceAction, deviceId: string, trigger = true): void {
  gen++;
  const base = { id: `cmd-${randomBytes(6).toString("hex")}`, seq: gen, ts: Date.now(), v: 1 as const, hostId, deviceId, generation: gen };
  applyCommand(s.ctx, action === "create" ? { ...base, action, spec: { ...SPEC, memoryMb: 256 } } : { ...base, action });
  if (trigger) loop.trigger(deviceId);
}

function eventNames(deviceId: string): EventName[] {
  return (s.db.prepare("SELECT payload FROM outbox WHERE topic LIKE '%/events/%' AND device_id = ? ORDER BY seq").all(deviceId) as { payload: string }[]).map(
    (r) => (JSON.parse(r.payload) as { name: EventName }).name,
  );
}

async function until(pred: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(() => {
  s = makeStore(hostId);
  s.ctx.now = Date.now; // real time: Docker timestamps are compared with recorded times
  const image = ensureTestImage();
  rt = new DockerRuntime({ hostId, socketPath: "/var/run/docker.sock", image, networkMode: "host", privileged: false, extraBootArgs: [], stopTimeoutSeconds: 1 }, log);
  loop = new ReconcileLoop({ ctx: s.ctx, runtime: rt, policy: { maxAttempts: 2, backoffMs: 100 }, intervalMs: 60_000, log, onRecorded: () => {} });
});
afterAll(async () => {
  await loop.stop();
  for (const c of await rt.listManaged()) await rt.removeContainer(c.containerId);
  for (const v of await rt.listManagedVolumes()) await rt.removeVolume(v.name);
  s.cleanup();
});

describe("ReconcileLoop against the real dockerd", () => {
  it("creates, stops, restarts, recovers, gives up and deletes with the right events", async () => {
    await loop.start();
    command("create", "p1");
    await until(() => s.repo.get("p1")?.state === "running");
    expect(eventNames("p1")).toEqual(["device.created", "device.started"]);

    command("stop", "p1");
    await until(() => s.repo.get("p1")?.state === "stopped");
    command("restart", "p1");
    await until(() => s.repo.get("p1")?.state === "running");
    expect(eventNames("p1")).toEqual(["device.created", "device.started", "device.stopped", "device.started"]);

    // unexpected death → error → recovered
    await rt.docker.getContainer("cloudphone-p1").kill();
    loop.trigger("p1");
    await until(() => eventNames("p1").includes("device.recovered"));
    expect(eventNames("p1").slice(4)).toEqual(["device.error", "device.recovered"]);
    expect(s.repo.get("p1")).toMatchObject({ state: "running", recoveryAttempts: 1 });

    // keep killing: attempts run out → failed, container left stopped
    for (let i = 0; i < 4 && s.repo.get("p1")?.state !== "failed"; i++) {
      await until(async () => (await rt.inspect("p1")).running || s.repo.get("p1")?.state === "failed");
      if (s.repo.get("p1")?.state === "failed") break;
      await rt.docker.getContainer("cloudphone-p1").kill().catch(() => undefined);
      loop.trigger("p1");
      await until(() => ["running", "failed"].includes(s.repo.get("p1")!.state) && !eventNames("p1").slice(-1).includes("device.error"));
    }
    await until(() => s.repo.get("p1")?.state === "failed");
    expect(eventNames("p1").at(-1)).toBe("device.failed");

    command("delete", "p1");
    await until(() => s.repo.get("p1")?.state === "deleted");
    expect(eventNames("p1").at(-1)).toBe("device.deleted");
    expect((await rt.inspect("p1")).exists).toBe(false);
  });

  it("adopts an existing container after a crash and removes orphans on start", async () => {
    await loop.stop(); // the agent "crashes": only the new loop below acts
    command("create", "p2", false);
    // simulate a crash right after Docker created the container but before anything was recorded
    await rt.create({ id: "p2", spec: SPEC, ownerId: null });
    await rt.create({ id: "orphan", spec: SPEC, ownerId: null });
    const fresh = new ReconcileLoop({ ctx: s.ctx, runtime: rt, policy: { maxAttempts: 2, backoffMs: 100 }, intervalMs: 60_000, log, onRecorded: () => {} });
    await fresh.start();
    await until(() => s.repo.get("p2")?.state === "running");
    await fresh.idle();
    await fresh.stop();
    const managed = await rt.listManaged();
    expect(managed.map((c) => c.deviceId)).toEqual(["p2"]);
    expect(eventNames("p2")).toEqual(["device.created", "device.started"]);
  });
});
