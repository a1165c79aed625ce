import type { RpcParams, RpcResult } from "@cloudphone/shared-protocol";
import type { DeviceRepo } from "../../devices/repo.js";
import type { Logger } from "../../log.js";
import { deviceEndsSession } from "../../recording/decide.js";
import { RpcFailure, type RpcContext } from "../../rpc/types.js";
import type { CaptureAdb } from "../capture/device-io.js";
import type { StreamMetrics } from "../webrtc/metrics.js";
import { DeviceStream } from "./device-stream.js";
import type { StreamSettings } from "./settings.js";

export interface StreamManagerDeps {
  adb: CaptureAdb;
  repo: Pick<DeviceRepo, "get">;
  settings: StreamSettings;
  metrics: StreamMetrics;
  log: Logger;
  /** Period of the device check (sessions end when their device stops or is deleted). */
  deviceCheckMs?: number;
}

/**
 * Live streams of this host's devices (S1–S3): `device.stream.offer` / `device.stream.close`, one DeviceStream per
 * streamed device, sessions ended when their device stops or is deleted and on agent shutdown.
 */
export class StreamManager {
  private readonly streams = new Map<string, DeviceStream>();
  private checkTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly d: StreamManagerDeps) {}

  get streamCount(): number {
    return this.streams.size;
  }

  viewerCount(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.viewerCount;
    return n;
  }

  async offer(p: RpcParams<"device.stream.offer">, ctx: RpcContext): Promise<RpcResult<"device.stream.offer">> {
    if (this.closed) throw new RpcFailure("failed", "the agent is shutting down");
    if (!ctx.serial || ctx.device.state !== "running" || deviceEndsSession(ctx.device)) {
      throw new RpcFailure("device_not_ready", `device ${ctx.deviceId} is ${ctx.device.state}; streaming needs it running`);
    }
    for (const s of this.streams.values()) if (s.hasSession(p.sessionId)) throw new RpcFailure("conflict", `session ${p.sessionId} exists`);
    let stream = this.streams.get(ctx.deviceId);
    if (!stream) {
      const deviceId = ctx.deviceId;
      const created: DeviceStream = new DeviceStream({
        deviceId,
        serial: ctx.serial,
        adb: this.d.adb,
        settings: this.d.settings,
        metrics: this.d.metrics,
        log: this.d.log,
        onIdle: () => {
          if (this.streams.get(deviceId) === created) this.streams.delete(deviceId);
        },
      });
      stream = created;
      this.streams.set(deviceId, stream);
    }
    const r = await stream.offer(p.sessionId, p.userId, p.sdp, p.iceServers, ctx.signal);
    return { sessionId: p.sessionId, sdp: r.sdp, control: r.control };
  }

  close(sessionId: string, deviceId: string): boolean {
    const s = this.streams.get(deviceId);
    return s ? s.removeViewer(sessionId, "closed") : false;
  }

  closeDevice(deviceId: string, reason: string): void {
    this.streams.get(deviceId)?.close(reason);
  }

  /** Watches devices: a stopped or deleted device ends its stream. */
  start(): void {
    this.checkTimer = setInterval(() => {
      for (const id of [...this.streams.keys()]) {
        if (deviceEndsSession(this.d.repo.get(id))) this.closeDevice(id, "device_stopped");
      }
    }, this.d.deviceCheckMs ?? 1000);
    this.checkTimer.unref();
  }

  closeAll(): void {
    this.closed = true;
    if (this.checkTimer) clearInterval(this.checkTimer);
    for (const id of [...this.streams.keys()]) this.closeDevice(id, "agent_shutdown");
  }
}
