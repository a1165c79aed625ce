import type { DeviceStatus } from "@cloudphone/shared-protocol";
import { factsApply, type AdbFacts, type AdbWatch } from "../adb/facts.js";
import type { DeviceRecord, Observation } from "../devices/types.js";
import type { ContainerObservation } from "../runtime/observation.js";

export type PlanAction =
  | "create" // create the container (and volume); the loop records device.created afterwards
  | "start"
  | "stop"
  | "remove" // remove container and volume; the loop records device.deleted afterwards
  | "restart" // stop, then start on the next step (restart flag)
  | "recover" // restart the container (stop if still running, start): a fresh boot after a failure
  | "give_up" // recovery exhausted: the device is failed; its container is stopped if it still runs
  | "none";

export interface Plan {
  action: PlanAction;
  /** Observations to record (in order, through observe()) before the action runs. */
  record: Observation[];
  /** Plan again after this delay even if nothing else happens (recovery back-off, boot deadline). */
  wakeAfterMs?: number;
  /** What the adb monitor should do for this device from now on. */
  watch: AdbWatch;
}

export interface RecoveryPolicy {
  maxAttempts: number;
  backoffMs: number;
  /** A device running this long after a recovery counts as healthy again: attempts reset to 0. */
  stableAfterMs?: number;
}

/**
 * How readiness is judged. With the adb layer: the monitor's facts about the current container run, and how long a
 * boot may take. Without it (null): a running container counts as ready (hosts without adb, runtime tests).
 */
export interface AdbView {
  facts: AdbFacts | null;
  bootTimeoutMs: number;
}

const NOT_YET_CREATED: ReadonlySet<DeviceStatus> = new Set(["pending", "creating"]);
/** States in which a container was (or was about to be) running: leaving them is reported as device.stopped. */
const ACTIVE: ReadonlySet<DeviceStatus> = new Set(["running", "starting", "booting", "restarting", "stopping", "error"]);

/** Docker's run times travel with every observation so that metering starts and ends where the container did. */
function details(obs: ContainerObservation): Pick<Observation, "containerId" | "adbPort" | "startedAt" | "finishedAt"> {
  // adbPort: bridge mode publishes a port only while running; host mode keeps the device's allocated port.
  return { containerId: obs.containerId, adbPort: obs.adbPort, startedAt: obs.startedAt, finishedAt: obs.finishedAt };
}

/**
 * Details of an observation that enters `running`. With the adb layer, usage starts when readiness is observed,
 * not when the container started (booting is not charged), so Docker's run times are left out; the meter then
 * opens at the time of the observation.
 */
function readyDetails(obs: ContainerObservation, adb: AdbView | null): Pick<Observation, "containerId" | "adbPort" | "startedAt" | "finishedAt"> {
  return adb ? { containerId: obs.containerId, adbPort: obs.adbPort } : details(obs);
}

/** Recovery delay before the (attempts+1)-th restart. */
export function recoveryDelay(attempts: number, backoffMs: number): number {
  return backoffMs * 2 ** attempts;
}

/** Ready: the container runs and (with the adb layer) adbd answered with sys.boot_completed=1 in this run. */
export function isReady(obs: ContainerObservation, adb: AdbView | null): boolean {
  if (!obs.running) return false;
  if (!adb) return true;
  return factsApply(adb.facts, obs.startedAt, obs.adbPort) && adb.facts.status === "ready";
}

function adbTrouble(obs: ContainerObservation, adb: AdbView | null): AdbFacts | null {
  if (!adb || !factsApply(adb.facts, obs.startedAt, obs.adbPort)) return null;
  return adb.facts.status === "lost" || adb.facts.status === "unreachable" ? adb.facts : null;
}

/**
 * The recovery policy for a device recorded (or being recorded) as `error` since `errorSince`: restart after an
 * exponential back-off, give up after `maxAttempts` restarts.
 */
function recoverOrGiveUp(rec: DeviceRecord, errorSince: number, now: number, policy: RecoveryPolicy, record: Observation[], waitWatch: AdbWatch): Plan {
  const attempts = rec.recoveryAttempts;
  if (attempts >= policy.maxAttempts) {
    record.push({ state: "failed", event: "device.failed", reason: `recovery gave up after ${attempts} attempt(s)` });
    return { action: "give_up", record, watch: "none" };
  }
  const dueAt = errorSince + recoveryDelay(attempts, policy.backoffMs);
  if (now >= dueAt) {
    record.push({ state: "restarting", event: null, recoveryAttempts: attempts + 1 });
    return { action: "recover", record, watch: "none" };
  }
  return { action: "none", record, wakeAfterMs: dueAt - now, watch: waitWatch };
}

function secs(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * Decides the next step for one device from its record (desired + last recorded state), what Docker shows and
 * (with the adb layer) what the adb monitor knows. Pure: no I/O, `now` passed in. The loop records
 * `plan.record`, performs `plan.action`, inspects again and plans again until the action is `none`/`give_up`.
 *
 * `running` means ready: container running, adbd answering, sys.boot_completed=1. A started container is
 * `booting` until then (or `restarting` after a recovery restart); a boot that takes longer than
 * `bootTimeoutMs`, or an adb connection that is lost and cannot be re-established, is a failure handled by the
 * recovery policy, like a container that exits.
 */
export function plan(rec: DeviceRecord, obs: ContainerObservation, now: number, policy: RecoveryPolicy, adb: AdbView | null = null): Plan {
  const S = rec.state;

  if (rec.desired === "deleted") {
    if (obs.exists || S !== "deleted") return { action: "remove", record: [], watch: "none" };
    return { action: "none", record: [], watch: "none" };
  }

  if (rec.desired === "stopped") {
    if (obs.exists && obs.running) return { action: "stop", record: [], watch: "none" };
    // A device created and stopped before its container existed still gets its container (and data volume):
    // it exists for its owner, just not running.
    if (NOT_YET_CREATED.has(S) && !obs.exists) return { action: "create", record: [], watch: "none" };
    if (NOT_YET_CREATED.has(S) && obs.exists) {
      return { action: "none", record: [{ state: "stopped", event: "device.created", ...details(obs) }], watch: "none" };
    }
    const event = ACTIVE.has(S) ? "device.stopped" : null;
    return { action: "none", record: [{ state: "stopped", event, ...details(obs), error: null }], watch: "none" };
  }

  // desired === "running"
  if (S === "failed") {
    // Stays failed until a new start command resets it, unless its container is found running and ready.
    if (obs.exists && obs.running && isReady(obs, adb)) {
      return { action: "none", record: [{ state: "running", event: "device.started", ...readyDetails(obs, adb), error: null }], watch: "health" };
    }
    return { action: "none", record: [], watch: obs.exists && obs.running && adb ? "boot" : "none" };
  }

  if (!obs.exists) return { action: "create", record: [], watch: "none" };
  if (obs.running) return planRunningContainer(rec, obs, now, policy, adb);

  // exists, not running
  if (NOT_YET_CREATED.has(S)) {
    return { action: "start", record: [{ state: "starting", event: "device.created", ...details(obs) }], watch: "none" };
  }
  const diedAfterStart = (S === "starting" || S === "restarting") && obs.finishedAt !== null && obs.finishedAt > rec.stateSince;
  const record: Observation[] = [];
  let errorSince = rec.stateSince;
  if (S === "running" || S === "booting" || diedAfterStart) {
    record.push({
      state: "error",
      event: "device.error",
      ...details(obs),
      exitCode: obs.exitCode,
      oomKilled: obs.oomKilled,
      error: obs.oomKilled ? "container was OOM-killed" : `container exited unexpectedly with code ${obs.exitCode ?? "unknown"}`,
      reason: "container exited while it should be running",
    });
    errorSince = now;
  } else if (S !== "error") {
    // stopped (or an interrupted stop/start): just start it
    return { action: "start", record: S === "starting" ? [] : [{ state: "starting", event: null, ...details(obs) }], watch: "none" };
  }
  return recoverOrGiveUp(rec, errorSince, now, policy, record, "none");
}

/** Desired running, the container runs: readiness, health and recovery of a live container. */
function planRunningContainer(rec: DeviceRecord, obs: ContainerObservation, now: number, policy: RecoveryPolicy, adb: AdbView | null): Plan {
  if (rec.restartRequested) return { action: "restart", record: [], watch: "none" };
  const record: Observation[] = [];
  let S = rec.state;
  let since = rec.stateSince;
  if (NOT_YET_CREATED.has(S)) {
    record.push({ state: "starting", event: "device.created", ...details(obs) });
    S = "starting";
    since = now;
  }
  const ready = isReady(obs, adb);
  const healthWatch: AdbWatch = adb ? "health" : "none";
  const toRunning = (event: "device.started" | "device.recovered"): Plan => {
    record.push({ state: "running", event, ...readyDetails(obs, adb), exitCode: null, oomKilled: null, error: null });
    return { action: "none", record, watch: healthWatch };
  };

  if (S === "running") {
    const trouble = adbTrouble(obs, adb);
    if (trouble) {
      const error = trouble.error ?? "adb connection lost";
      record.push({ state: "error", event: "device.connection_lost", ...details(obs), error, reason: `adb health check failed: ${error}` });
      // While reconnects go on, wait for their outcome; once they ran out, restart (recovery policy).
      if (trouble.status === "lost") return { action: "none", record, watch: "health" };
      return recoverOrGiveUp(rec, now, now, policy, record, "boot");
    }
    // Facts not about this run (agent restart, container restarted behind our back) leave the device running:
    // the health check, which starts at once, finds out.
    const stableAfter = policy.stableAfterMs ?? 60_000;
    const reset = rec.recoveryAttempts > 0 && now - rec.stateSince >= stableAfter ? { recoveryAttempts: 0 } : {};
    record.push({ state: "running", event: null, ...details(obs), ...reset });
    return { action: "none", record, watch: healthWatch };
  }

  if (S === "error") {
    if (ready) return toRunning("device.recovered");
    if (adbTrouble(obs, adb)?.status === "lost") return { action: "none", record, watch: "health" };
    // Boot timeout, reconnects exhausted, or the container came back by itself but is not ready: the policy decides.
    return recoverOrGiveUp(rec, since, now, policy, record, adb ? "boot" : "none");
  }

  if (ready) return toRunning(S === "restarting" ? "device.recovered" : "device.started");
  // Not ready, so the adb layer is on (without it a running container is ready).
  const bootTimeoutMs = adb?.bootTimeoutMs ?? 0;
  if (S !== "restarting" && S !== "booting") {
    record.push({ state: "booting", event: null, ...details(obs), error: null });
    since = now;
  }
  const deadline = since + bootTimeoutMs;
  if (now < deadline) return { action: "none", record, watch: "boot", wakeAfterMs: deadline - now };
  const lastError = adb?.facts && factsApply(adb.facts, obs.startedAt, obs.adbPort) ? adb.facts.error : null;
  const error = `not ready within ${secs(bootTimeoutMs)} of ${S === "restarting" ? "the restart" : "the start"}${lastError ? `: ${lastError}` : ""}`;
  record.push({ state: "error", event: "device.error", ...details(obs), error, reason: error });
  return recoverOrGiveUp(rec, now, now, policy, record, "boot");
}
