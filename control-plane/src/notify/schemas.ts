import { z } from "zod";

/** HTTP shapes of the notification API (query schemas validate input; response schemas document output). */

export const NotificationEvent = z.object({
  seq: z.number().int().positive().describe("outbox sequence: increasing in commit order; the SSE `id:`"),
  id: z.string().describe("event id (also the MQTT envelope id)"),
  name: z.string().describe("{domain}.{action}, e.g. order.completed"),
  userId: z.string().nullable(),
  deviceId: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  requestId: z.string().nullable().describe("the HTTP request that caused it, if any"),
  createdAt: z.number().int(),
});

const AllFlag = z.enum(["true", "false"]).default("false").describe("admins only: every user's events");
const Seq = z.coerce.number({ error: "must be a number" }).int("must be an integer").min(0, "must be >= 0").max(Number.MAX_SAFE_INTEGER);

export const NotificationsQuery = z.object({
  since: Seq.optional().describe("only events with seq > since (oldest first); absent: the newest `limit` events"),
  limit: z.coerce.number({ error: "must be a number" }).int("must be an integer").min(1).max(1000).default(100),
  all: AllFlag,
});

export const NotificationStreamQuery = z.object({
  since: Seq.optional().describe("replay events with seq > since first (Last-Event-ID header wins)"),
  all: AllFlag,
  access_token: z.string().optional().describe("for EventSource, which cannot send headers (GET with Accept: text/event-stream only)"),
});

export const LastEventId = Seq;

export const NotificationList = z.object({
  events: z.array(NotificationEvent),
  nextSince: z.number().int().describe("pass as `since` to get the events after these"),
});

export const PlatformOutboxStatsResponse = z.object({
  pending: z.number().int(),
  published: z.number().int(),
  failed: z.number().int(),
  oldestPendingAgeMs: z.number().int(),
  attemptsTotal: z.number().int(),
});
