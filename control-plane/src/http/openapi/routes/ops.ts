import { z } from "zod";
import { CreateEnrollmentTokenRequest, EnrollRequest, EnrollResponse, MqttCredentialRequest } from "@cloudphone/shared-protocol";
import { NotificationList, NotificationStreamQuery, NotificationsQuery, PlatformOutboxStatsResponse } from "../../../notify/schemas.js";
import { err, type RouteDoc } from "../types.js";
import { EventsQuery, LimitQuery } from "./local-schemas.js";

const Check = z.object({ ok: z.boolean(), detail: z.string() });

/** Operations, hosts and enrollment, notifications, metrics and this document. */
export const OPS_ROUTES: readonly RouteDoc[] = [
  {
    method: "get", path: "/health", tag: "operations", auth: "none", summary: "Liveness: the process answers HTTP",
    response: { status: 200, description: "alive", schema: z.object({ status: z.literal("ok") }) },
  },
  {
    method: "get", path: "/ready", tag: "operations", auth: "none", summary: "Readiness with per-check detail (database, broker)",
    response: { status: 200, description: "ready", schema: z.object({ status: z.enum(["ready", "not_ready"]), checks: z.object({ database: Check, broker: Check }) }) },
    alsoSucceeds: [{ status: 503, description: "not ready: same body with status `not_ready`" }],
  },
  {
    method: "get", path: "/metrics", tag: "operations", auth: "none", summary: "Prometheus metrics (text exposition format)",
    description: "Aggregate counts only; keep the port private or deny /metrics at the reverse proxy.",
    response: { status: 200, description: "Prometheus text format 0.0.4", contentType: "text/plain; version=0.0.4; charset=utf-8" },
  },
  {
    method: "get", path: "/api/openapi.json", tag: "operations", auth: "none", summary: "This OpenAPI 3.1 document",
    response: { status: 200, description: "the document", contentType: "application/json" },
  },
  {
    method: "get", path: "/api/events", tag: "operations", auth: "admin", summary: "Device events reported by hosts",
    query: EventsQuery,
    response: { status: 200, description: "`{events: Event[]}` ordered by hostId, then seq (oldest first)" },
  },
  {
    method: "get", path: "/api/commands/:id", tag: "operations", auth: "admin", summary: "One device command and its result",
    response: { status: 200, description: "`Command`: result is null while pending" },
    errors: [err(404, "command_not_found", "unknown command id")],
  },
  {
    method: "get", path: "/api/inbox/stats", tag: "operations", auth: "admin", summary: "Inbox counters (accepted, duplicates, rejected, ACL)",
    response: { status: 200, description: "in-memory counters since start, plus `rejectedStored`" },
  },
  {
    method: "get", path: "/api/inbox/rejected", tag: "operations", auth: "admin", summary: "Parked (rejected) uplink messages, newest first",
    query: LimitQuery,
    response: { status: 200, description: "`{rejected: Rejected[]}`" },
  },
  {
    method: "post", path: "/api/enrollment-tokens", tag: "hosts", auth: "admin", summary: "Create a one-time enrollment token",
    body: CreateEnrollmentTokenRequest,
    response: { status: 201, description: "the token, shown once", schema: z.object({ token: z.string(), expiresAt: z.number().int() }) },
  },
  {
    method: "post", path: "/api/hosts/enroll", tag: "hosts", auth: "enrollment", summary: "Exchange an enrollment token for host MQTT credentials",
    body: EnrollRequest,
    response: { status: 201, description: "the host's credentials; the password is shown only here", schema: EnrollResponse },
    errors: [err(401, "invalid_enrollment_token", "the token is unknown, already used or expired")],
  },
  {
    method: "get", path: "/api/hosts", tag: "hosts", auth: "admin", summary: "List hosts",
    response: { status: 200, description: "`{hosts: Host[]}` ordered by createdAt" },
  },
  {
    method: "get", path: "/api/hosts/:id", tag: "hosts", auth: "admin", summary: "One host: presence, capacity, use",
    response: { status: 200, description: "`Host`" },
    errors: [err(404, "host_not_found", "unknown host id")],
  },
  {
    method: "delete", path: "/api/hosts/:id", tag: "hosts", auth: "admin", summary: "Revoke a host (and drop its MQTT connection, embedded broker)",
    response: { status: 200, description: "`{host: Host, disconnected: boolean}`" },
    errors: [err(404, "host_not_found", "unknown host id")],
  },
  {
    method: "post", path: "/api/mqtt-credentials", tag: "hosts", auth: "admin", summary: "Create an operator MQTT credential (embedded broker)",
    body: MqttCredentialRequest,
    response: { status: 201, description: "the credential; the password is shown once", schema: z.object({ username: z.string(), password: z.string(), access: z.enum(["read", "readwrite"]) }) },
    errors: [err(409, "username_taken", "the username exists")],
  },
  {
    method: "get", path: "/api/notifications/stream", tag: "notifications", auth: "bearer", scope: "account:read",
    summary: "Live platform events of the caller (Server-Sent Events)",
    description:
      "Each message: `id:` = event seq, `data:` = Notification JSON (no `event:` field). Resume with `Last-Event-ID` (or `?since=`): " +
      "missed events are replayed first (newest 1000; an `event: truncated` message says when more were missed). " +
      "`: heartbeat` comment every 15 s; `event: overflow` then close when the client does not read. " +
      "The token may be given as `?access_token=` with `Accept: text/event-stream`.",
    query: NotificationStreamQuery,
    response: { status: 200, description: "an endless event stream", contentType: "text/event-stream" },
    errors: [err(403, "forbidden", "`all=true` from a non-admin"), err(400, "invalid_request", "malformed `Last-Event-ID` header (`headers.last-event-id`)")],
  },
  {
    method: "get", path: "/api/notifications", tag: "notifications", auth: "bearer", scope: "account:read",
    summary: "Platform events of the caller (JSON, for clients without SSE)",
    query: NotificationsQuery,
    response: { status: 200, description: "events ascending by seq", schema: NotificationList },
    errors: [err(403, "forbidden", "`all=true` from a non-admin")],
  },
  {
    method: "get", path: "/api/platform/outbox/stats", tag: "notifications", auth: "admin", summary: "Platform outbox counts by status",
    response: { status: 200, description: "counts", schema: PlatformOutboxStatsResponse },
  },
];
