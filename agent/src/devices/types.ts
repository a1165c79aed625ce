import type { DesiredState, DeviceSpec, DeviceStatus, EventName } from "@cloudphone/shared-protocol";

/** A device as recorded in SQLite: what is wanted (desired, generation) and what was last observed. */
export interface DeviceRecord {
  id: string;
  spec: DeviceSpec;
  ownerId: string | null;
  desired: DesiredState;
  generation: number;
  state: DeviceStatus;
  stateSince: number;
  containerId: string | null;
  adbPort: number | null;
  exitCode: number | null;
  oomKilled: boolean | null;
  error: string | null;
  recoveryAttempts: number;
  restartRequested: boolean;
  deletedAt: number | null;
}

/**
 * A recorded change of actual state: the new state, the event to emit if the state changed, and the details.
 * Omitted detail fields keep their recorded value; `null` clears them.
 */
export interface Observation {
  state: DeviceStatus;
  event: EventName | null;
  containerId?: string | null;
  adbPort?: number | null;
  exitCode?: number | null;
  oomKilled?: boolean | null;
  error?: string | null;
  recoveryAttempts?: number;
  /**
   * Docker's start of the container's latest run and end of its latest exit (ms), when the observer inspected the
   * container. Not recorded on the device: metering uses them to start and end usage where the container did.
   * An observation entering `running` after an adb readiness check leaves them out: usage starts when readiness
   * is recorded, not when the container started.
   */
  startedAt?: number | null;
  finishedAt?: number | null;
  /** Free-text reason carried in the event's data. */
  reason?: string;
  commandId?: string;
}
