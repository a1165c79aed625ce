import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import type { CommandPublisher } from "../devices/publisher.js";
import type { Metrics } from "../metrics/metrics.js";
import type { Service } from "../platform/service.js";
import type { Ledger } from "./ledger.js";
import { UsageCharger } from "./charging.js";
import { applyFundsPolicy, ownersNeedingAction } from "./funds.js";

export interface BillingDeps {
  db: Db;
  log: Logger;
  config: Config;
  ledger: Ledger;
  publisher: CommandPublisher;
  metrics: Metrics;
}

export interface TickResult {
  charged: number;
  /** Records of devices whose purchase is still pending, left for a later tick. */
  deferred: number;
  chargedMinor: number;
  failed: number;
  suspendedDevices: number;
  resumedDevices: number;
}

/** Records per batch; the loop yields to the event loop between batches so MQTT ingest and HTTP stay responsive. */
const BATCH = 200;
/** At most this many records per tick; the rest wait for the next tick. */
const MAX_PER_TICK = 20_000;

/**
 * Usage charging and the zero-balance policy (B3), every `billingIntervalMs`: first charge the uncharged usage
 * records (one transaction each), then suspend or resume metered devices by their owners' funds.
 */
export function createBillingService(deps: BillingDeps): Service & { tick(now?: number): Promise<TickResult> } {
  const { db, log, config, publisher } = deps;
  const charger = new UsageCharger(db, deps.ledger);
  const graceMs = config.zeroBalanceGraceSeconds * 1000;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<TickResult> | null = null;
  let stopped = false;

  async function runTick(now?: number): Promise<TickResult> {
    const result: TickResult = { charged: 0, deferred: 0, chargedMinor: 0, failed: 0, suspendedDevices: 0, resumedDevices: 0 };
    let cursor: { receivedAt: number; recordId: string } | undefined;
    for (let done = 0; done < MAX_PER_TICK && !stopped; ) {
      const b = charger.chargeBatch(BATCH, cursor, now ?? Date.now());
      cursor = b.cursor;
      done += b.outcomes.length + b.failures.length;
      for (const o of b.outcomes) {
        if (o.status === "charged" || o.status === "free") result.charged++;
        if (o.status === "deferred") result.deferred++;
        result.chargedMinor += o.chargeMinor;
      }
      for (const f of b.failures) log.error({ err: f.error, recordId: f.recordId }, "usage record could not be charged; retried next tick");
      result.failed += b.failures.length;
      if (!b.more) break;
      await new Promise((r) => setImmediate(r));
    }
    const t = now ?? Date.now();
    const commandIds: string[] = [];
    for (const userId of ownersNeedingAction(db, t, graceMs)) {
      if (stopped) break;
      try {
        const pass = applyFundsPolicy(db, userId, t, graceMs);
        for (const s of pass.suspended) {
          result.suspendedDevices += s.deviceIds.length;
          log.info({ userId, deviceIds: s.deviceIds }, "devices suspended: funds exhausted past the grace period");
        }
        for (const s of pass.resumed) {
          result.resumedDevices += s.deviceIds.length;
          log.info({ userId, deviceIds: s.deviceIds }, "devices resumed: funds restored");
        }
        commandIds.push(...pass.commandIds);
      } catch (e) {
        log.error({ err: e, userId }, "zero-balance policy failed for user; retried next tick");
      }
    }
    // Committed commands stay pending until their host answers; the publisher's resend loop covers a failed send.
    await Promise.all(commandIds.map((id) => publisher.publishNow(id).catch((e: unknown) => log.warn({ err: e, commandId: id }, "immediate command publish failed"))));
    if (result.charged > 0 || result.failed > 0) log.debug(result, "billing tick");
    return result;
  }

  function tick(now?: number): Promise<TickResult> {
    // One tick at a time: a slow tick delays the next instead of overlapping it.
    inFlight ??= runTick(now).finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  return {
    tick,
    start() {
      if (timer) return;
      stopped = false;
      timer = setInterval(() => {
        tick().catch((e: unknown) => log.error({ err: e }, "billing tick failed"));
      }, config.billingIntervalMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      await inFlight?.catch(() => undefined);
    },
  };
}
