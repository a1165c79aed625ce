import type { Socket } from "node:net";
import type { Logger } from "../../log.js";
import { holdCommand, type HeldProcess } from "../../recording/device-io.js";
import { DeviceMessageParser, resetVideo } from "../scrcpy/control.js";
import { ScrcpyVideoDemuxer } from "../scrcpy/framing.js";
import { SCRCPY_SERVER_DEVICE_PATH, randomScid, scrcpyServerCommand, scrcpySocketName } from "../scrcpy/options.js";
import { connectControlSocket, connectVideoSocket, ensureServerFile, killStaleServers, type CaptureAdb } from "./device-io.js";
import { Timeline } from "./timeline.js";
import type { Capture, CaptureEvents } from "./types.js";

export interface ScrcpyCaptureOptions {
  adb: CaptureAdb;
  serial: string;
  /** The server file on the phone server (`stream.scrcpyServerPath`). */
  serverPath: string;
  version: string;
  maxSize: number;
  maxFps: number;
  bitRate: number;
  /** Whole start-up: push, start, sockets. */
  startTimeoutMs: number;
  commandTimeoutMs: number;
  log: Logger;
}

/**
 * scrcpy capture (S1): pushes the server file when the device's copy differs, kills stale servers, starts
 * `app_process` with the pinned version (`audio=false`) on a held adb shell stream, connects video then control
 * through the adb server to `localabstract:scrcpy_<scid>` (no host port), and demuxes the video with the framing of
 * that version. Closing the capture closes both sockets and the shell stream (adbd hangs the server up).
 */
export async function startScrcpyCapture(o: ScrcpyCaptureOptions, events: CaptureEvents): Promise<Capture> {
  const deadline = Date.now() + o.startTimeoutMs;
  const pushed = await ensureServerFile(o.adb, o.serial, o.serverPath, SCRCPY_SERVER_DEVICE_PATH, o.commandTimeoutMs);
  await killStaleServers(o.adb, o.serial, o.commandTimeoutMs);
  const scid = randomScid();
  const socketName = scrcpySocketName(scid);
  const command = scrcpyServerCommand({
    version: o.version,
    scid,
    maxSize: o.maxSize,
    maxFps: o.maxFps,
    videoBitRate: o.bitRate,
    logLevel: "info",
  });
  const held = await holdCommand(o.adb.server, o.serial, command, o.commandTimeoutMs);
  let exited = false;
  void held.exited.then(() => {
    exited = true;
  });
  let video: { sock: Socket; first: Buffer } | null = null;
  let control: Socket | null = null;
  try {
    video = await connectVideoSocket(o.adb.server, o.serial, socketName, deadline, () => exited);
    control = await connectControlSocket(o.adb.server, o.serial, socketName, deadline);
  } catch (e) {
    video?.sock.destroy();
    held.close();
    const exit = exited ? await held.exited : null;
    const why = exit?.stderr.trim() ? `: ${exit.stderr.trim().slice(0, 500)}` : "";
    throw new Error(`${(e as Error).message}${why}`);
  }
  o.log.info({ serial: o.serial, scid: socketName, version: o.version, pushed }, "scrcpy capture started");
  return new ScrcpyCapture(o, events, held, video.sock, video.first, control);
}

class ScrcpyCapture implements Capture {
  readonly kind = "scrcpy" as const;
  readonly canControl = true;
  private closed = false;
  private readonly timeline: Timeline;

  constructor(
    private readonly o: ScrcpyCaptureOptions,
    private readonly events: CaptureEvents,
    private readonly held: HeldProcess,
    private readonly video: Socket,
    first: Buffer,
    private readonly control: Socket,
  ) {
    this.timeline = new Timeline(Math.round(1_000_000 / o.maxFps));
    const demuxer = new ScrcpyVideoDemuxer({ version: o.version, dummyByte: true, deviceMeta: false });
    const onVideo = (chunk: Buffer) => {
      if (this.closed) return;
      let packets;
      try {
        packets = demuxer.push(chunk);
      } catch (e) {
        this.end(e as Error);
        return;
      }
      for (const p of packets) {
        if (p.kind === "session") events.onSession(p.width, p.height);
        else if (p.kind === "config") events.onConfig(p.data);
        else events.onFrame(p.data, this.timeline.map(p.ptsUs), p.keyframe);
      }
    };
    video.on("data", onVideo);
    video.on("error", (e) => this.end(e));
    video.on("close", () => this.end(null));
    const parser = new DeviceMessageParser();
    control.on("data", (chunk: Buffer) => {
      if (this.closed) return;
      try {
        for (const m of parser.push(chunk)) events.onDeviceMessage(m);
      } catch (e) {
        this.end(e as Error);
      }
    });
    control.on("error", (e) => this.end(e));
    control.on("close", () => this.end(null));
    void held.exited.then((exit) => {
      if (!this.closed) this.end(new Error(`scrcpy server exited (status ${exit.exitCode ?? "unknown"})${exit.stderr ? `: ${exit.stderr.trim().slice(0, 300)}` : ""}`));
    });
    onVideo(first);
    video.resume();
    control.resume();
  }

  sendControl(msg: Buffer): boolean {
    if (this.closed || this.control.destroyed) return false;
    this.control.write(msg);
    return true;
  }

  requestKeyframe(): boolean {
    return this.sendControl(resetVideo());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.video.destroy();
    this.control.destroy();
    this.held.close();
  }

  private end(err: Error | null): void {
    if (this.closed) return;
    this.close();
    this.o.log.info({ serial: this.o.serial, err: err?.message }, "scrcpy capture ended");
    this.events.onEnd(err);
  }
}
