import type { DeviceMessage } from "../scrcpy/control.js";

/**
 * A running capture of one device's screen (shared by all of its viewers): H.264 access units in Annex-B, the
 * video size, and (scrcpy only) the control socket.
 */
export interface CaptureEvents {
  /** A capture session started (first start, rotation, reset): positional input must use this size from now on. */
  onSession(width: number, height: number): void;
  /** Codec configuration (SPS + PPS, Annex-B). */
  onConfig(data: Buffer): void;
  /** One access unit (Annex-B) with a strictly increasing presentation time in µs. */
  onFrame(data: Buffer, ptsUs: number, keyframe: boolean): void;
  /** A message from the device on the control socket (clipboard). */
  onDeviceMessage(msg: DeviceMessage): void;
  /** The capture ended by itself (server exited, socket broke); null error: a normal end. Not called after close(). */
  onEnd(err: Error | null): void;
}

export interface Capture {
  readonly kind: "scrcpy" | "screenrecord";
  /** Whether input can be injected (scrcpy's control socket). */
  readonly canControl: boolean;
  /** Queues a control message; false when there is no control socket (or it is closed). */
  sendControl(msg: Buffer): boolean;
  /** Asks the encoder for a new IDR (with SPS/PPS); false when the source cannot. */
  requestKeyframe(): boolean;
  /** Stops the capture and releases every socket and process; idempotent. */
  close(): void;
}
