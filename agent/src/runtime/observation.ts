/** What Docker says about one device's container right now. */
export interface ContainerObservation {
  exists: boolean;
  running: boolean;
  exitCode: number | null;
  oomKilled: boolean;
  containerId: string | null;
  adbPort: number | null;
  /** When the container last exited (ms), null if it never ran. Kept by Docker while a later run is going on. */
  finishedAt: number | null;
  /** When the container's latest run started (ms), null if it never ran. */
  startedAt: number | null;
}

export const MISSING: ContainerObservation = {
  exists: false,
  running: false,
  exitCode: null,
  oomKilled: false,
  containerId: null,
  adbPort: null,
  finishedAt: null,
  startedAt: null,
};
