import type { Hono } from "hono";
import type { AgentConfig } from "../../config/schema.js";
import type { DeviceRepo } from "../../devices/repo.js";
import type { Logger } from "../../log.js";
import type { RpcHandlers } from "../../rpc/types.js";
import { RpcFailure } from "../../rpc/types.js";
import type { CaptureAdb } from "../capture/device-io.js";
import { StreamMetrics } from "../webrtc/metrics.js";
import { StreamManager } from "./manager.js";
import type { StreamSettings } from "./settings.js";

export interface StreamingDeps {
  config: AgentConfig;
  repo: DeviceRepo;
  adbClient: CaptureAdb | null;
  log: Logger;
}

export function streamSettings(config: AgentConfig): StreamSettings {
  const s = config.stream;
  const range = s.rtpPortRange ? s.rtpPortRange.split("-").map(Number) : null;
  return {
    source: s.source,
    scrcpyServerPath: s.scrcpyServerPath,
    scrcpyVersion: s.scrcpyVersion,
    maxSize: s.maxSize,
    maxFps: s.maxFps,
    bitRate: s.bitRate,
    inputRatePerSecond: s.inputRatePerSecond,
    additionalHostAddresses: s.additionalHostAddresses,
    portRange: range ? [range[0]!, range[1]!] : undefined,
    directRtp: s.directRtp,
    heartbeatTimeoutMs: s.heartbeatTimeoutMs,
    firstPingTimeoutMs: 15_000,
    gatherTimeoutMs: 3_000,
    startTimeoutMs: 10_000,
    commandTimeoutMs: config.adb.commandTimeoutMs,
    keyframeMinIntervalMs: 500,
    screenrecordRestartMs: 170_000,
    statsIntervalMs: 2_000,
  };
}

/**
 * Live streaming for the composition root: the `device.stream.*` RPC handlers, the `/metrics` route of the local
 * API, and start/close for the agent's lifecycle.
 */
export function createStreaming(d: StreamingDeps): { handlers: RpcHandlers; registerRoutes(app: Hono): void; start(): void; close(): void; manager: StreamManager | null } {
  const metrics = new StreamMetrics();
  const registerRoutes = (app: Hono) => {
    app.get("/metrics", async (c) => c.body(await metrics.registry.metrics(), 200, { "content-type": metrics.registry.contentType }));
  };
  if (!d.adbClient) {
    const off = (): never => {
      throw new RpcFailure("device_not_ready", "streaming needs the adb layer (adb.enabled=false on this host)");
    };
    return { handlers: { "device.stream.offer": async () => off(), "device.stream.close": async () => ({ closed: false }) }, registerRoutes, start: () => undefined, close: () => undefined, manager: null };
  }
  const manager = new StreamManager({ adb: d.adbClient, repo: d.repo, settings: streamSettings(d.config), metrics, log: d.log });
  return {
    manager,
    handlers: {
      "device.stream.offer": (p, ctx) => manager.offer(p, ctx),
      "device.stream.close": async (p, ctx) => ({ closed: manager.close(p.sessionId, ctx.deviceId) }),
    },
    registerRoutes,
    start: () => manager.start(),
    close: () => manager.closeAll(),
  };
}
