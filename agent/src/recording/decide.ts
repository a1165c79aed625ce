/**
 * Pure decisions of recording sessions (A3): the device command line, how a session ends, and which host files are
 * orphans. No I/O, tested directly.
 */

/** Android's screenrecord refuses time limits above 180 s. */
export const SCREENRECORD_MAX_SECONDS = 180;
/** screenrecord's own default bit rate (4 Mbps) when the caller gives none. */
export const DEFAULT_BIT_RATE = 4_000_000;
export const DEVICE_DIR = "/data/local/tmp";

/** The device temp file of one session: unique per recording id, so it also names the process. */
export function deviceFileOf(recordingId: string): string {
  return `${DEVICE_DIR}/cloudphone-rec-${recordingId}.mp4`;
}

/** `--time-limit` for a session: whole seconds, rounded up, within screenrecord's [1, 180]. */
export function timeLimitSeconds(maxDurationMs: number): number {
  return Math.min(SCREENRECORD_MAX_SECONDS, Math.max(1, Math.ceil(maxDurationMs / 1000)));
}

/**
 * The shell command that records. `exec` replaces the shell, so the process adbd watches (and that the held stream
 * reports the exit of) is screenrecord itself: a signal to it is not lost on an intermediate shell.
 */
export function screenrecordCommand(recordingId: string, maxDurationMs: number, bitRate: number | undefined): string {
  return `exec screenrecord --bit-rate ${bitRate ?? DEFAULT_BIT_RATE} --time-limit ${timeLimitSeconds(maxDurationMs)} ${deviceFileOf(recordingId)}`;
}

/**
 * `pkill -f` pattern (extended regex) matching this session's screenrecord by its unique file name. The dot is
 * written `[.]` so that the pattern does not match the command line of the pkill (or its shell) that carries it.
 */
export function processPattern(recordingId: string): string {
  return `screenrecord.*cloudphone-rec-${recordingId}[.]mp4`;
}

/** Signals this session's screenrecord; exit 0 when something matched. `sig`: INT (finish the file) or KILL. */
export function signalCommand(recordingId: string, sig: "INT" | "KILL"): string {
  return `pkill -${sig} -f '${processPattern(recordingId)}'`;
}

/**
 * Removes the device temp file; exits 0 when it is gone. A separate command from the kill: a shell whose command
 * line held both the pattern and the plain file name would match the pattern and be killed itself.
 */
export function removeFileCommand(recordingId: string): string {
  return `rm -f ${deviceFileOf(recordingId)}`;
}

/** Why a session is being ended. */
export type EndCause =
  | { kind: "stop"; reason: "stopped" | "max_duration" }
  /** The device is stopping, stopped or deleted: nothing to save. */
  | { kind: "device_stopped" }
  /** screenrecord ended by itself (status) or its stream broke (null). */
  | { kind: "exited"; exitCode: number | null; stderr: string };

/** What to do about an ending session: save the file (and name the reason), or fail with a reason. */
export type EndPlan = { save: true; reason: string } | { save: false; reason: string };

/**
 * Decides how a session ends. A stop (by the user or the agent's timer) saves the file. screenrecord exiting 0 by
 * itself reached its `--time-limit`: saved as `max_duration`. Any other exit, a broken stream or a stopping device
 * fails the session.
 */
export function planEnd(cause: EndCause): EndPlan {
  switch (cause.kind) {
    case "stop":
      return { save: true, reason: cause.reason };
    case "device_stopped":
      return { save: false, reason: "device_stopped" };
    case "exited": {
      if (cause.exitCode === 0) return { save: true, reason: "max_duration" };
      const detail = cause.stderr.trim().slice(0, 500);
      const what = cause.exitCode === null ? "the adb stream of screenrecord broke" : `screenrecord exited with status ${cause.exitCode}`;
      return { save: false, reason: detail ? `${what}: ${detail}` : what };
    }
  }
}

/** Device states in which a session must end: the container is going away or gone. */
const DEVICE_GONE = new Set(["stopping", "stopped", "deleting", "deleted", "restarting", "failed"]);

/** Whether a device in this desired/actual state can no longer host a session. */
export function deviceEndsSession(dev: { desired: string; state: string } | null): boolean {
  return dev === null || dev.desired !== "running" || DEVICE_GONE.has(dev.state);
}

/** Host file name of a finished recording. */
export function hostFileName(recordingId: string): string {
  return `${recordingId}.mp4`;
}

/**
 * Files in the recordings directory that no completed recording names (partial pulls, files of deleted or failed
 * rows, anything else): the ones to delete.
 */
export function orphanFiles(files: readonly string[], completedIds: ReadonlySet<string>): string[] {
  return files.filter((f) => {
    const m = /^(.+)\.mp4$/.exec(f);
    return !(m && completedIds.has(m[1]!));
  });
}

/** End of retention: rows (and files) that ended before this are swept. */
export function retentionCutoff(now: number, retentionDays: number): number {
  return now - Math.round(retentionDays * 86_400_000);
}
