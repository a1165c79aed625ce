import { AgentMessage, ViewerMessage, type AgentMessage as AgentMessageT } from "@cloudphone/shared-protocol";
import type { ViewerPeer } from "../webrtc/peer.js";
import { Heartbeat } from "./heartbeat.js";
import { MinInterval, TokenBucket } from "./rate-limiter.js";

/** One viewer of a device: its peer, heartbeat, input budget and the statistics window. */
export class ViewerSession {
  readonly heartbeat: Heartbeat;
  readonly bucket: TokenBucket;
  /** Error replies are themselves limited (a flooding viewer gets one error a second, not one per message). */
  readonly errorLimiter = new MinInterval(1000);
  sample = { at: Date.now(), frames: 0, bytes: 0, retransmitted: 0 };

  constructor(
    readonly sessionId: string,
    readonly userId: string,
    readonly peer: ViewerPeer,
    opts: { inputRatePerSecond: number; heartbeatTimeoutMs: number; firstPingTimeoutMs: number; onHeartbeatLost: () => void },
  ) {
    this.bucket = new TokenBucket(opts.inputRatePerSecond, opts.inputRatePerSecond, Date.now());
    this.heartbeat = new Heartbeat({ timeoutMs: opts.heartbeatTimeoutMs, firstTimeoutMs: opts.firstPingTimeoutMs, onExpire: opts.onHeartbeatLost });
  }

  send(msg: AgentMessageT): void {
    this.peer.send(AgentMessage.parse(msg));
  }

  error(code: "view_only" | "rate_limited" | "invalid", message: string): void {
    if (this.errorLimiter.tryNow(Date.now())) this.send({ t: "error", code, message: message.slice(0, 500) });
  }

  close(): void {
    this.heartbeat.stop();
    this.peer.close();
  }
}

/** Parses a data-channel text into a ViewerMessage, or the reason it is refused (for an `invalid` error). */
export function parseViewerMessage(text: string): { ok: true; msg: ViewerMessage } | { ok: false; reason: string } {
  if (text.length > 200_000) return { ok: false, reason: "message too large" };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  const r = ViewerMessage.safeParse(raw);
  if (r.success) return { ok: true, msg: r.data };
  return { ok: false, reason: r.error.issues.map((i) => `${i.path.map(String).join(".") || "(message)"}: ${i.message}`).join("; ") };
}
