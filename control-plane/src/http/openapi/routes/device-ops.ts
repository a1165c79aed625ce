import { ExecParams, ExecResult, FileEntry, MAX_LIST_ENTRIES } from "@cloudphone/shared-protocol";
import { z } from "zod";
import { PathQuery, PushQuery } from "../../routes-device-ops.js";
import { err, type ErrorDoc, type RouteDoc } from "../types.js";

const notFound = err(404, "device_not_found", "unknown or deleted device, another user's (same answer), or not known to its host");
/** What every device operation can answer besides its own errors (from the agent's code or the RPC itself). */
const rpcErrors: ErrorDoc[] = [
  notFound,
  err(409, "device_not_ready", "the device's container is not running with adbd"),
  err(502, "failed", "the agent or adb failed (the message says what happened)"),
  err(503, "host_offline", "the device's host is offline or revoked, or did not answer recent requests (circuit open)"),
  err(504, "timeout", "the host did not answer in time"),
];
const fileErrors: ErrorDoc[] = [err(404, "not_found", "no such file or directory on the device"), ...rpcErrors];

const ListResult = z.strictObject({ entries: z.array(FileEntry).max(MAX_LIST_ENTRIES), truncated: z.boolean() });
const PushResult = z.strictObject({ path: z.string(), bytes: z.number().int().nonnegative() });

/** Device operations over RPC (A1) and the agents' data tunnel. */
export const DEVICE_OPS_ROUTES: readonly RouteDoc[] = [
  {
    method: "post", path: "/api/devices/:id/exec", tag: "devices", auth: "bearer", scope: "devices:write", summary: "Run a shell command on the device",
    description: `Runs \`command\` with \`sh -c\` on the device (adb shell protocol v2): exit code and separate stdout and stderr (each capped at 24 KiB, \`truncated\` then). A command still running at \`timeoutMs\` is ended (\`timedOut\`, \`exitCode\` null).`,
    body: ExecParams,
    response: { status: 200, description: "the command's outcome", schema: ExecResult },
    errors: rpcErrors,
  },
  {
    method: "get", path: "/api/devices/:id/files/stat", tag: "devices", auth: "bearer", scope: "devices:read", summary: "Stat a path on the device",
    description: "`path` is absolute; `.`/`..`/empty segments are refused (400 naming `path`), never normalised.",
    query: PathQuery,
    response: { status: 200, description: "the entry", schema: FileEntry },
    errors: fileErrors,
  },
  {
    method: "get", path: "/api/devices/:id/files/list", tag: "devices", auth: "bearer", scope: "devices:read", summary: "List a directory on the device",
    query: PathQuery,
    response: { status: 200, description: `up to ${MAX_LIST_ENTRIES} entries (\`truncated\` when there are more)`, schema: ListResult },
    errors: fileErrors,
  },
  {
    method: "put", path: "/api/devices/:id/files", tag: "devices", auth: "bearer", scope: "devices:write", summary: "Push a file to the device",
    description:
      "The raw body is streamed to the device (never held in memory): the agent fetches it through a tunnel and writes it to a temporary name " +
      "next to `path`, checks the size, applies `mode` (octal, default 644) and renames it into place, so a failed or aborted push leaves nothing. " +
      "Parent directories are created.",
    query: PushQuery,
    response: { status: 200, description: "the file is in place", schema: PushResult },
    errors: [
      err(413, "payload_too_large", "over `filesMaxPushBytes`: by Content-Length before any byte is forwarded, else as soon as the stream crosses it; nothing written"),
      err(502, "tunnel_failed", "the upload broke off (client gone, agent disconnected); nothing written"),
      ...rpcErrors,
    ],
  },
  {
    method: "get", path: "/api/devices/:id/files", tag: "devices", auth: "bearer", scope: "devices:read", summary: "Pull a file from the device",
    description: "Streams the file (`Content-Length` when known).",
    query: PathQuery,
    response: { status: 200, description: "the file's bytes", contentType: "application/octet-stream" },
    errors: fileErrors,
  },
  {
    method: "get", path: "/api/devices/:id/screenshot", tag: "devices", auth: "bearer", scope: "devices:read", summary: "Screenshot as PNG",
    response: { status: 200, description: "the screen (`screencap -p`)", contentType: "image/png" },
    errors: rpcErrors,
  },
  {
    method: "get", path: "/api/agent/tunnels/:id", tag: "agents", auth: "none", summary: "Agent data tunnel: download, or WebSocket (duplex)",
    description:
      "For agents only: `Authorization: Basic base64(<hostId>:<MQTT password>)` plus `X-Tunnel-Token` from the RPC request. A `download` tunnel " +
      "answers the bytes the control plane holds for the agent; with `Upgrade: websocket` a `duplex` tunnel becomes a WebSocket. One use per tunnel; " +
      "a tunnel nobody opens expires after 10 s.",
    response: { status: 200, description: "the data", contentType: "application/octet-stream" },
    alsoSucceeds: [{ status: 101, description: "WebSocket (duplex tunnel)" }],
    errors: [
      err(401, "invalid_credentials", "no valid host Basic credential"),
      err(403, "invalid_tunnel_token", "missing or wrong X-Tunnel-Token"),
      err(404, "tunnel_not_found", "unknown, expired or finished tunnel, or another host's"),
      err(409, "tunnel_used", "the tunnel was already used, or is of another mode"),
    ],
  },
  {
    method: "post", path: "/api/agent/tunnels/:id", tag: "agents", auth: "none", summary: "Agent data tunnel: upload",
    description: "For agents only (credentials as for GET): the body is the data the request asked for (file pull, screenshot), streamed on to the waiting user.",
    response: { status: 200, description: "everything was delivered", schema: z.strictObject({ bytes: z.number().int().nonnegative() }) },
    errors: [
      err(401, "invalid_credentials", "no valid host Basic credential"),
      err(403, "invalid_tunnel_token", "missing or wrong X-Tunnel-Token"),
      err(404, "tunnel_not_found", "unknown, expired or finished tunnel, or another host's"),
      err(409, "tunnel_used", "the tunnel was already used, or is of another mode"),
      err(502, "tunnel_aborted", "the user went away or the body broke off"),
    ],
  },
];
