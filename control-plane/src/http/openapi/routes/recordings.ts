import { RecordingView } from "@cloudphone/shared-protocol";
import { DeviceRecordingsResponse, ListRecordingsQuery, RecordingsResponse, StartRecordingBody } from "../../../recordings/schemas.js";
import { err, type ErrorDoc, type RouteDoc } from "../types.js";

const deviceNotFound = err(404, "device_not_found", "unknown or deleted device, or another user's (same answer)");
const recordingNotFound = err(404, "recording_not_found", "no such recording on this device (or its file is gone)");
const rpcErrors: ErrorDoc[] = [
  err(409, "device_not_ready", "the device is not running with adbd"),
  err(502, "failed", "the agent, adb or screenrecord failed (the message says what happened)"),
  err(503, "host_offline", "the device's host is offline or revoked, or did not answer recent requests (circuit open)"),
  err(504, "timeout", "the host did not answer in time"),
];

/** Screen recording sessions (A3). */
export const RECORDING_ROUTES: readonly RouteDoc[] = [
  {
    method: "post", path: "/api/devices/:id/recordings", tag: "recordings", auth: "bearer", scope: "devices:write", summary: "Start recording the device's screen",
    description:
      "Runs `screenrecord` on the device (H.264 in MP4). At most one session per device. The session always ends by `maxDurationMs` " +
      "(the agent's timer, and `--time-limit` on the device): it is then `completed` with reason `max_duration`. Android's screenrecord " +
      "records at most 180 s. An agent restart mid-recording fails the session (`agent_restarted`) and removes what it left.",
    body: StartRecordingBody,
    response: { status: 201, description: "the session, `recording`", schema: RecordingView },
    errors: [deviceNotFound, err(409, "recording_active", "the device already has an active recording"), ...rpcErrors],
  },
  {
    method: "post", path: "/api/devices/:id/recordings/:rid/stop", tag: "recordings", auth: "bearer", scope: "devices:write", summary: "Stop a recording by id",
    description:
      "Stops the device's screenrecord (SIGINT, so the MP4 is finished), copies the file to the agent and removes it from the device: " +
      "`completed` with `bytes`, or `failed` with a reason. Idempotent: an ended session is answered as it is.",
    response: { status: 200, description: "the ended session", schema: RecordingView },
    errors: [deviceNotFound, recordingNotFound, ...rpcErrors],
  },
  {
    method: "get", path: "/api/devices/:id/recordings", tag: "recordings", auth: "bearer", scope: "devices:read", summary: "The device's recordings, newest first",
    description: "Asked of the agent; when it does not answer (offline host), the control plane's copy from the agent's events (`live: false`).",
    response: { status: 200, description: "up to 200 sessions", schema: DeviceRecordingsResponse },
    errors: [deviceNotFound],
  },
  {
    method: "get", path: "/api/recordings", tag: "recordings", auth: "bearer", scope: "devices:read", summary: "Recordings of the caller's devices (admins: all)",
    description: "From the control plane's copy; `status=recording` lists the active sessions.",
    query: ListRecordingsQuery,
    response: { status: 200, description: "sessions, newest first", schema: RecordingsResponse },
  },
  {
    method: "get", path: "/api/devices/:id/recordings/:rid/file", tag: "recordings", auth: "bearer", scope: "devices:read", summary: "Download a completed recording",
    description: "Streams the MP4 from the agent (`Content-Length` set). Files are kept on the agent for `recording.retentionDays`.",
    response: { status: 200, description: "the MP4 file", contentType: "video/mp4" },
    errors: [deviceNotFound, err(404, "recording_not_found", "no such recording, not completed, or its file is gone"), ...rpcErrors],
  },
];
