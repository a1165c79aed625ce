import { MAX_PAYLOAD_BYTES, PlatformEventMessage, SCHEMA_VERSION, describeIssues, topics } from "@cloudphone/shared-protocol";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import type { Bus } from "../mqtt/bus.js";
import type { Notifier } from "../notify/notifier.js";
import type { Metrics } from "../metrics/metrics.js";
import type { Service } from "./service.js";
import { OutboxStore, platformOutboxStats, toDelivered, type OutboxRow, type OutboxStats, type PublishOutcome } from "./outbox.js";
import { backoffMs } from "./backoff.js";

export interface RelayDeps {
  db: Db;
  log: Logger;
  bus: () => Bus | null;
  notifier: Notifier;
  metrics: Metrics;
}

export interface RelayOptions {
  /** Poll period for new rows (ms): the latency of live notifications and MQTT publication. */
  intervalMs: number;
  /** Rows read (and published concurrently, in seq order on the wire) per pass. */
  batchSize: number;
  /** A publish that is not acknowledged within this time counts as failed (mqtt.js queues QoS 1 while offline). */
  publishTimeoutMs: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** Published rows older than this are deleted (M1: 7 days). */
  retentionMs: number;
  cleanupIntervalMs: number;
}

export const DEFAULT_RELAY_OPTIONS: RelayOptions = {
  intervalMs: 200,
  batchSize: 200,
  publishTimeoutMs: 10_000,
  baseBackoffMs: 500,
  maxBackoffMs: 60_000,
  retentionMs: 7 * 86_400_000,
  cleanupIntervalMs: 3_600_000,
};

export interface PlatformRelay extends Service {
  /** One pass: hand new rows to the notifier, publish due rows, clean up when due. Serialised with the timer. */
  tick(): Promise<void>;
  /** Runs a pass soon instead of at the next interval. */
  wake(): void;
  stats(): OutboxStats;
}

/**
 * The control plane's outbox relay (M1). Rows are handed to the notifier the first time they are seen (so live
 * notifications work while the broker is down), then published QoS 1 to `cloudphone/v1/platform/events/{name}` and
 * marked published only once the publish resolved (at-least-once: a crash in between re-publishes the row; consumers
 * de-duplicate on the envelope `id`). Failures keep the row pending with exponential back-off; a row that can never
 * be sent (invalid for the schema, or over the payload limit) is parked as `failed`. While there is no bus, or it is
 * not connected, rows simply wait: no attempt is counted.
 */
export function createPlatformRelay(deps: RelayDeps, options: Partial<RelayOptions> = {}): PlatformRelay {
  const opts = { ...DEFAULT_RELAY_OPTIONS, ...options };
  const { db, log, notifier, metrics } = deps;
  const store = new OutboxStore(db);
  // Rows committed before the relay existed are not pushed live: no subscriber can be waiting for them yet, and a
  // reconnecting client replays them from the table by seq.
  let notifiedSeq = Math.max(store.maxSeq(), notifier.lastSeq);
  let lastCleanup = 0;
  let timer: NodeJS.Timeout | null = null;
  let chain: Promise<void> = Promise.resolve();
  let started = false;
  let stopped = false;

  const notifyNew = (): void => {
    for (;;) {
      const rows = store.after(notifiedSeq, 500);
      for (const r of rows) notifier.publish(toDelivered(r));
      if (rows.length > 0) notifiedSeq = rows[rows.length - 1]!.seq;
      if (rows.length < 500) return;
    }
  };

  /** Publishes one batch; returns true when the batch was full (more may be due at once). */
  const publishDue = async (): Promise<boolean> => {
    const bus = deps.bus();
    if (!bus || !bus.ready()) return false;
    const now = Date.now();
    const rows = store.due(now, opts.batchSize);
    if (rows.length === 0) return false;
    // Started together so that mqtt.js writes them in seq order and waits for the PUBACKs concurrently.
    const results = await Promise.all(rows.map((r) => publishOne(bus, r)));
    const settledAt = Date.now();
    const outcomes: PublishOutcome[] = results.map((res, i) => {
      const r = rows[i]!;
      if (res.ok) return { type: "published", seq: r.seq };
      if (res.permanent) return { type: "failed", seq: r.seq, error: res.error };
      return { type: "retry", seq: r.seq, error: res.error, nextAttemptAt: settledAt + backoffMs(r.attempts + 1, opts.baseBackoffMs, opts.maxBackoffMs) };
    });
    store.settle(outcomes, settledAt);
    for (const o of outcomes) metrics.countRelay(o.type);
    const failures = outcomes.filter((o) => o.type !== "published");
    if (failures.length > 0) {
      const first = failures[0]!;
      log.warn(
        { failed: failures.length, batch: rows.length, firstSeq: first.seq, error: "error" in first ? first.error : undefined },
        "platform event publish failed; will retry with back-off",
      );
    }
    return rows.length === opts.batchSize && failures.length === 0;
  };

  const publishOne = async (bus: Bus, r: OutboxRow): Promise<{ ok: true } | { ok: false; permanent: boolean; error: string }> => {
    const body = {
      id: r.id,
      seq: r.seq,
      ts: r.created_at,
      v: SCHEMA_VERSION,
      ...(r.request_id !== null ? { requestId: r.request_id } : {}),
      name: r.name,
      userId: r.user_id,
      deviceId: r.device_id,
      data: toDelivered(r).data,
    };
    const checked = PlatformEventMessage.safeParse(body);
    if (!checked.success) return { ok: false, permanent: true, error: `invalid platform event: ${describeIssues(checked.error)}` };
    const payload = JSON.stringify(checked.data);
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      return { ok: false, permanent: true, error: `payload of ${Buffer.byteLength(payload)} bytes exceeds ${MAX_PAYLOAD_BYTES}` };
    }
    let t: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        bus.publish(topics.platformEvent(r.name), payload, { qos: 1, retain: false }),
        new Promise<never>((_, reject) => {
          t = setTimeout(() => reject(new Error(`no acknowledgement within ${opts.publishTimeoutMs} ms`)), opts.publishTimeoutMs);
        }),
      ]);
      return { ok: true };
    } catch (e) {
      return { ok: false, permanent: false, error: e instanceof Error ? e.message : String(e) };
    } finally {
      clearTimeout(t);
    }
  };

  const cleanupIfDue = (): void => {
    const now = Date.now();
    if (now - lastCleanup < opts.cleanupIntervalMs) return;
    lastCleanup = now;
    const removed = store.cleanup(now - opts.retentionMs);
    if (removed > 0) log.info({ removed }, "published platform events past retention deleted");
  };

  const pass = async (): Promise<boolean> => {
    if (!db.open) return false;
    notifyNew();
    const more = await publishDue();
    if (db.open) cleanupIfDue();
    return more;
  };

  const tick = (): Promise<void> => {
    // Serialised: a pass requested while one runs starts after it.
    const run = chain.then(async () => {
      let more = false;
      try {
        more = await pass();
      } catch (e) {
        log.error({ err: e }, "platform relay pass failed");
      }
      if (more) wake();
    });
    chain = run;
    return run;
  };

  const schedule = (delay: number): void => {
    if (!started || stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void tick().finally(() => {
        if (!timer) schedule(opts.intervalMs);
      });
    }, delay);
  };

  const wake = (): void => schedule(0);

  return {
    start() {
      if (started) return;
      started = true;
      schedule(0);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await chain;
    },
    tick,
    wake,
    stats: () => platformOutboxStats(db),
  };
}
