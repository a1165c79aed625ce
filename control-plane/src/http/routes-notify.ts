import type { Context } from "hono";
import { requireAdmin, requireScope } from "../auth/principal.js";
import { LastEventId, NotificationStreamQuery, NotificationsQuery } from "../notify/schemas.js";
import { DEFAULT_STREAM_OPTIONS, notificationStream, type StreamOptions } from "../notify/sse.js";
import { listPlatformEvents, platformOutboxStats, toDelivered } from "../platform/outbox.js";
import type { App, AppDeps } from "./app.js";
import { ApiError } from "./errors.js";
import { validate } from "./validate.js";

/** Who is asking and whether they may (and want to) see every user's events. */
function viewerOf(c: Context, all: "true" | "false"): { userId: string; all: boolean } {
  const p = requireScope(c, "account:read");
  if (all === "true") requireAdmin(c);
  return { userId: p.userId, all: all === "true" };
}

/**
 * Live notifications of platform events (M1 outbox → users): an SSE stream and a JSON list for clients without SSE.
 * A user sees the events whose `userId` is theirs; an admin sees every event with `?all=true`.
 */
export function registerNotificationRoutes(app: App, deps: AppDeps, options: Partial<StreamOptions> = {}): void {
  const opts = { ...DEFAULT_STREAM_OPTIONS, ...options };

  app.get("/api/notifications/stream", (c) => {
    const q = validate(NotificationStreamQuery, c.req.query(), "query");
    const viewer = viewerOf(c, q.all);
    const header = c.req.header("last-event-id");
    let since: number | null = q.since ?? null;
    if (header !== undefined && header.trim() !== "") {
      const r = LastEventId.safeParse(header.trim());
      if (!r.success) {
        const message = "must be the seq of the last event received (a non-negative integer)";
        throw new ApiError(400, "invalid_request", `header Last-Event-ID: ${message}`, [{ path: "headers.last-event-id", message }]);
      }
      since = r.data;
    }
    return notificationStream(c, deps, { viewer, since }, opts);
  });

  app.get("/api/notifications", (c) => {
    const q = validate(NotificationsQuery, c.req.query(), "query");
    const viewer = viewerOf(c, q.all);
    const rows = listPlatformEvents(deps.db, { userId: viewer.all ? null : viewer.userId, since: q.since ?? null, limit: q.limit });
    const events = rows.map(toDelivered);
    return c.json({ events, nextSince: events.at(-1)?.seq ?? q.since ?? 0 });
  });

  app.get("/api/platform/outbox/stats", (c) => {
    requireAdmin(c);
    return c.json(platformOutboxStats(deps.db));
  });
}
