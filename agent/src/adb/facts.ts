/**
 * What the agent knows about one device's adb connection: produced by the monitor (I/O), consumed by the pure
 * planner. Facts belong to one container run (Docker's StartedAt) and one adbd endpoint: facts about an earlier
 * run or another port say nothing about the current one.
 */
export type AdbStatus =
  | "probing" // no verdict yet: connecting, or waiting for sys.boot_completed=1
  | "ready" // adbd answers and sys.boot_completed=1
  | "lost" // was ready, a health check failed; reconnecting with back-off
  | "unreachable"; // the reconnects ran out: the device needs a restart

export interface AdbFacts {
  /** Docker StartedAt (ms) of the run these facts are about. */
  run: number | null;
  port: number;
  status: AdbStatus;
  /** When the status began (ms). */
  since: number;
  /** The last failure (a probe, a health check or a reconnect), for events and logs. */
  error: string | null;
}

/** What the planner asks the monitor to do for a device. */
export type AdbWatch =
  | "boot" // probe until ready (connect, wait for the transport, getprop sys.boot_completed)
  | "health" // periodic health check; on failure report lost and reconnect
  | "none"; // nothing (container not running, device stopped or deleted)

/** Whether `facts` describe the container run and endpoint that Docker shows now. */
export function factsApply(facts: AdbFacts | null, run: number | null, port: number | null): facts is AdbFacts {
  return facts !== null && facts.run === run && facts.port === port;
}

/** The monitor as the reconcile loop sees it. */
export interface AdbWatcher {
  /** The latest facts about a device (any run; check them with factsApply). */
  facts(deviceId: string): AdbFacts | null;
  /** Sets what to do for a device; idempotent for the same mode, port and run. */
  watch(deviceId: string, mode: AdbWatch, port: number | null, run: number | null): void;
  /** The device is gone: stop watching, drop its facts, disconnect it from the adb server. */
  forget(deviceId: string): void;
}
