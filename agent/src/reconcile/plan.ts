import type { DeviceStatus } from "@cloudphone/shared-protocol";
import type { DeviceRecord, Observation } from "../devices/types.js";
import type { ContainerObservation } from "../runtime/observation.js";

export type PlanAction =
  | "create" // create the container (and volume); the loop records device.created afterwards
  | "start"
  | "stop"
  | "remove" // remove container and volume; the loop records device.deleted afterwards
  | "restart" // stop, then start on the next step (restart flag)
  | "recover" // start after an unexpected death
  | "give_up" // recovery exhausted: nothing to do, the device is failed
  | "none";

export interface Plan {
  action: PlanAction;
  /** Observations to record (in order, through observe()) before the action runs. */
  record: Observation[];
  /** Plan again after this delay even if nothing else happens (recovery back-off). */
  wakeAfterMs?: number;
}

export interface RecoveryPolicy {
  maxAttempts: number;
  backoffMs: number;
  /** A device running this long after a recovery counts as healthy again: attempts reset to 0. */
  stableAfterMs?: number;
}

const NOT_YET_CREATED: ReadonlySet<DeviceStatus> = new Set(["pending", "creating"]);
/** States in which a container was (or was about to be) running: leaving them is reported as device.stopped. */
const ACTIVE: ReadonlySet<DeviceStatus> = new Set(["running", "starting", "restarting", "stopping", "error"]);

/** Docker's run times travel with every observation so that metering starts and ends where the container did. */
function details(obs: ContainerObservation): Pick<Observation, "containerId" | "adbPort" | "startedAt" | "finishedAt"> {
  return { containerId: obs.containerId, adbPort: obs.running ? obs.adbPort : null, startedAt: obs.startedAt, finishedAt: obs.finishedAt };
}

/** Recovery delay before the (attempts+1)-th restart. */
export function recoveryDelay(attempts: number, backoffMs: number): number {
  return backoffMs * 2 ** attempts;
}

/**
 * Decides the next step for one device from its record (desired + last recorded state) and what Docker shows.
 * Pure: no I/O, `now` passed in. The loop records `plan.record`, performs `plan.action`, inspects again and
 * plans again until the action is `none`/`give_up`.
 */
export function plan(rec: DeviceRecord, obs: ContainerObservation, now: number, policy: RecoveryPolicy): Plan {
  const S = rec.state;

  if (rec.desired === "deleted") {
    if (obs.exists || S !== "deleted") return { action: "remove", record: [] };
    return { action: "none", record: [] };
  }

  if (rec.desired === "stopped") {
    if (obs.exists && obs.running) return { action: "stop", record: [] };
    // A device created and stopped before its container existed still gets its container (and data volume):
    // it exists for its owner, just not running.
    if (NOT_YET_CREATED.has(S) && !obs.exists) return { action: "create", record: [] };
    if (NOT_YET_CREATED.has(S) && obs.exists) {
      return { action: "none", record: [{ state: "stopped", event: "device.created", ...details(obs) }] };
    }
    const event = ACTIVE.has(S) ? "device.stopped" : null;
    return { action: "none", record: [{ state: "stopped", event, ...details(obs), error: null }] };
  }

  // desired === "running"
  if (S === "failed") {
    if (obs.exists && obs.running) {
      return { action: "none", record: [{ state: "running", event: "device.started", ...details(obs), error: null }] };
    }
    return { action: "none", record: [] }; // stays failed until a new start command resets it
  }

  if (!obs.exists) return { action: "create", record: [] };

  if (obs.running) {
    if (rec.restartRequested) return { action: "restart", record: [] };
    const running: Observation = { state: "running", event: "device.started", ...details(obs), exitCode: null, oomKilled: null, error: null };
    if (NOT_YET_CREATED.has(S)) {
      return { action: "none", record: [{ state: "starting", event: "device.created", ...details(obs) }, running] };
    }
    if (S === "error" || S === "restarting") return { action: "none", record: [{ ...running, event: "device.recovered" }] };
    if (S !== "running") return { action: "none", record: [running] };
    const stableAfter = policy.stableAfterMs ?? 60_000;
    if (rec.recoveryAttempts > 0 && now - rec.stateSince >= stableAfter) {
      return { action: "none", record: [{ state: "running", event: null, ...details(obs), recoveryAttempts: 0 }] };
    }
    return { action: "none", record: [{ state: "running", event: null, ...details(obs) }] };
  }

  // exists, not running
  if (NOT_YET_CREATED.has(S)) {
    return { action: "start", record: [{ state: "starting", event: "device.created", ...details(obs) }] };
  }
  const diedAfterStart = (S === "starting" || S === "restarting") && obs.finishedAt !== null && obs.finishedAt > rec.stateSince;
  const record: Observation[] = [];
  let errorSince = rec.stateSince;
  if (S === "running" || diedAfterStart) {
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
    return { action: "start", record: S === "starting" ? [] : [{ state: "starting", event: null, ...details(obs) }] };
  }

  const attempts = rec.recoveryAttempts;
  if (attempts >= policy.maxAttempts) {
    record.push({ state: "failed", event: "device.failed", reason: `recovery gave up after ${attempts} attempt(s)` });
    return { action: "give_up", record };
  }
  const dueAt = errorSince + recoveryDelay(attempts, policy.backoffMs);
  if (now >= dueAt) {
    record.push({ state: "restarting", event: null, recoveryAttempts: attempts + 1 });
    return { action: "recover", record };
  }
  return { action: "none", record, wakeAfterMs: dueAt - now };
}
