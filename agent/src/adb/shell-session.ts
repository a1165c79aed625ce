import type { Socket } from "node:net";
import type WebSocket from "ws";
import type { Logger } from "../log.js";
import { SHELL_V2, SHELL_V2_MAX_STDIN_CHUNK, ShellV2Decoder, encodeShellPacket } from "./protocol.js";
import { openDeviceService, type AdbServerAddress } from "./smart-socket.js";
import { CLOSE_DEVICE_LOST, CLOSE_GOING_AWAY, CLOSE_IDLE, CLOSE_NORMAL, closeReason, errorFrame, exitFrame, parseShellControl } from "./ws-frames.js";

/**
 * An interactive shell on a device (issue 4: A1): adbd's `shell,v2,pty` service relayed to a WebSocket (the duplex
 * tunnel the user's browser is piped to by the control plane).
 *
 *   WS binary  → stdin packets          stdout/stderr packets → WS binary
 *   WS text `{"type":"resize","cols","rows"}` → window-size packet
 *   exit packet → `{"type":"exit","code":n}`, close 1000
 *
 * Closing the WebSocket closes the adb stream, and adbd hangs up the shell's process group (SIGHUP, then SIGKILL),
 * so nothing is left on the device. Both directions are flow-controlled: device output is paused while the
 * WebSocket has more than `highWaterBytes` unsent, and the WebSocket is paused while adbd does not take stdin.
 */

export const SHELL_TERM = "xterm-256color";

/** The adbd service for an interactive login shell on a PTY (empty command), speaking shell protocol v2. */
export function ptyShellService(term: string): string {
  return `shell,v2,pty,TERM=${term}:`;
}

/** Shell v2 window-size payload, as AOSP's adb client sends it: `ROWSxCOLS,XPIXELSxYPIXELS`. */
export function windowSizePacket(cols: number, rows: number): Buffer {
  return encodeShellPacket(SHELL_V2.windowSizeChange, Buffer.from(`${rows}x${cols},0x0`, "ascii"));
}

export function stdinPackets(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += SHELL_V2_MAX_STDIN_CHUNK) out.push(encodeShellPacket(SHELL_V2.stdin, data.subarray(off, off + SHELL_V2_MAX_STDIN_CHUNK)));
  return out;
}

export interface ShellOpenOptions {
  server: AdbServerAddress;
  serial: string;
  cols: number;
  rows: number;
  openTimeoutMs: number;
}

/** Opens the PTY shell stream and sets its size; the socket is paused until a session relays it. */
export async function openPtyShell(o: ShellOpenOptions): Promise<Socket> {
  const sock = await openDeviceService(o.server, o.serial, ptyShellService(SHELL_TERM), o.openTimeoutMs);
  sock.write(windowSizePacket(o.cols, o.rows));
  return sock;
}

export interface ShellSessionOptions {
  deviceId: string;
  adb: Socket;
  ws: WebSocket;
  idleTimeoutMs: number;
  highWaterBytes: number;
  log: Logger;
  /** Called once when the session is over (both sockets closed or closing). */
  onEnd: () => void;
}

export class ShellSession {
  private readonly decoder = new ShellV2Decoder();
  private idleTimer: NodeJS.Timeout | null = null;
  private ended = false;
  private adbPaused = false;
  private viewerPaused = false;
  private readonly startedAt = Date.now();

  constructor(private readonly o: ShellSessionOptions) {
    const { adb, ws } = o;
    adb.on("data", (chunk: Buffer) => this.fromDevice(chunk));
    adb.on("error", (e: Error) => o.log.debug({ deviceId: o.deviceId, err: e.message }, "shell stream error"));
    adb.on("close", () => this.finish(CLOSE_DEVICE_LOST, "the device's shell stream closed without an exit status"));
    ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => this.fromViewer(data, isBinary));
    ws.on("close", () => this.finish(null, ""));
    ws.on("error", (e: Error) => o.log.debug({ deviceId: o.deviceId, err: e.message }, "shell tunnel error"));
    this.touch();
    adb.resume();
  }

  /** Ends the session from the agent's side (shutdown). */
  close(code = CLOSE_GOING_AWAY, reason = "the agent is shutting down"): void {
    this.finish(code, reason);
  }

  private fromDevice(chunk: Buffer): void {
    let packets;
    try {
      packets = this.decoder.push(chunk);
    } catch (e) {
      this.finish(CLOSE_DEVICE_LOST, (e as Error).message);
      return;
    }
    for (const p of packets) {
      if (p.id === SHELL_V2.stdout || p.id === SHELL_V2.stderr) {
        if (p.data.length > 0) this.send(p.data);
      } else if (p.id === SHELL_V2.exit) {
        const code = p.data.length > 0 ? p.data.readUInt8(0) : -1;
        this.o.ws.send(exitFrame(code));
        this.finish(CLOSE_NORMAL, "");
        return;
      }
    }
    this.touch();
  }

  private send(data: Buffer): void {
    const { ws } = this.o;
    if (ws.readyState !== ws.OPEN) return;
    ws.send(data, { binary: true }, () => this.maybeResumeDevice());
    if (!this.adbPaused && ws.bufferedAmount > this.o.highWaterBytes) {
      this.adbPaused = true;
      this.o.adb.pause();
    }
  }

  private maybeResumeDevice(): void {
    if (this.adbPaused && !this.ended && this.o.ws.bufferedAmount <= this.o.highWaterBytes / 2) {
      this.adbPaused = false;
      this.o.adb.resume();
    }
  }

  private fromViewer(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.ended) return;
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    this.touch();
    if (!isBinary) {
      const r = parseShellControl(bytes.toString("utf8"));
      if (!r.ok) {
        this.o.ws.send(errorFrame(r.error));
        return;
      }
      this.o.adb.write(windowSizePacket(r.msg.cols, r.msg.rows));
      return;
    }
    let room = true;
    for (const p of stdinPackets(bytes)) room = this.o.adb.write(p);
    if (!room && !this.viewerPaused) {
      // adbd is not taking input as fast as it comes: stop reading the tunnel until it drains.
      this.viewerPaused = true;
      this.o.ws.pause();
      this.o.adb.once("drain", () => {
        this.viewerPaused = false;
        this.o.ws.resume();
      });
    }
  }

  private touch(): void {
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => this.finish(CLOSE_IDLE, `idle for ${this.o.idleTimeoutMs} ms`), this.o.idleTimeoutMs);
      this.idleTimer.unref();
    }
  }

  /** `code` null: the viewer closed the tunnel. Either way the adb stream is closed, which ends the device's shell. */
  private finish(code: number | null, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const { ws, adb, log, deviceId } = this.o;
    adb.destroy();
    if (code !== null && (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING)) ws.close(code, closeReason(reason));
    log.info({ deviceId, closedBy: code === null ? "viewer" : reason || "exit", durationMs: Date.now() - this.startedAt }, "shell session ended");
    this.o.onEnd();
  }
}
