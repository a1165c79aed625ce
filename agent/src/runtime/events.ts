import type Docker from "dockerode";
import type { Logger } from "../log.js";
import { LABEL_DEVICE, LABEL_HOST, LABEL_MANAGED } from "./profile.js";

export interface ContainerEvent {
  action: string;
  deviceId: string;
  timeNano: number;
}

const WATCHED = ["start", "die", "oom", "health_status", "destroy", "stop"];

/** Splits newline-delimited JSON across chunk boundaries. Pure apart from its buffer. */
export class NdjsonSplitter {
  private buf = "";

  push(chunk: string): unknown[] {
    this.buf += chunk;
    const out: unknown[] = [];
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        // a corrupt line cannot be repaired; the periodic reconcile covers what it would have told us
      }
    }
    return out;
  }
}

/** Extracts our fields from one Docker event object, or null if it is not a device event of this host. */
export function toContainerEvent(raw: unknown, hostId: string): ContainerEvent | null {
  if (typeof raw !== "object" || raw === null) return null;
  const ev = raw as { Action?: unknown; status?: unknown; timeNano?: unknown; time?: unknown; Actor?: { Attributes?: Record<string, string> } };
  const attrs = ev.Actor?.Attributes ?? {};
  if (attrs[LABEL_HOST] !== hostId) return null;
  const deviceId = attrs[LABEL_DEVICE];
  const action = typeof ev.Action === "string" ? ev.Action : typeof ev.status === "string" ? ev.status : null;
  if (!deviceId || !action) return null;
  const timeNano = typeof ev.timeNano === "number" ? ev.timeNano : typeof ev.time === "number" ? ev.time * 1e9 : Date.now() * 1e6;
  return { action, deviceId, timeNano };
}

/**
 * Follows Docker's event stream for this host's containers and calls `onEvent` for each; reconnects with
 * `since` the last seen event when the stream ends (e.g. dockerd restart), so nothing is missed.
 */
export class DockerEventWatcher {
  private stream: NodeJS.ReadableStream | null = null;
  private stopped = false;
  private lastSeenSec = Math.floor(Date.now() / 1000);
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly docker: Docker,
    private readonly hostId: string,
    private readonly onEvent: (ev: ContainerEvent) => void,
    private readonly log: Logger,
    /** Called after a reconnect: events may have been missed while the stream was down. */
    private readonly onResync: () => void = () => {},
  ) {}

  start(): void {
    void this.connect(false);
  }

  private async connect(isReconnect: boolean): Promise<void> {
    if (this.stopped) return;
    try {
      const stream = await this.docker.getEvents({
        since: this.lastSeenSec,
        filters: JSON.stringify({
          type: ["container"],
          label: [`${LABEL_MANAGED}=true`, `${LABEL_HOST}=${this.hostId}`],
          event: WATCHED,
        }),
      } as Docker.GetEventsOptions);
      if (this.stopped) {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        return;
      }
      this.stream = stream;
      if (isReconnect) this.onResync();
      const splitter = new NdjsonSplitter();
      stream.on("data", (chunk: Buffer | string) => {
        for (const raw of splitter.push(chunk.toString())) {
          const ev = toContainerEvent(raw, this.hostId);
          if (!ev) continue;
          this.lastSeenSec = Math.max(this.lastSeenSec, Math.floor(ev.timeNano / 1e9));
          this.onEvent(ev);
        }
      });
      const onEnd = () => {
        if (this.stream !== stream) return;
        this.stream = null;
        this.scheduleReconnect();
      };
      stream.on("end", onEnd);
      stream.on("close", onEnd);
      stream.on("error", (err: Error) => {
        this.log.warn({ err: err.message }, "docker event stream error");
        onEnd();
      });
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "cannot follow docker events; retrying");
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect(true);
    }, 1000);
    this.retryTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const s = this.stream as unknown as { destroy?: () => void } | null;
    this.stream = null;
    s?.destroy?.();
  }
}
