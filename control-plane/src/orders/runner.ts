import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import type { CommandPublisher } from "../devices/publisher.js";
import type { Ledger } from "../billing/ledger.js";
import type { Metrics } from "../metrics/metrics.js";
import type { Service } from "../platform/service.js";
import { SagaEngine } from "./engine.js";
import { dueSagaIds, openSagaCount } from "./store.js";

export interface SagaDeps {
  db: Db;
  log: Logger;
  config: Config;
  ledger: Ledger;
  publisher: CommandPublisher;
  metrics: Metrics;
  /** Tick period; 200 ms by default. */
  tickMs?: number;
}

export interface SagaRunner extends Service {
  /** One pass over the due sagas; resolves when every saga it started has stopped advancing. */
  tick(): Promise<void>;
}

/** Sagas looked at per tick; the rest are due on the next one. */
const BATCH = 500;

/**
 * Drives purchase sagas in the background (B2): every tick (and at once when kicked) each open saga whose
 * `next_attempt_at` is due is advanced by the same engine the request uses. On start it resumes every open saga,
 * which is the whole of crash recovery: the saga's persisted step says what is left to do.
 */
export function createSagaRunner(deps: SagaDeps): SagaRunner {
  const engine = new SagaEngine(deps);
  const { inFlight } = engine.coordination;
  const tickMs = deps.tickMs ?? 200;
  const drives = new Set<Promise<unknown>>();
  let abort = new AbortController();
  let timer: NodeJS.Timeout | null = null;
  let unsubscribe: (() => void) | null = null;
  let ticking: Promise<void> | null = null;
  let again = false;
  let stopped = true;

  const pass = async (): Promise<void> => {
    const started: Promise<unknown>[] = [];
    for (const id of dueSagaIds(deps.db, Date.now(), BATCH)) {
      if (inFlight.has(id)) continue;
      const p = engine.drive(id, { signal: abort.signal }).catch((err: unknown) => {
        if (!abort.signal.aborted) deps.log.error({ err, sagaId: id }, "saga drive failed; will retry on a later tick");
      });
      drives.add(p);
      void p.finally(() => drives.delete(p));
      started.push(p);
    }
    await Promise.all(started);
  };

  const tick = (): Promise<void> => {
    if (ticking) {
      again = true; // coalesce kicks that arrive during a pass into one more pass
      return ticking;
    }
    ticking = (async () => {
      try {
        do {
          again = false;
          if (!deps.db.open) return;
          await pass();
        } while (again && !stopped);
      } catch (err) {
        deps.log.error({ err }, "saga runner tick failed");
      } finally {
        ticking = null;
      }
    })();
    return ticking;
  };

  return {
    tick,
    start() {
      if (!stopped) return;
      stopped = false;
      abort = new AbortController();
      const open = openSagaCount(deps.db);
      if (open > 0) deps.log.info({ open }, "resuming open purchase sagas");
      unsubscribe = engine.coordination.onKick(() => void tick());
      timer = setInterval(() => void tick(), tickMs);
      timer.unref();
      void tick();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      unsubscribe?.();
      unsubscribe = null;
      abort.abort();
      await Promise.allSettled([...drives, ...(ticking ? [ticking] : [])]);
    },
  };
}
