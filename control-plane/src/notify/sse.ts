import type { Context } from "hono";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import { listPlatformEvents, toDelivered } from "../platform/outbox.js";
import { visibleTo } from "./filter.js";
import type { DeliveredEvent, Notifier } from "./notifier.js";

export interface StreamOptions {
  /** Comment line sent when nothing else was written for this long (keeps proxies from closing the stream). */
  heartbeatMs: number;
  /** At most this many missed events are replayed on (re)connect: the newest ones. */
  replayLimit: number;
  /** Live events buffered for a client that does not read; beyond it the stream is closed (the client resumes). */
  maxQueue: number;
  /** EventSource reconnection delay announced to clients (ms). */
  retryMs: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = { heartbeatMs: 15_000, replayLimit: 1000, maxQueue: 1000, retryMs: 3000 };

export interface StreamRequest {
  viewer: { userId: string; all: boolean };
  /** Replay events with seq > since before going live; null: live only. */
  since: number | null;
}

const writeEvent = (stream: SSEStreamingApi, e: DeliveredEvent) => stream.writeSSE({ id: String(e.seq), data: JSON.stringify(e) });

/**
 * One notification stream. Order of operations makes replay and live delivery gap-free: subscribe first (buffering),
 * then read the missed rows from `platform_outbox`, then drain the buffer; anything already sent (seq <= last sent)
 * is skipped, so an event seen both in the table and live is written once.
 */
export function notificationStream(c: Context, deps: { db: Db; notifier: Notifier; log: Logger }, req: StreamRequest, opts: StreamOptions): Response {
  return streamSSE(c, async (stream) => {
    const queue: DeliveredEvent[] = [];
    let overflow = false;
    let wakeUp: (() => void) | null = null;
    const poke = () => {
      const w = wakeUp;
      wakeUp = null;
      w?.();
    };
    const unsubscribe = deps.notifier.subscribe((e) => {
      if (!visibleTo(e, req.viewer) || overflow) return; // after a drop, nothing newer may be sent (no gaps)
      if (queue.length >= opts.maxQueue) overflow = true;
      else queue.push(e);
      poke();
    });
    stream.onAbort(poke);
    let lastSent = req.since ?? 0;
    try {
      await stream.write(`retry: ${opts.retryMs}\n: connected\n\n`);
      if (req.since !== null) {
        const rows = listPlatformEvents(deps.db, { userId: req.viewer.all ? null : req.viewer.userId, since: req.since, limit: opts.replayLimit + 1 }, "newest");
        if (rows.length > opts.replayLimit) {
          rows.shift();
          // Older missed events exist beyond the bound: say so, so that the client can page them with GET /api/notifications.
          await stream.writeSSE({ event: "truncated", data: JSON.stringify({ since: req.since, firstSeq: rows[0]!.seq }) });
        }
        for (const r of rows) {
          if (stream.aborted) break;
          await writeEvent(stream, toDelivered(r));
          lastSent = r.seq;
        }
      }
      while (!stream.aborted && !stream.closed) {
        for (const e of queue.splice(0)) {
          if (e.seq <= lastSent) continue;
          await writeEvent(stream, e);
          lastSent = e.seq;
          if (stream.aborted) break;
        }
        if (overflow) {
          // Events after lastSent were dropped: the client reconnects with Last-Event-ID and replays them from the table.
          await stream.writeSSE({ event: "overflow", data: JSON.stringify({ lastSeq: lastSent }) });
          break;
        }
        if (queue.length > 0 || overflow || stream.aborted) continue;
        const idle = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => {
            wakeUp = null;
            resolve(true);
          }, opts.heartbeatMs);
          wakeUp = () => {
            clearTimeout(t);
            resolve(false);
          };
        });
        if (idle && !stream.aborted) await stream.write(": heartbeat\n\n");
      }
    } catch (e) {
      deps.log.warn({ err: e }, "notification stream failed");
    } finally {
      unsubscribe();
      poke();
    }
  });
}
