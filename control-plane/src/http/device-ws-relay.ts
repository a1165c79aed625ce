import type { Logger } from "pino";
import type WebSocket from "ws";

/**
 * Pipes a browser's WebSocket to the agent's duplex tunnel and back (shell, logcat), frame by frame with their
 * type (binary/text) kept, with close propagation and bounded buffering:
 *
 * - each direction pauses its source while the other side has more than `highWaterBytes` unsent, and resumes once
 *   that is below half; so a slow browser slows the agent's socket (whose session then pauses the device or drops
 *   log lines) instead of growing the control plane's memory;
 * - input the browser sends before the agent's session runs is kept up to `highWaterBytes`, beyond that the
 *   browser is closed (1009);
 * - a close on one side closes the other with the same code and reason (codes that cannot be sent map to 1000/1011).
 */

export interface RelayOptions {
  highWaterBytes: number;
  log: Logger;
  /** For logs. */
  what: string;
}

type Frame = { data: Buffer | string; binary: boolean };

/** The close code to forward: 1005 (none given) → 1000, 1006 and other unsendable codes → 1011. */
export function forwardableCloseCode(code: number): number {
  if (code === 1005) return 1000;
  const sendable = (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
  return sendable ? code : 1011;
}

const AGENT_CLOSE_GRACE_MS = 5000;

export class SocketRelay {
  private agent: WebSocket | null = null;
  /** The agent's session is listening: browser input may go to it (until then it is kept). */
  private started = false;
  private pending: Frame[] = [];
  private pendingBytes = 0;
  private browserGone = false;
  private agentGone = false;
  private browserPaused = false;
  private agentPaused = false;

  constructor(
    private readonly browser: WebSocket,
    private readonly o: RelayOptions,
  ) {}

  get closed(): boolean {
    return this.browserGone || this.agentGone;
  }

  /** A message from the browser (node-ws hands text as string and binary as ArrayBuffer). */
  fromBrowser(data: string | ArrayBuffer | Buffer): void {
    if (this.closed) return;
    const frame: Frame = typeof data === "string" ? { data, binary: false } : { data: Buffer.isBuffer(data) ? data : Buffer.from(data), binary: true };
    if (!this.agent || !this.started) {
      this.pendingBytes += typeof frame.data === "string" ? Buffer.byteLength(frame.data) : frame.data.length;
      if (this.pendingBytes > this.o.highWaterBytes) {
        this.closeBrowser(1009, "too much input before the device answered");
        return;
      }
      this.pending.push(frame);
      return;
    }
    this.toAgent(frame);
  }

  /** The browser closed: the agent's socket is closed too (which ends the session on the device). */
  browserClosed(): void {
    if (this.browserGone) return;
    this.browserGone = true;
    this.pending = [];
    if (this.agent) this.closeAgent();
  }

  /**
   * The agent's tunnel connected: its frames go to the browser from now on (a short session may send all it has
   * and close before the RPC answer arrives). Browser input waits for `start()`: the agent's session attaches its
   * listener only after the tunnel opened, and frames arriving before would be lost.
   */
  attachAgent(agent: WebSocket): void {
    this.agent = agent;
    if (this.browserGone) {
      this.closeAgent();
      return;
    }
    if (agent.readyState !== agent.OPEN) {
      this.closeBrowser(1011, "the device session ended before it was relayed");
      return;
    }
    agent.on("message", (data: WebSocket.RawData, isBinary: boolean) => this.toBrowser(data, isBinary));
    agent.on("close", (code: number, reason: Buffer) => {
      this.agentGone = true;
      this.closeBrowser(forwardableCloseCode(code), reason.toString("utf8"));
    });
    agent.on("error", (e: Error) => this.o.log.debug({ what: this.o.what, err: e.message }, "agent tunnel error"));
  }

  /** The agent answered that its session runs: flush what the browser sent meanwhile, then relay both ways. */
  start(): void {
    if (!this.agent || this.started || this.closed) return;
    this.started = true;
    const queued = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const f of queued) this.toAgent(f);
  }

  /** Ends the relay before (or instead of) an agent connection, telling the browser why. */
  fail(code: number, reason: string, message?: string): void {
    if (message !== undefined && this.browser.readyState === this.browser.OPEN) this.browser.send(message);
    this.closeBrowser(code, reason);
    if (this.agent) this.closeAgent();
  }

  private toAgent(f: Frame): void {
    const agent = this.agent!;
    if (agent.readyState !== agent.OPEN) return;
    agent.send(f.data, { binary: f.binary }, () => {
      if (this.browserPaused && agent.bufferedAmount <= this.o.highWaterBytes / 2) {
        this.browserPaused = false;
        this.browser.resume();
      }
    });
    if (!this.browserPaused && agent.bufferedAmount > this.o.highWaterBytes) {
      this.browserPaused = true;
      this.browser.pause();
    }
  }

  private toBrowser(data: WebSocket.RawData, isBinary: boolean): void {
    const b = this.browser;
    if (b.readyState !== b.OPEN) return;
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    b.send(isBinary ? bytes : bytes.toString("utf8"), { binary: isBinary }, () => {
      if (this.agentPaused && b.bufferedAmount <= this.o.highWaterBytes / 2) {
        this.agentPaused = false;
        this.agent?.resume();
      }
    });
    if (!this.agentPaused && b.bufferedAmount > this.o.highWaterBytes) {
      this.agentPaused = true;
      this.agent?.pause();
    }
  }

  private closeBrowser(code: number, reason: string): void {
    this.browserGone = true;
    const b = this.browser;
    if (b.readyState === b.OPEN || b.readyState === b.CONNECTING) b.close(code, reason);
  }

  private closeAgent(): void {
    const a = this.agent;
    if (!a || a.readyState === a.CLOSED) return;
    if (a.readyState === a.OPEN) a.close(1000, "the viewer closed");
    // An agent that does not complete the closing handshake is cut off.
    const t = setTimeout(() => a.terminate(), AGENT_CLOSE_GRACE_MS);
    t.unref();
    a.once("close", () => clearTimeout(t));
  }
}
