import { createReadStream } from "node:fs";
import type { RpcHandlers } from "../rpc/types.js";
import type { RecordingManager } from "./manager.js";

/** RPC handlers of `device.recording.*` (A3), for the agent's handler registry. */
export function recordingHandlers(m: RecordingManager): Pick<RpcHandlers, "device.recording.start" | "device.recording.stop" | "device.recording.list" | "device.recording.download"> {
  return {
    "device.recording.start": (p, ctx) => m.start(ctx.deviceId, p),
    "device.recording.stop": (p, ctx) => m.stop(ctx.deviceId, p.recordingId),
    "device.recording.list": (_p, ctx) => Promise.resolve({ recordings: m.list(ctx.deviceId) }),
    "device.recording.download": async (p, ctx) => {
      const f = m.file(ctx.deviceId, p.recordingId);
      const bytes = await ctx.tunnels.upload(p.tunnel, createReadStream(f.path), ctx.signal, { contentType: "video/mp4", size: f.size });
      return { bytes };
    },
  };
}
