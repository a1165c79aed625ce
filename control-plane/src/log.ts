import { pino, type Logger } from "pino";

/** JSON logs to stdout. Secrets are never passed to the logger; the redaction is a second line of defence. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "control-plane" },
    redact: { paths: ["password", "token", "adminToken", "*.password", "*.token", "headers.authorization"], censor: "[redacted]" },
  });
}
