import { pino, type Logger } from "pino";

export type { Logger };

/** JSON lines to stdout; secrets are never passed to the logger, and these paths are redacted as a second guard. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "cloudphone-agent" },
    redact: { paths: ["password", "*.password", "token", "*.token", "mqtt.password"], censor: "[redacted]" },
  });
}
