import { LogcatQuery, ShellQuery, TicketAnswer, TicketRequest } from "../../routes-device-ws.js";
import { err, type ErrorDoc, type RouteDoc } from "../types.js";

const notFound = err(404, "device_not_found", "unknown device, or another user's (same answer)");
const socketErrors: ErrorDoc[] = [
  err(401, "invalid_ticket", "the ticket is unknown, used, expired, or for another device or purpose"),
  notFound,
  err(426, "upgrade_required", "the request is not a WebSocket upgrade"),
  err(503, "not_available", "device sockets are not enabled in this process"),
];
const socketText =
  "Authenticate with `?ticket=` (POST /api/devices/{id}/tickets; browsers cannot send Authorization) or a bearer header. " +
  "Query, credential and device are checked before the upgrade (HTTP errors below, without a body on an upgrade request). " +
  "Once open, a failure to start the session on the device arrives as a text frame `{\"type\":\"error\",\"code\",\"message\"}` " +
  "and the close code 4000 + HTTP status (4409 `conflict`: the per-device maximum is open; 4409 `device_not_ready`; " +
  "4503 `host_offline`; 4504 `timeout`; 4502 others).";

export const DEVICE_WS_ROUTES: readonly RouteDoc[] = [
  {
    method: "post", path: "/api/devices/:id/tickets", tag: "devices", auth: "bearer", scope: "devices:read",
    summary: "A one-time ticket for a device WebSocket (shell, logcat, stream)",
    description:
      "Valid 30 s, once, for this user, this device and this purpose; presenting it consumes it whatever the outcome. " +
      "API tokens need `devices:read`, and `devices:write` too for shell and stream (403 `insufficient_scope`).",
    body: TicketRequest,
    response: { status: 201, description: "the ticket (`cwt_…`) and when it expires (epoch ms)", schema: TicketAnswer },
    errors: [notFound, err(429, "too_many_tickets", "the user holds 64 unused tickets")],
  },
  {
    method: "get", path: "/api/devices/:id/shell", tag: "devices", auth: "bearer", scope: "devices:write",
    summary: "Interactive shell (WebSocket upgrade)",
    description:
      "A PTY shell on the device. Binary frames both ways are terminal bytes (stdin / output). Text frames from the client: " +
      "`{\"type\":\"resize\",\"cols\":N,\"rows\":N}`. Text frames to the client: `{\"type\":\"exit\",\"code\":N}` when the shell " +
      "ends (then close 1000), `{\"type\":\"error\",\"message\"}` for a bad control message. Close codes: 1000 exit, 1011 the " +
      "device's stream broke, 4408 idle (agent `shell.idleTimeoutMs`, default 15 min), 1001 agent shutting down. Closing the " +
      "socket ends the shell and its processes on the device.\n\n" + socketText,
    query: ShellQuery,
    response: { status: 101, description: "switching to the WebSocket protocol" },
    errors: socketErrors,
  },
  {
    method: "get", path: "/api/devices/:id/logcat", tag: "devices", auth: "bearer", scope: "devices:read",
    summary: "Live logcat (WebSocket upgrade)",
    description:
      "`logcat -v threadtime` with the buffers, the specs and the default priority (`*:P`, before the specs so that `*:S` in " +
      "the specs wins). Text frames carry one or more whole lines, each ending in `\\n`; control frames are JSON (they start " +
      "with `{`, log lines never do): `{\"type\":\"dropped\",\"lines\":N}` when a slow reader made the agent drop lines (more " +
      "than ~1 MiB unsent), `{\"type\":\"exit\",\"code\":N}` when logcat ended (after a dump), then close 1000.\n\n" + socketText,
    query: LogcatQuery,
    response: { status: 101, description: "switching to the WebSocket protocol" },
    errors: socketErrors,
  },
];
