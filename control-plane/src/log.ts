import { AsyncLocalStorage } from "node:async_hooks";
import { pino, type DestinationStream, type Logger } from "pino";

/** What every log line written while handling one request carries automatically. */
export interface LogContext {
  requestId: string;
}

const context = new AsyncLocalStorage<LogContext>();

/** Runs `fn` (and everything it awaits or schedules) with `ctx` attached to every log line it writes. */
export function runWithLogContext<T>(ctx: LogContext, fn: () => T): T {
  return context.run(ctx, fn);
}

/** The request id of the request being handled, if any. */
export function currentRequestId(): string | undefined {
  return context.getStore()?.requestId;
}

/** Keys whose values never reach the log, at the top level and one level deep (second line of defence). */
export const REDACTED_KEYS = [
  "password",
  "currentPassword",
  "newPassword",
  "accessToken",
  "refreshToken",
  "token",
  "secret",
  "jwtSecret",
  "adminToken",
  "authorization",
  "mqttPassword",
  "bootstrapAdminPassword",
] as const;

export const REDACT_PATHS: readonly string[] = [
  ...REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
  "headers.authorization",
  "*.headers.authorization",
];

/**
 * JSON logs to stdout (or `destination`, for tests). Secrets are never passed to the logger on purpose; redaction is
 * a second line of defence. A `requestId` field is added to every line written inside `runWithLogContext` (the HTTP
 * request-context middleware runs each request in it); a `requestId` given explicitly in the line wins.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: "control-plane" },
    redact: { paths: [...REDACT_PATHS], censor: "[redacted]" },
    mixin: (): Record<string, unknown> => {
      const ctx = context.getStore();
      return ctx ? { requestId: ctx.requestId } : {};
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
