import { describe, expect, it } from "vitest";
import type { AdbFacts, AdbStatus } from "../adb/facts.js";
import type { DeviceRecord } from "../devices/types.js";
import type { ContainerObservation } from "../runtime/observation.js";
import { SPEC } from "../test-support/fixtures.js";
import { plan, type AdbView, type RecoveryPolicy } from "./plan.js";

// The planner with the adb layer on: `running` means ready (adbd answers, sys.boot_completed=1).
const NOW = 1_000_000;
const RUN = NOW - 20_000; // Docker StartedAt of the current container run
const PORT = 20001;
const BOOT_TIMEOUT = 30_000;
const POLICY: RecoveryPolicy = { maxAttempts: 2, backoffMs: 1000, stableAfterMs: 60_000 };

function rec(p: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    id: "d1", spec: SPEC, ownerId: null, desired: "running", generation: 1, state: "pending", stateSince: NOW - 10_000,
    containerId: "c1", adbPort: PORT, exitCode: null, oomKilled: null, error: null, recoveryAttempts: 0,
    restartRequested: false, deletedAt: null, ...p,
  };
}
const UP: ContainerObservation = { exists: true, running: true, exitCode: null, oomKilled: false, containerId: "c1", adbPort: PORT, finishedAt: null, startedAt: RUN };
const exited = (finishedAt: number): ContainerObservation => ({ ...UP, running: false, exitCode: 137, finishedAt });
const facts = (status: AdbStatus, p: Partial<AdbFacts> = {}): AdbFacts => ({ run: RUN, port: PORT, status, since: NOW - 1000, error: status === "ready" ? null : "adbd does not answer", ...p });
const view = (f: AdbFacts | null): AdbView => ({ facts: f, bootTimeoutMs: BOOT_TIMEOUT });

const events = (p: ReturnType<typeof plan>) => p.record.map((r) => r.event);
const states = (p: ReturnType<typeof plan>) => p.record.map((r) => r.state);

describe("plan with adb facts: readiness", () => {
  it("records booting (no event) once the container runs, and waits for readiness until the boot deadline", () => {
    const p = plan(rec({ state: "starting" }), UP, NOW, POLICY, view(null));
    expect(p).toMatchObject({ action: "none", watch: "boot", wakeAfterMs: BOOT_TIMEOUT });
    expect(p.record).toEqual([{ state: "booting", event: null, containerId: "c1", adbPort: PORT, startedAt: RUN, finishedAt: null, error: null }]);
  });

  it("records created, then booting, for a running container the record does not know about yet", () => {
    const p = plan(rec({ state: "pending" }), UP, NOW, POLICY, view(null));
    expect(events(p)).toEqual(["device.created", null]);
    expect(states(p)).toEqual(["starting", "booting"]);
  });

  it("records running with device.started when adbd answers and the boot completed in this run", () => {
    const p = plan(rec({ state: "booting" }), UP, NOW, POLICY, view(facts("ready")));
    expect(p).toMatchObject({ action: "none", watch: "health" });
    // No Docker run times: usage starts when readiness is observed, not when the container started.
    expect(p.record).toEqual([{ state: "running", event: "device.started", containerId: "c1", adbPort: PORT, exitCode: null, oomKilled: null, error: null }]);
  });

  it("does not take readiness of an earlier run or another port for this one", () => {
    for (const f of [facts("ready", { run: RUN - 60_000 }), facts("ready", { port: PORT + 1 })]) {
      const p = plan(rec({ state: "booting", stateSince: NOW - 1000 }), UP, NOW, POLICY, view(f));
      expect(p).toEqual({ action: "none", record: [], watch: "boot", wakeAfterMs: BOOT_TIMEOUT - 1000 });
    }
  });

  it("treats a boot that outlasts bootTimeoutMs as a failure: device.error, then the recovery back-off", () => {
    const p = plan(rec({ state: "booting", stateSince: NOW - BOOT_TIMEOUT }), UP, NOW, POLICY, view(facts("probing", { error: "boot not completed" })));
    expect(events(p)).toEqual(["device.error"]);
    expect(p.record[0]).toMatchObject({ state: "error", error: "not ready within 30 s of the start: boot not completed" });
    expect(p).toMatchObject({ action: "none", wakeAfterMs: 1000, watch: "boot" });
    // after the back-off: restart (attempt 1)
    const later = plan(rec({ state: "error", stateSince: NOW - 1000 }), UP, NOW, POLICY, view(facts("probing")));
    expect(later).toMatchObject({ action: "recover", watch: "none" });
    expect(later.record).toEqual([{ state: "restarting", event: null, recoveryAttempts: 1 }]);
  });

  it("reports a container that dies while booting as device.error", () => {
    const p = plan(rec({ state: "booting", stateSince: NOW - 5000 }), exited(NOW - 100), NOW, POLICY, view(null));
    expect(events(p)).toEqual(["device.error"]);
    expect(p.record[0]).toMatchObject({ state: "error", exitCode: 137 });
  });
});

describe("plan with adb facts: health and recovery", () => {
  it("keeps a running device running while checks pass, and when its facts are not about this run (agent restart)", () => {
    for (const f of [facts("ready"), facts("probing"), null, facts("lost", { run: RUN - 60_000 })]) {
      const p = plan(rec({ state: "running" }), UP, NOW, POLICY, view(f));
      expect(p).toMatchObject({ action: "none", watch: "health" });
      expect(events(p)).toEqual([null]);
      expect(states(p)).toEqual(["running"]);
    }
  });

  it("records device.connection_lost (state error, metering pauses) when the health check fails, then waits for the reconnects", () => {
    const p = plan(rec({ state: "running" }), UP, NOW, POLICY, view(facts("lost", { error: "getprop failed" })));
    expect(events(p)).toEqual(["device.connection_lost"]);
    expect(p.record[0]).toMatchObject({ state: "error", error: "getprop failed", reason: "adb health check failed: getprop failed" });
    expect(p).toMatchObject({ action: "none", watch: "health" });
    expect(plan(rec({ state: "error" }), UP, NOW, POLICY, view(facts("lost")))).toEqual({ action: "none", record: [], watch: "health" });
  });

  it("reports device.recovered when a reconnect succeeds, without a restart", () => {
    const p = plan(rec({ state: "error", stateSince: NOW - 3000 }), UP, NOW, POLICY, view(facts("ready")));
    expect(events(p)).toEqual(["device.recovered"]);
    expect(p.record[0]).toMatchObject({ state: "running", error: null });
    expect(p.action).toBe("none");
  });

  it("restarts the container through the recovery policy once the reconnects ran out", () => {
    const p = plan(rec({ state: "error", stateSince: NOW - 5000 }), UP, NOW, POLICY, view(facts("unreachable")));
    expect(p).toMatchObject({ action: "recover", watch: "none" });
    expect(p.record).toEqual([{ state: "restarting", event: null, recoveryAttempts: 1 }]);
    // lost and unreachable discovered in one look: connection_lost, then the back-off
    const q = plan(rec({ state: "running" }), UP, NOW, POLICY, view(facts("unreachable")));
    expect(events(q)).toEqual(["device.connection_lost"]);
    expect(q).toMatchObject({ action: "none", wakeAfterMs: 1000, watch: "boot" });
  });

  it("waits for readiness after a recovery restart and reports device.recovered, or an error at the boot deadline", () => {
    const restarting = rec({ state: "restarting", stateSince: NOW - 2000, recoveryAttempts: 1 });
    expect(plan(restarting, UP, NOW, POLICY, view(facts("probing")))).toEqual({ action: "none", record: [], watch: "boot", wakeAfterMs: BOOT_TIMEOUT - 2000 });
    const ready = plan(restarting, UP, NOW, POLICY, view(facts("ready")));
    expect(events(ready)).toEqual(["device.recovered"]);
    const late = plan({ ...restarting, stateSince: NOW - BOOT_TIMEOUT }, UP, NOW, POLICY, view(facts("probing", { error: "connection refused" })));
    expect(events(late)).toEqual(["device.error"]);
    expect(late.record[0]!.error).toBe("not ready within 30 s of the restart: connection refused");
  });

  it("gives up after maxAttempts restarts: device.failed, and the planner asks for nothing more", () => {
    const p = plan(rec({ state: "restarting", stateSince: NOW - BOOT_TIMEOUT, recoveryAttempts: 2 }), UP, NOW, POLICY, view(facts("probing")));
    expect(events(p)).toEqual(["device.error", "device.failed"]);
    expect(p).toMatchObject({ action: "give_up", watch: "none" });
    // failed, container stopped by give_up: stays failed
    expect(plan(rec({ state: "failed" }), exited(NOW), NOW, POLICY, view(null))).toEqual({ action: "none", record: [], watch: "none" });
  });

  it("a failed device found running becomes running only once it is ready", () => {
    expect(plan(rec({ state: "failed" }), UP, NOW, POLICY, view(null))).toEqual({ action: "none", record: [], watch: "boot" });
    expect(events(plan(rec({ state: "failed" }), UP, NOW, POLICY, view(facts("ready"))))).toEqual(["device.started"]);
  });

  it("stops a booting device when stop is wanted, reporting device.stopped", () => {
    const r = rec({ desired: "stopped", state: "booting" });
    expect(plan(r, UP, NOW, POLICY, view(null))).toEqual({ action: "stop", record: [], watch: "none" });
    expect(events(plan(r, exited(NOW), NOW, POLICY, view(null)))).toEqual(["device.stopped"]);
  });

  it("keeps the host-mode adb port of a stopped device (it is the device's own)", () => {
    const p = plan(rec({ desired: "stopped", state: "running" }), exited(NOW), NOW, POLICY, view(null));
    expect(p.record[0]).toMatchObject({ state: "stopped", adbPort: PORT });
  });
});
