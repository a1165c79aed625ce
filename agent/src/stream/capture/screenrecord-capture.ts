import type { Socket } from "node:net";
import type { Logger } from "../../log.js";
import { openDeviceService, type AdbServerAddress } from "../../adb/smart-socket.js";
import { AccessUnitGrouper, AnnexBStreamSplitter, NalType, isVcl, nalType, parseSps, joinAnnexB } from "../h264/nal.js";
import { Timeline } from "./timeline.js";
import type { Capture, CaptureEvents } from "./types.js";

export interface ScreenrecordCaptureOptions {
  server: AdbServerAddress;
  serial: string;
  bitRate: number;
  /** Android stops screenrecord after 180 s; a new one is started this often and takes over at its first IDR. */
  restartMs: number;
  startTimeoutMs: number;
  log: Logger;
}

/** A screenrecord process streaming raw H.264 on an `exec:` stream, cut into access units. */
class Run {
  private readonly splitter = new AnnexBStreamSplitter();
  private readonly grouper = new AccessUnitGrouper();
  sawKeyframe = false;

  constructor(
    readonly sock: Socket,
    onAccessUnit: (run: Run, nals: Buffer[]) => void,
    onEnd: (run: Run, err: Error | null) => void,
  ) {
    sock.on("data", (chunk: Buffer) => {
      let nals: Buffer[];
      try {
        nals = this.splitter.push(chunk);
      } catch (e) {
        onEnd(this, e as Error);
        return;
      }
      for (const nal of nals) for (const au of this.grouper.push(nal)) onAccessUnit(this, au);
    });
    sock.on("error", (e) => onEnd(this, e));
    sock.on("close", () => onEnd(this, null));
    sock.resume();
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Fallback capture (no input): `screenrecord --output-format=h264 … -`, restarted seamlessly before its limit. */
export async function startScreenrecordCapture(o: ScreenrecordCaptureOptions, events: CaptureEvents): Promise<Capture> {
  const c = new ScreenrecordCapture(o, events);
  await c.start();
  return c;
}

class ScreenrecordCapture implements Capture {
  readonly kind = "screenrecord" as const;
  readonly canControl = false;
  private current: Run | null = null;
  private next: Run | null = null;
  private closed = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly origin = performance.now();
  private readonly timeline = new Timeline(1000);
  private width = 0;
  private height = 0;

  constructor(
    private readonly o: ScreenrecordCaptureOptions,
    private readonly events: CaptureEvents,
  ) {}

  private command(): string {
    return `exec:screenrecord --output-format=h264 --bit-rate ${this.o.bitRate} --time-limit 180 -`;
  }

  async start(): Promise<void> {
    const sock = await openDeviceService(this.o.server, this.o.serial, this.command(), this.o.startTimeoutMs);
    if (this.closed) {
      sock.destroy();
      return;
    }
    this.current = new Run(sock, (r, au) => this.onAccessUnit(r, au), (r, e) => this.onRunEnd(r, e));
    this.armRestart();
    this.o.log.info({ serial: this.o.serial }, "screenrecord capture started");
  }

  private armRestart(): void {
    this.restartTimer = setTimeout(() => void this.restart(), this.o.restartMs);
    this.restartTimer.unref();
  }

  /** Starts the successor; it replaces the current run at its first IDR (a new SPS/PPS + IDR, no gap in time). */
  private async restart(): Promise<void> {
    if (this.closed) return;
    try {
      const sock = await openDeviceService(this.o.server, this.o.serial, this.command(), this.o.startTimeoutMs);
      if (this.closed) {
        sock.destroy();
        return;
      }
      this.next = new Run(sock, (r, au) => this.onAccessUnit(r, au), (r, e) => this.onRunEnd(r, e));
    } catch (e) {
      this.o.log.warn({ serial: this.o.serial, err: (e as Error).message }, "screenrecord restart failed; the current run continues");
    }
    this.armRestart();
  }

  private onAccessUnit(run: Run, nals: Buffer[]): void {
    if (this.closed) return;
    const keyframe = nals.some((n) => nalType(n) === NalType.IDR);
    if (run === this.next) {
      if (!keyframe) return; // not ready to take over yet
      this.current?.close();
      this.current = run;
      this.next = null;
    }
    if (run !== this.current) return;
    if (!run.sawKeyframe) {
      if (!keyframe) return;
      run.sawKeyframe = true;
    }
    const sps = nals.find((n) => nalType(n) === NalType.SPS);
    if (sps) {
      try {
        const info = parseSps(sps);
        if (info.width !== this.width || info.height !== this.height) {
          this.width = info.width;
          this.height = info.height;
          this.events.onSession(info.width, info.height);
        }
      } catch {
        // an unparsable SPS still goes to the viewers; the size stays as it was
      }
    }
    if (!nals.some((n) => isVcl(nalType(n)))) return;
    const ptsUs = this.timeline.map(Math.round((performance.now() - this.origin) * 1000));
    this.events.onFrame(joinAnnexB(nals), ptsUs, keyframe);
  }

  private onRunEnd(run: Run, err: Error | null): void {
    if (this.closed) return;
    if (run === this.next) {
      this.next = null;
      if (this.current) return;
    } else if (run !== this.current) {
      return;
    }
    if (run === this.current && this.next) {
      // The old run hit its limit before the successor's first IDR: the successor takes over at that IDR.
      this.current = null;
      return;
    }
    this.close();
    this.events.onEnd(err ?? new Error("screenrecord ended"));
  }

  sendControl(): boolean {
    return false;
  }

  requestKeyframe(): boolean {
    return false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.current?.close();
    this.next?.close();
  }
}
