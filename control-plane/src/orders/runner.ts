import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import type { CommandPublisher } from "../devices/publisher.js";
import type { Ledger } from "../billing/ledger.js";
import type { Metrics } from "../metrics/metrics.js";
import type { Service } from "../platform/service.js";

export interface SagaDeps {
  db: Db;
  log: Logger;
  config: Config;
  ledger: Ledger;
  publisher: CommandPublisher;
  metrics: Metrics;
}

// STUB (owned by the orders/saga helper): resumes and drives purchase sagas.
export function createSagaRunner(_deps: SagaDeps): Service {
  return { start() {}, stop: async () => {} };
}
