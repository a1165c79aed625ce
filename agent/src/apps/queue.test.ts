import { CommandResultMessage, EventMessage, type DeviceCommand } from "@cloudphone/shared-protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SPEC, makeStore, type TestStore } from "../test-support/fixtures.js";
import { applyCommand } from "../sync/commands.js";
import { AppJobQueue } from "./queue.js";

let s: TestStore;
let q: AppJobQueue;
beforeEach(() => {
  s = makeStore();
  q = AppJobQueue.of(s.db, s.outbox, "host-1");
});
afterEach(() => s.cleanup());

let n = 0;
const base = (generation: number, deviceId = "d1") => ({ id: `cmd0000${++n}`, seq: n, ts: 1, v: 1 as const, hostId: "host-1", deviceId, generation });
const SHA = "a".repeat(64);
const install = (installId: string, generation = 1, deviceId = "d1"): DeviceCommand => ({
  ...base(generation, deviceId),
  action: "app_install",
  installId,
  app: { id: "app00001", sha256: SHA, size: 10, packageName: "com.example.app" },
});
const messages = (suffix: string) => s.outbox.nextBatch(100).filter((r) => r.topic.includes(suffix)).map((r) => JSON.parse(r.payload) as unknown);

describe("app commands on the agent", () => {
  beforeEach(() => {
    applyCommand(s.ctx, { ...base(1), action: "create", spec: SPEC });
    applyCommand(s.ctx, { ...base(4), action: "stop" });
  });

  it("queues an app command as applied without touching the lifecycle generation, even with an older generation", () => {
    expect(applyCommand(s.ctx, install("inst0001", 1))).toMatchObject({ outcome: "applied", duplicate: false });
    expect(applyCommand(s.ctx, install("inst0002", 4))).toMatchObject({ outcome: "applied" });
    expect(s.repo.get("d1")).toMatchObject({ desired: "stopped", generation: 4 });
    // A lifecycle command with the generation the app command carried is still superseded as before.
    expect(applyCommand(s.ctx, { ...base(4), action: "start" })).toMatchObject({ outcome: "superseded" });
    expect(q.devicesWithJobs()).toEqual(["d1"]);
    expect(q.head("d1")).toMatchObject({ installId: "inst0001", action: "install", sha256: SHA, size: 10, packageName: "com.example.app" });
    const outcomes = messages("/results").map((m) => CommandResultMessage.parse(m).outcome);
    expect(outcomes).toEqual(["applied", "applied", "applied", "applied", "superseded"]);
  });

  it("queues a re-sent command once, and fails one for an unknown device", () => {
    const c = install("inst0001");
    applyCommand(s.ctx, c);
    expect(applyCommand(s.ctx, c)).toMatchObject({ duplicate: true });
    // Same install under a new command id (the control plane never does this, but the queue is keyed by install).
    expect(q.enqueue({ ...(c as Extract<DeviceCommand, { action: "app_install" }>), id: "cmdother1" }, 1)).toBe(false);
    expect(applyCommand(s.ctx, install("inst0009", 1, "ghost"))).toMatchObject({ outcome: "failed", error: expect.stringContaining("unknown") });
    expect(q.devicesWithJobs()).toEqual(["d1"]);
  });

  it("finishes a job with its event in the same transaction, once", () => {
    applyCommand(s.ctx, install("inst0001"));
    applyCommand(s.ctx, { ...base(1), action: "app_uninstall", installId: "inst0002", appId: "app00001", packageName: "com.example.app" });
    const job = q.head("d1")!;
    expect(q.finish(job, { name: "app.installed", versionCode: 7 }, 5)).toBe(true);
    expect(q.finish(job, { name: "app.installed" }, 6)).toBe(false);
    expect(q.head("d1")).toMatchObject({ installId: "inst0002", action: "uninstall" });
    expect(q.failAll("d1", "device d1 was deleted", 7)).toBe(1);
    expect(q.head("d1")).toBeNull();
    const events = messages("/events/").map((m) => EventMessage.parse(m));
    expect(events.map((e) => [e.name, e.deviceId, e.data])).toEqual([
      ["app.installed", "d1", { installId: "inst0001", appId: "app00001", packageName: "com.example.app", versionCode: 7 }],
      ["app.install_failed", "d1", { installId: "inst0002", appId: "app00001", packageName: "com.example.app", reason: "device d1 was deleted" }],
    ]);
    expect(q.get("inst0002")).toMatchObject({ status: "failed", error: "device d1 was deleted" });
  });
});
