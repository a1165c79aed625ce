import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import type { CommandPublisher } from "../devices/publisher.js";
import type { Metrics } from "../metrics/metrics.js";
import type { Service } from "../platform/service.js";
import type { Ledger } from "./ledger.js";

export interface BillingDeps {
  db: Db;
  log: Logger;
  config: Config;
  ledger: Ledger;
  publisher: CommandPublisher;
  metrics: Metrics;
}

// STUB (owned by the billing helper): usage charging, zero-balance suspension and resumption.
export function createBillingService(_deps: BillingDeps): Service {
  return { start() {}, stop: async () => {} };
}
