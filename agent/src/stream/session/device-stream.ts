import type { IceServer } from "@cloudphone/shared-protocol";
import type { Logger } from "../../log.js";
import { RpcFailure } from "../../rpc/types.js";
import type { CaptureAdb } from "../capture/device-io.js";
import { startScrcpyCapture } from "../capture/scrcpy-capture.js";
import { startScreenrecordCapture } from "../capture/screenrecord-capture.js";
import type { Capture, CaptureEvents } from "../capture/types.js";
import { H264Packetizer } from "../h264/packetizer.js";
import type { DeviceMessage } from "../scrcpy/control.js";
import type { StreamMetrics } from "../webrtc/metrics.js";
import { NoH264Error, ViewerPeer } from "../webrtc/peer.js";
import { ControlHolder, type ControlChange } from "./control-holder.js";
import { controlMessagesFor, isInputMessage, type VideoSize } from "./input.js";
import { MinInterval } from "./rate-limiter.js";
import type { StreamSettings } from "./settings.js";
import { ViewerSession, parseViewerMessage } from "./viewer-session.js";

export interface DeviceStreamDeps {
  deviceId: string;
  serial: string;
  adb: CaptureAdb;
  settings: StreamSettings;
  metrics: StreamMetrics;
  log: Logger;
  /** The last viewer left (or the stream closed): the manager forgets this stream. */
  onIdle: () => void;
}

/**
 * One device's live stream (S1, S2): a single capture shared by all viewers, one packetization per access unit,
 * per-viewer RTP headers only; control hand-over between viewers; keyframes on join and on PLI (rate limited).
 * The capture starts with the first viewer and stops when the last one leaves or when the stream is closed.
 */
export class DeviceStream {
  private capture: Capture | null = null;
  private starting: Promise<Capture> | null = null;
  private readonly packetizer = new H264Packetizer();
  private size: VideoSize | null = null;
  private readonly viewers = new Map<string, ViewerSession>();
  /** Offers between arrival and answer (keep the capture while they are pending). */
  private pending = 0;
  private readonly control = new ControlHolder();
  private readonly keyframeLimiter: MinInterval;
  private deferredKeyframe: NodeJS.Timeout | null = null;
  private spsWaiters: (() => void)[] = [];
  private statsTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly d: DeviceStreamDeps) {
    this.keyframeLimiter = new MinInterval(d.settings.keyframeMinIntervalMs);
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  hasSession(sessionId: string): boolean {
    return this.viewers.has(sessionId);
  }

  /** Adds a viewer from its WHEP offer; resolves with the answer SDP and whether it holds control. */
  async offer(sessionId: string, userId: string, sdp: string, iceServers: readonly IceServer[], signal: AbortSignal): Promise<{ sdp: string; control: boolean }> {
    this.pending++;
    let peer: ViewerPeer | null = null;
    try {
      await this.ensureCapture();
      await this.waitForSps(signal);
      if (this.closed) throw new RpcFailure("device_not_ready", "the device's stream ended");
      const profileLevelId = this.packetizer.spsInfo?.profileLevelId ?? "42e01f";
      const s = this.d.settings;
      let session: ViewerSession | null = null;
      const p = new ViewerPeer(
        { iceServers, additionalHostAddresses: s.additionalHostAddresses, portRange: s.portRange, profileLevelId, gatherTimeoutMs: s.gatherTimeoutMs, directRtp: s.directRtp },
        {
          onConnected: () => {
            this.d.log.info({ deviceId: this.d.deviceId, sessionId, writePath: p.writePath }, "viewer connected");
            this.d.metrics.connections.inc({ path: p.writePath?.kind ?? "werift", srtp: p.writePath?.srtpProfile ?? "" });
            this.requestKeyframe();
          },
          onChannelOpen: () => {
            if (!session) return;
            if (this.size) session.send({ t: "video", width: this.size.width, height: this.size.height });
            session.send({ t: "control", holder: this.control.isHolder(sessionId), sessionId: this.control.holder ?? "", input: this.capture?.canControl ?? false });
          },
          onMessage: (text) => session && this.onViewerMessage(session, text),
          onKeyframeRequest: () => this.requestKeyframe(),
          onGone: (reason) => this.removeViewer(sessionId, reason),
        },
      );
      peer = p;
      const answer = await p.answer(sdp);
      if (signal.aborted || this.closed) throw new RpcFailure("timeout", "the offer expired before the answer was ready");
      session = new ViewerSession(sessionId, userId, p, {
        inputRatePerSecond: s.inputRatePerSecond,
        heartbeatTimeoutMs: s.heartbeatTimeoutMs,
        firstPingTimeoutMs: s.firstPingTimeoutMs,
        onHeartbeatLost: () => this.removeViewer(sessionId, "heartbeat"),
      });
      this.viewers.set(sessionId, session);
      this.d.metrics.viewers.inc();
      const change = this.control.join(sessionId, userId);
      this.announceControl(change);
      this.startStats();
      this.d.log.info({ deviceId: this.d.deviceId, sessionId, userId, viewers: this.viewers.size, capture: this.capture?.kind }, "viewer joined");
      return { sdp: answer, control: this.control.isHolder(sessionId) };
    } catch (e) {
      peer?.close();
      if (e instanceof NoH264Error) throw new RpcFailure("bad_params", e.message);
      if (e instanceof RpcFailure) throw e;
      throw new RpcFailure("failed", `stream: ${(e as Error).message}`);
    } finally {
      this.pending--;
      this.stopIfIdle();
    }
  }

  /** Ends one viewer's session; false when it is not (or no longer) here. */
  removeViewer(sessionId: string, reason: string): boolean {
    const v = this.viewers.get(sessionId);
    if (!v) return false;
    this.viewers.delete(sessionId);
    v.close();
    this.d.metrics.viewers.dec();
    this.d.metrics.sessionsTotal.inc({ reason });
    this.d.metrics.forgetViewer(this.d.deviceId, sessionId);
    this.announceControl(this.control.leave(sessionId));
    this.d.log.info({ deviceId: this.d.deviceId, sessionId, reason, viewers: this.viewers.size }, "viewer left");
    this.stopIfIdle();
    return true;
  }

  /** Ends every session and the capture (device stopped or deleted, agent shutdown). */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.viewers.keys()]) this.removeViewer(id, reason);
    this.stopCapture();
    for (const w of this.spsWaiters.splice(0)) w();
    this.d.onIdle();
  }

  private stopIfIdle(): void {
    if (this.viewers.size > 0 || this.pending > 0) return;
    this.stopCapture();
    if (!this.closed) {
      this.closed = true;
      this.d.onIdle();
    }
  }

  private stopCapture(): void {
    if (this.deferredKeyframe) clearTimeout(this.deferredKeyframe);
    this.deferredKeyframe = null;
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
    if (this.capture) {
      this.capture.close();
      this.capture = null;
      this.d.metrics.captures.dec();
      this.d.log.info({ deviceId: this.d.deviceId }, "capture stopped");
    }
  }

  private async ensureCapture(): Promise<Capture> {
    if (this.capture) return this.capture;
    this.starting ??= this.startCapture().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async startCapture(): Promise<Capture> {
    const s = this.d.settings;
    const events: CaptureEvents = {
      onSession: (w, h) => this.onSession(w, h),
      onConfig: (data) => {
        this.packetizer.packetizeAnnexB(data, 0);
        this.wakeSpsWaiters();
      },
      onFrame: (data, ptsUs) => this.onFrame(data, ptsUs),
      onDeviceMessage: (m) => this.onDeviceMessage(m),
      onEnd: (err) => {
        this.d.log.warn({ deviceId: this.d.deviceId, err: err?.message }, "capture ended by itself; closing its viewers");
        if (this.capture) this.d.metrics.captures.dec();
        this.capture = null;
        this.close("capture_ended");
      },
    };
    const base = { serial: this.d.serial, startTimeoutMs: s.startTimeoutMs, log: this.d.log };
    const scrcpy = () =>
      startScrcpyCapture(
        { ...base, adb: this.d.adb, serverPath: s.scrcpyServerPath, version: s.scrcpyVersion, maxSize: s.maxSize, maxFps: s.maxFps, bitRate: s.bitRate, commandTimeoutMs: s.commandTimeoutMs },
        events,
      );
    const screenrecord = () => startScreenrecordCapture({ ...base, server: this.d.adb.server, bitRate: s.bitRate, restartMs: s.screenrecordRestartMs }, events);
    let capture: Capture;
    if (s.source === "screenrecord") capture = await screenrecord();
    else if (s.source === "scrcpy") capture = await scrcpy();
    else {
      try {
        capture = await scrcpy();
      } catch (e) {
        this.d.log.warn({ deviceId: this.d.deviceId, err: (e as Error).message }, "scrcpy unavailable; falling back to screenrecord (no input)");
        capture = await screenrecord();
      }
    }
    if (this.closed) {
      capture.close();
      throw new RpcFailure("device_not_ready", "the device's stream ended while starting");
    }
    this.capture = capture;
    this.d.metrics.captures.inc();
    return capture;
  }

  private waitForSps(signal: AbortSignal): Promise<void> {
    if (this.packetizer.parameterSets || this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new RpcFailure("device_not_ready", "the device's encoder sent no SPS/PPS in time")), this.d.settings.startTimeoutMs);
      const onAbort = () => finish(new RpcFailure("timeout", "the offer expired while waiting for the encoder"));
      const waiter = () => finish(null);
      const finish = (err: Error | null) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.spsWaiters = this.spsWaiters.filter((w) => w !== waiter);
        if (err) reject(err);
        else resolve();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.spsWaiters.push(waiter);
    });
  }

  private wakeSpsWaiters(): void {
    if (!this.packetizer.parameterSets) return;
    for (const w of this.spsWaiters.splice(0)) w();
  }

  private onSession(width: number, height: number): void {
    this.size = { width, height };
    for (const v of this.viewers.values()) v.send({ t: "video", width, height });
  }

  private onFrame(data: Buffer, ptsUs: number): void {
    const t0 = process.hrtime.bigint();
    const au = this.packetizer.packetizeAnnexB(data, ptsUs);
    if (this.spsWaiters.length > 0) this.wakeSpsWaiters();
    if (!au) return;
    if (!this.size && this.packetizer.spsInfo) this.size = { width: this.packetizer.spsInfo.width, height: this.packetizer.spsInfo.height };
    for (const v of this.viewers.values()) v.peer.sendAccessUnit(au);
    if (this.viewers.size > 0) this.d.metrics.fanout.observe(Number(process.hrtime.bigint() - t0) / 1e9);
  }

  private onDeviceMessage(m: DeviceMessage): void {
    if (m.type !== "clipboard") return;
    const holder = this.control.holder;
    const v = holder ? this.viewers.get(holder) : undefined;
    v?.send({ t: "clipboard", text: m.text });
  }

  /** Asks the encoder for an IDR now, or once the minimum interval has passed (merging requests in between). */
  private requestKeyframe(): void {
    if (!this.capture) return;
    if (this.keyframeLimiter.tryNow(Date.now())) {
      if (this.capture.requestKeyframe()) this.d.metrics.keyframeRequests.inc();
      return;
    }
    if (this.deferredKeyframe) return;
    this.deferredKeyframe = setTimeout(() => {
      this.deferredKeyframe = null;
      this.requestKeyframe();
    }, this.d.settings.keyframeMinIntervalMs);
    this.deferredKeyframe.unref();
  }

  private announceControl(change: ControlChange): void {
    if (!change.changed) return;
    for (const v of this.viewers.values()) v.send({ t: "control", holder: v.sessionId === change.holder, sessionId: change.holder ?? "", input: this.capture?.canControl ?? false });
  }

  private onViewerMessage(v: ViewerSession, text: string): void {
    const parsed = parseViewerMessage(text);
    if (!parsed.ok) {
      v.error("invalid", parsed.reason);
      return;
    }
    const m = parsed.msg;
    switch (m.t) {
      case "ping":
        v.heartbeat.beat();
        v.send({ t: "pong", ts: m.ts });
        return;
      case "control.request": {
        const r = this.control.request(v.sessionId);
        if (!r.granted) v.error("view_only", "another user controls this device");
        else if (!r.changed) v.send({ t: "control", holder: true, sessionId: v.sessionId, input: this.capture?.canControl ?? false });
        this.announceControl(r);
        return;
      }
      case "control.release": {
        const r = this.control.release(v.sessionId, m.to);
        if (!r.allowed) v.error("view_only", "only the viewer in control can hand it over");
        this.announceControl(r);
        return;
      }
    }
    if (!isInputMessage(m)) return;
    // First: with no control channel (screenrecord) nobody can send input, so view_only or rate_limited would mislead.
    const capture = this.capture;
    if (!capture || !capture.canControl) {
      v.error("invalid", `input is not available: the device streams with ${capture?.kind ?? "no capture"} (no scrcpy control channel); '${m.t}' was dropped`);
      return;
    }
    if (!this.control.isHolder(v.sessionId)) {
      v.error("view_only", "this viewer watches only; send control.request to take control");
      return;
    }
    if (!v.bucket.take(Date.now())) {
      v.error("rate_limited", `more than ${this.d.settings.inputRatePerSecond} input messages per second`);
      return;
    }
    let msgs: Buffer[] | null;
    try {
      msgs = controlMessagesFor(m, this.size);
    } catch (e) {
      v.error("invalid", (e as Error).message);
      return;
    }
    if (!msgs) {
      v.error("invalid", "the video size is not known yet");
      return;
    }
    for (const b of msgs) capture.sendControl(b);
  }

  /** Per-viewer bitrate/fps over the last window, RTT and loss from RTCP (metrics). */
  private startStats(): void {
    if (this.statsTimer) return;
    this.statsTimer = setInterval(() => void this.sampleStats(), this.d.settings.statsIntervalMs);
    this.statsTimer.unref();
  }

  private async sampleStats(): Promise<void> {
    const now = Date.now();
    const m = this.d.metrics;
    for (const v of this.viewers.values()) {
      const labels = { device: this.d.deviceId, session: v.sessionId };
      const dt = (now - v.sample.at) / 1000;
      if (dt > 0) {
        m.fps.set(labels, (v.peer.frames - v.sample.frames) / dt);
        m.bitrate.set(labels, ((v.peer.bytes - v.sample.bytes) * 8) / dt);
      }
      m.retransmits.inc(v.peer.retransmitted - v.sample.retransmitted);
      v.sample = { at: now, frames: v.peer.frames, bytes: v.peer.bytes, retransmitted: v.peer.retransmitted };
      const r = await v.peer.remoteStats();
      if (!this.viewers.has(v.sessionId)) continue;
      if (r.rttSeconds !== null) m.rtt.set(labels, r.rttSeconds);
      if (r.fractionLost !== null) m.loss.set(labels, r.fractionLost);
      if (r.packetsLost !== null) m.packetsLost.set(labels, r.packetsLost);
    }
  }
}
