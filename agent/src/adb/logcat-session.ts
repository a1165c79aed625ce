import type { Socket } from "node:net";
import type { LogcatFilter } from "@cloudphone/shared-protocol";
import type WebSocket from "ws";
import type { Logger } from "../log.js";
import { DropGate, LineSplitter, linesFrame, logcatArgv } from "./logcat.js";
import { SHELL_V2, ShellV2Decoder, commandLine, shellV2Service } from "./protocol.js";
import { openDeviceService, type AdbServerAddress } from "./smart-socket.js";
import { CLOSE_DEVICE_LOST, CLOSE_GOING_AWAY, CLOSE_NORMAL, closeReason, errorFrame, exitFrame } from "./ws-frames.js";

/**
 * Live logcat relayed to a WebSocket (issue 4: A1). `logcat` runs through shell protocol v2 (raw), so its exit
 * status and stderr are known. Text frames carry one or more whole lines; `contains` is applied here.
 *
 * Following (live): a viewer slower than the log loses lines rather than growing the agent's memory — past
 * `maxBufferedBytes` unsent, lines are dropped and `{"type":"dropped","lines":n}` tells how many. A dump (`-d`)
 * is finite and complete by nature, so there the device stream is paused instead.
 * Closing the WebSocket closes the adb stream, which ends logcat on the device.
 */

export async function openLogcat(server: AdbServerAddress, serial: string, filter: LogcatFilter, openTimeoutMs: number): Promise<Socket> {
  return openDeviceService(server, serial, shellV2Service(commandLine(logcatArgv(filter))), openTimeoutMs);
}

/** stderr kept for the error message when logcat fails. */
const MAX_STDERR = 2048;

export interface LogcatSessionOptions {
  deviceId: string;
  adb: Socket;
  ws: WebSocket;
  filter: LogcatFilter;
  maxBufferedBytes: number;
  log: Logger;
  onEnd: () => void;
}

export class LogcatSession {
  private readonly decoder = new ShellV2Decoder();
  private readonly lines: LineSplitter;
  private readonly gate: DropGate;
  private stderr = "";
  private ended = false;
  private adbPaused = false;
  private droppedTotal = 0;

  constructor(private readonly o: LogcatSessionOptions) {
    this.lines = new LineSplitter(o.filter.contains);
    this.gate = new DropGate(o.maxBufferedBytes);
    const { adb, ws } = o;
    adb.on("data", (chunk: Buffer) => this.fromDevice(chunk));
    adb.on("error", (e: Error) => o.log.debug({ deviceId: o.deviceId, err: e.message }, "logcat stream error"));
    adb.on("close", () => this.finish(CLOSE_DEVICE_LOST, "the device's logcat stream closed without an exit status"));
    // The viewer only reads; anything it sends is ignored.
    ws.on("close", () => this.finish(null, ""));
    ws.on("error", (e: Error) => o.log.debug({ deviceId: o.deviceId, err: e.message }, "logcat tunnel error"));
    adb.resume();
  }

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
      if (p.id === SHELL_V2.stdout) this.emit(this.lines.push(p.data));
      else if (p.id === SHELL_V2.stderr) {
        if (this.stderr.length < MAX_STDERR) this.stderr += p.data.toString("utf8").slice(0, MAX_STDERR - this.stderr.length);
      } else if (p.id === SHELL_V2.exit) {
        this.emit(this.lines.end());
        // The count of dropped lines goes out even though the socket may still be full: it is the last word on them.
        const notice = this.gate.drained(0);
        if (notice) this.sendText(notice);
        const code = p.data.length > 0 ? p.data.readUInt8(0) : -1;
        if (code !== 0 && this.stderr.trim() !== "") this.sendText(errorFrame(`logcat: ${this.stderr.trim()}`));
        this.sendText(exitFrame(code));
        this.finish(CLOSE_NORMAL, "");
        return;
      }
    }
  }

  private emit(lines: string[]): void {
    if (lines.length === 0) return;
    const { ws } = this.o;
    if (ws.readyState !== ws.OPEN) return;
    if (this.o.filter.dump) {
      // Complete output: flow control instead of dropping.
      this.sendText(linesFrame(lines));
      if (!this.adbPaused && ws.bufferedAmount > this.o.maxBufferedBytes) {
        this.adbPaused = true;
        this.o.adb.pause();
      }
      return;
    }
    const before = this.gate.dropped;
    for (const frame of this.gate.offer(lines, ws.bufferedAmount)) this.sendText(frame);
    if (this.gate.dropped > before) this.droppedTotal += this.gate.dropped - before;
  }

  private sendText(frame: string): void {
    const { ws } = this.o;
    if (ws.readyState !== ws.OPEN) return;
    ws.send(frame, { binary: false }, () => this.afterFlush());
  }

  private afterFlush(): void {
    if (this.ended) return;
    const queued = this.o.ws.bufferedAmount;
    if (this.adbPaused && queued <= this.o.maxBufferedBytes / 2) {
      this.adbPaused = false;
      this.o.adb.resume();
    }
    const notice = this.gate.drained(queued);
    if (notice) this.sendText(notice);
  }

  private finish(code: number | null, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    const { ws, adb, log, deviceId } = this.o;
    adb.destroy();
    if (code !== null && (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING)) ws.close(code, closeReason(reason));
    log.info({ deviceId, closedBy: code === null ? "viewer" : reason || "exit", droppedLines: this.droppedTotal }, "logcat session ended");
    this.o.onEnd();
  }
}
