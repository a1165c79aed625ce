import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";

// STUB (owned by the users/auth helper): makes sure the bootstrap admin account exists; returns its user id.
export function ensureBootstrapAdmin(_db: Db, _config: Config, _log: Logger): string {
  return "bootstrap-admin";
}
