import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import type { Bus } from "../mqtt/bus.js";
import type { Notifier } from "../notify/notifier.js";
import type { Metrics } from "../metrics/metrics.js";
import type { Service } from "./service.js";

export interface RelayDeps {
  db: Db;
  log: Logger;
  bus: () => Bus | null;
  notifier: Notifier;
  metrics: Metrics;
}

// STUB (owned by the platform/notifications helper): publishes platform_outbox rows to MQTT and live subscribers.
export function createPlatformRelay(_deps: RelayDeps): Service {
  return { start() {}, stop: async () => {} };
}
