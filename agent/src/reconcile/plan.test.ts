import { describe, expect, it } from "vitest";
import type { DeviceRecord } from "../devices/types.js";
import { MISSING, type ContainerObservation } from "../runtime/observation.js";
import { SPEC } from "../test-support/fixtures.js";
import { plan, type RecoveryPolicy } from "./plan.js";

const NOW = 1_000_000;
const POLICY: RecoveryPolicy = { maxAttempts: 3, backoffMs: 1000, stableAfterMs: 60_000 };

function rec(p: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    id: "d1", spec: SPEC, ownerId: null, desired: "running", generation: 1, state: "pending", stateSince: NOW - 10_000,
    containerId: null, adbPort: null, exitCode: null, oomKilled: null, error: null, recoveryAttempts: 0,
    restartRequested: false, deletedAt: null, ...p,
  };
}
const RUNNING: ContainerObservation = { exists: true, running: true, exitCode: null, oomKilled: false, containerId: "c1", adbPort: 40001, finishedAt: null, startedAt: NOW - 20_000 };
const CREATED: ContainerObservation = { ...RUNNING, running: false, adbPort: null };
const exited = (code: number, finishedAt: number, oom = false): ContainerObservation => ({ ...CREATED, exitCode: code, oomKilled: oom, finishedAt });

const events = (p: ReturnType<typeof plan>) => p.record.map((r) => r.event);
const states = (p: ReturnType<typeof plan>) => p.record.map((r) => r.state);

describe("plan: desired running", () => {
  it("creates a missing container", () => {
    expect(plan(rec(), MISSING, NOW, POLICY)).toEqual({ action: "create", record: [], watch: "none" });
  });
  it("records created and starts a created-but-not-started container (crash after create)", () => {
    const p = plan(rec({ state: "creating" }), CREATED, NOW, POLICY);
    expect(p.action).toBe("start");
    expect(events(p)).toEqual(["device.created"]);
    expect(states(p)).toEqual(["starting"]);
  });
  it("records created then started for a running container the record does not know about yet", () => {
    const p = plan(rec({ state: "pending" }), RUNNING, NOW, POLICY);
    expect(p.action).toBe("none");
    expect(events(p)).toEqual(["device.created", "device.started"]);
    expect(p.record[1]).toMatchObject({ state: "running", adbPort: 40001, containerId: "c1" });
  });
  it("records started once the container runs", () => {
    expect(events(plan(rec({ state: "starting" }), RUNNING, NOW, POLICY))).toEqual(["device.started"]);
  });
  it("does nothing new for a running device already recorded as running", () => {
    const p = plan(rec({ state: "running", containerId: "c1", adbPort: 40001 }), RUNNING, NOW, POLICY);
    expect(p.action).toBe("none");
    expect(events(p)).toEqual([null]);
  });
  it("treats an exit of a running device as unexpected: error, then recover after back-off", () => {
    const p = plan(rec({ state: "running" }), exited(137, NOW - 5, true), NOW, POLICY);
    expect(events(p)).toEqual(["device.error"]);
    expect(p.record[0]).toMatchObject({ state: "error", exitCode: 137, oomKilled: true });
    expect(p.action).toBe("none");
    expect(p.wakeAfterMs).toBe(1000);
  });
  it("recovers with exponential back-off per attempt", () => {
    const errored = rec({ state: "error", stateSince: NOW - 1500, recoveryAttempts: 1 });
    expect(plan(errored, exited(1, NOW - 1500), NOW, POLICY)).toMatchObject({ action: "none", wakeAfterMs: 500 });
    const later = plan(errored, exited(1, NOW - 1500), NOW + 500, POLICY);
    expect(later.action).toBe("recover");
    expect(later.record).toEqual([{ state: "restarting", event: null, recoveryAttempts: 2 }]);
  });
  it("reports recovered when a restarting device runs", () => {
    const p = plan(rec({ state: "restarting", recoveryAttempts: 1 }), RUNNING, NOW, POLICY);
    expect(events(p)).toEqual(["device.recovered"]);
  });
  it("detects a death right after start (finishedAt after the recorded start)", () => {
    const p = plan(rec({ state: "restarting", stateSince: NOW - 100, recoveryAttempts: 1 }), exited(2, NOW - 50), NOW, POLICY);
    expect(events(p)).toEqual(["device.error"]);
  });
  it("does not mistake an old exit for a new one when starting", () => {
    const p = plan(rec({ state: "starting", stateSince: NOW - 100 }), exited(0, NOW - 5000), NOW, POLICY);
    expect(p).toEqual({ action: "start", record: [], watch: "none" });
  });
  it("gives up after maxAttempts: device.failed, then stays failed", () => {
    const p = plan(rec({ state: "error", recoveryAttempts: 3 }), exited(1, NOW - 10), NOW, POLICY);
    expect(p.action).toBe("give_up");
    expect(events(p)).toEqual(["device.failed"]);
    expect(plan(rec({ state: "failed", recoveryAttempts: 3 }), exited(1, NOW - 10), NOW, POLICY)).toEqual({ action: "none", record: [], watch: "none" });
    expect(plan(rec({ state: "failed" }), MISSING, NOW, POLICY)).toEqual({ action: "none", record: [], watch: "none" });
  });
  it("starts a stopped device and records starting without an event", () => {
    const p = plan(rec({ state: "stopped" }), exited(0, NOW - 5000), NOW, POLICY);
    expect(p.action).toBe("start");
    expect(p.record).toEqual([{ state: "starting", event: null, containerId: "c1", adbPort: null, startedAt: NOW - 20_000, finishedAt: NOW - 5000 }]);
  });
  it("honours the restart flag on a running device", () => {
    expect(plan(rec({ state: "running", restartRequested: true }), RUNNING, NOW, POLICY).action).toBe("restart");
  });
  it("resets recovery attempts after running stably", () => {
    const p = plan(rec({ state: "running", recoveryAttempts: 2, stateSince: NOW - 61_000, containerId: "c1", adbPort: 40001 }), RUNNING, NOW, POLICY);
    expect(p.record).toEqual([
      { state: "running", event: null, containerId: "c1", adbPort: 40001, startedAt: NOW - 20_000, finishedAt: null, recoveryAttempts: 0 },
    ]);
  });
});

describe("plan: desired stopped", () => {
  it("stops a running container, then records stopped", () => {
    const r = rec({ desired: "stopped", state: "running" });
    expect(plan(r, RUNNING, NOW, POLICY)).toEqual({ action: "stop", record: [], watch: "none" });
    const p = plan(r, exited(0, NOW), NOW, POLICY);
    expect(p.action).toBe("none");
    expect(events(p)).toEqual(["device.stopped"]);
  });
  it("does not report an exit as an error when stop was wanted", () => {
    expect(events(plan(rec({ desired: "stopped", state: "running" }), exited(137, NOW), NOW, POLICY))).toEqual(["device.stopped"]);
  });
  it("creates the container of a device stopped before it was ever created, without starting it", () => {
    const p = plan(rec({ desired: "stopped", state: "pending" }), MISSING, NOW, POLICY);
    expect(p.action).toBe("create");
    expect(p.record).toEqual([]);
  });
  it("records a created-but-never-started device as stopped with device.created (crash after create)", () => {
    const p = plan(rec({ desired: "stopped", state: "creating" }), CREATED, NOW, POLICY);
    expect(p.action).toBe("none");
    expect(events(p)).toEqual(["device.created"]);
    expect(states(p)).toEqual(["stopped"]);
  });
});

describe("plan: desired deleted", () => {
  it("removes an existing container or a not-yet-recorded deletion, then nothing", () => {
    expect(plan(rec({ desired: "deleted", state: "running" }), RUNNING, NOW, POLICY).action).toBe("remove");
    expect(plan(rec({ desired: "deleted", state: "stopped" }), MISSING, NOW, POLICY).action).toBe("remove");
    expect(plan(rec({ desired: "deleted", state: "deleted" }), MISSING, NOW, POLICY)).toEqual({ action: "none", record: [], watch: "none" });
  });
});
