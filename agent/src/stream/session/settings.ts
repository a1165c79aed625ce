import type { IceServer } from "@cloudphone/shared-protocol";

/** Streaming settings (agent config `stream.*` plus fixed protocol limits), resolved once by the wiring. */
export interface StreamSettings {
  source: "scrcpy" | "screenrecord" | "auto";
  scrcpyServerPath: string;
  scrcpyVersion: string;
  maxSize: number;
  maxFps: number;
  bitRate: number;
  inputRatePerSecond: number;
  additionalHostAddresses: readonly string[];
  portRange: [number, number] | undefined;
  /** RTP through DirectRtpWriter (config `stream.directRtp`). */
  directRtp: boolean;
  /** Viewer heartbeat (stream-input.ts: 5 s), and the grace before the first ping. */
  heartbeatTimeoutMs: number;
  firstPingTimeoutMs: number;
  /** Bounds of the offer → answer path. */
  gatherTimeoutMs: number;
  startTimeoutMs: number;
  commandTimeoutMs: number;
  /** Keyframe requests to the encoder are spaced at least this much (joins and PLIs are merged). */
  keyframeMinIntervalMs: number;
  screenrecordRestartMs: number;
  /** Period of the per-viewer statistics sample (metrics). */
  statsIntervalMs: number;
}

export type { IceServer };
