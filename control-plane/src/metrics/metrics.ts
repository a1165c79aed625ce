import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Db } from "../store/db.js";
import type { InboxStats } from "../inbox/stats.js";
import type { Notifier } from "../notify/notifier.js";
import { registerStoreCollectors } from "./collectors.js";

export interface MetricsSources {
  db: Db;
  /** In-process inbox counters (`inbox.stats`). */
  inboxStats?: InboxStats;
  notifier?: Notifier;
}

export interface MetricsOptions {
  /** Node.js process metrics (CPU, memory, event loop lag, GC). On in the process; off by default in unit tests. */
  processMetrics?: boolean;
}

const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * The control plane's Prometheus metrics, in a registry of its own (never prom-client's global one, so that several
 * instances can live in one process, as in tests). Request metrics are recorded as they happen; everything about
 * stored state (sagas, ledger, outbox, hosts, devices, users, …) is read from SQLite at scrape time with cheap
 * aggregate queries, so it is exact after a restart and costs nothing between scrapes.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly httpDuration: Histogram<"method" | "route" | "status">;
  private readonly relayOutcomes: Counter<"outcome">;

  constructor(sources: MetricsSources, options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.httpDuration = new Histogram({
      name: "cloudphone_http_request_duration_seconds",
      help: "HTTP request duration until the response headers, by method, route pattern (never the raw path) and status.",
      labelNames: ["method", "route", "status"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.relayOutcomes = new Counter({
      name: "cloudphone_platform_relay_publish_total",
      help: "Platform event publish attempts by the outbox relay, by outcome (published, retry, failed).",
      labelNames: ["outcome"],
      registers,
    });
    for (const outcome of ["published", "retry", "failed"]) this.relayOutcomes.inc({ outcome }, 0);
    registerStoreCollectors(this.registry, sources);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Records one HTTP request; `route` is the matched route pattern (e.g. `/api/devices/:id`) or `unmatched`. */
  observeHttp(method: string, route: string, status: number, seconds: number): void {
    const m = HTTP_METHODS.has(method) ? method : "OTHER";
    this.httpDuration.observe({ method: m, route, status: String(status) }, seconds);
  }

  countRelay(outcome: "published" | "retry" | "failed", n = 1): void {
    this.relayOutcomes.inc({ outcome }, n);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
