import { z } from "zod";
import { EnvelopeFields, MessageId } from "./envelope.js";
import { DeviceId, HostId } from "./messages.js";

/**
 * Request/response between the control plane and one agent over MQTT (A1, A3, S3):
 *
 *   cloudphone/v1/hosts/{hostId}/rpc/requests    control plane → host (QoS 1, never retained; hosts may not publish)
 *   cloudphone/v1/hosts/{hostId}/rpc/responses   host → control plane (QoS 1; routed to the waiting caller, not the inbox)
 *
 * RPCs are for interactive operations a user waits for (exec, files, screenshots, recordings, WebRTC signaling);
 * unlike commands they are not durable: a request whose deadline has passed is dropped by the agent, and the caller
 * sees a timeout. Bulk data never rides on MQTT (64 KiB payload limit): the request carries a `TunnelRef` and the
 * agent opens an HTTP or WebSocket connection to the control plane (`/api/agent/tunnels/{id}`, host credentials plus
 * the tunnel token), so agents only ever dial out, as they do for MQTT.
 */

/** A one-time data connection the agent opens to the control plane; it expires if the agent does not come. */
export const TunnelRef = z.strictObject({
  id: MessageId,
  /** Secret of this tunnel only (base64url), sent by the agent as `X-Tunnel-Token`. */
  token: z.string().min(32).max(128).regex(/^[A-Za-z0-9_-]+$/, "must be base64url"),
  /**
   * - `download`: the agent GETs the data the control plane has for it (file push to the device);
   * - `upload`: the agent POSTs data from the device (file pull, screenshot, recording download);
   * - `duplex`: the agent opens a WebSocket (interactive shell, live logcat).
   */
  mode: z.enum(["download", "upload", "duplex"]),
});
export type TunnelRef = z.infer<typeof TunnelRef>;

/**
 * An absolute path on the device: no `.` or `..` segments, no empty segments, no control characters. Traversal is
 * refused rather than normalised, so a path means exactly what it says.
 */
export const DevicePath = z
  .string()
  .min(1)
  .max(1024)
  .regex(/^\//, "must be an absolute path")
  .refine((p) => !/[\x00-\x1f\x7f]/.test(p), "must not contain control characters")
  .refine((p) => p === "/" || p.slice(1).split("/").every((s) => s !== "" && s !== "." && s !== ".."), {
    message: "must not contain empty, '.' or '..' segments",
  });
export type DevicePath = z.infer<typeof DevicePath>;

/** Output of an exec is capped so that the response fits one MQTT message. */
export const EXEC_OUTPUT_CAP_BYTES = 24 * 1024;

export const ExecParams = z.strictObject({
  command: z.string().min(1).max(8192),
  timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
});
export const ExecResult = z.strictObject({
  exitCode: z.number().int().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  /** Some output beyond `EXEC_OUTPUT_CAP_BYTES` (per stream) was dropped. */
  truncated: z.boolean(),
  timedOut: z.boolean(),
  durationMs: z.number().int().nonnegative(),
});

export const FileEntry = z.strictObject({
  name: z.string(),
  type: z.enum(["file", "directory", "symlink", "other"]),
  size: z.number().int().nonnegative(),
  mode: z.number().int().nonnegative(),
  mtime: z.number().int().nonnegative(),
});
export type FileEntry = z.infer<typeof FileEntry>;

export const MAX_LIST_ENTRIES = 300;

export const RecordingStatus = z.enum(["recording", "completed", "failed"]);
export const RecordingView = z.strictObject({
  id: MessageId,
  deviceId: DeviceId,
  status: RecordingStatus,
  startedAt: z.number().int().nonnegative(),
  endedAt: z.number().int().nonnegative().nullable(),
  maxDurationMs: z.number().int().positive(),
  /** Bytes of the finished file; null while recording or when failed without a file. */
  bytes: z.number().int().nonnegative().nullable(),
  /** Why it ended: `stopped`, `max_duration`, `device_stopped`, `agent_restarted`, or an error. */
  reason: z.string().max(2000).nullable(),
});
export type RecordingView = z.infer<typeof RecordingView>;

export const LogcatFilter = z.strictObject({
  /** `tag:priority` specs as logcat takes them, e.g. `ActivityManager:I`, `*:S`. */
  specs: z.array(z.string().regex(/^[A-Za-z0-9_.*-]{1,64}:[VDIWEFS]$/, "must be tag:priority (V D I W E F S)")).max(32).default([]),
  /** Minimum priority for tags without a spec. */
  priority: z.enum(["V", "D", "I", "W", "E", "F"]).default("V"),
  buffers: z.array(z.enum(["main", "system", "crash", "events", "radio"])).max(5).default([]),
  /** Plain substring a line must contain (applied on the agent). */
  contains: z.string().max(256).optional(),
  /** Dump what is buffered and end, instead of following. */
  dump: z.boolean().default(false),
});
export type LogcatFilter = z.infer<typeof LogcatFilter>;

/** An ICE server as RTCPeerConnection takes it (STUN or TURN, e.g. coturn with a shared-secret credential). */
export const IceServer = z.strictObject({
  urls: z.array(z.string().regex(/^(stun|stuns|turn|turns):[^\s]{1,250}$/, "must be a stun:, stuns:, turn: or turns: URL")).min(1).max(8),
  username: z.string().max(256).optional(),
  credential: z.string().max(256).optional(),
});
export type IceServer = z.infer<typeof IceServer>;

export const MAX_SDP_BYTES = 32 * 1024;

export const StreamOfferParams = z.strictObject({
  /** Chosen by the control plane; the WHEP resource is `/api/devices/{deviceId}/whep/{sessionId}`. */
  sessionId: MessageId,
  /** The viewer's SDP offer (recvonly video, and a data channel for input and heartbeat). */
  sdp: z.string().min(1).max(MAX_SDP_BYTES),
  /** The user this viewer acts for (for logs and control hand-over). */
  userId: z.string().min(1).max(64),
  iceServers: z.array(IceServer).max(8).default([]),
});
export type StreamOfferParams = z.infer<typeof StreamOfferParams>;

export const StreamOfferResult = z.strictObject({
  sessionId: MessageId,
  sdp: z.string().min(1).max(MAX_SDP_BYTES),
  /** Whether this viewer holds input control (the first viewer does; others watch until it is handed over). */
  control: z.boolean(),
});
export type StreamOfferResult = z.infer<typeof StreamOfferResult>;

/** Every RPC method with its params and result schemas: the single source both sides validate against. */
export const RPC_METHODS = {
  "device.exec": { params: ExecParams, result: ExecResult },
  "device.files.stat": { params: z.strictObject({ path: DevicePath }), result: FileEntry },
  "device.files.list": {
    params: z.strictObject({ path: DevicePath }),
    result: z.strictObject({ entries: z.array(FileEntry).max(MAX_LIST_ENTRIES), truncated: z.boolean() }),
  },
  "device.files.push": {
    /** `size`: what the user declared (Content-Length); null when the upload is chunked. */
    params: z.strictObject({ path: DevicePath, size: z.number().int().nonnegative().nullable(), mode: z.number().int().min(0).max(0o7777).default(0o644), tunnel: TunnelRef }),
    result: z.strictObject({ bytes: z.number().int().nonnegative() }),
  },
  "device.files.pull": {
    params: z.strictObject({ path: DevicePath, tunnel: TunnelRef }),
    result: z.strictObject({ bytes: z.number().int().nonnegative() }),
  },
  "device.screenshot": {
    params: z.strictObject({ tunnel: TunnelRef }),
    result: z.strictObject({ bytes: z.number().int().nonnegative() }),
  },
  "device.shell.open": {
    params: z.strictObject({ tunnel: TunnelRef, cols: z.number().int().min(1).max(1000).default(80), rows: z.number().int().min(1).max(1000).default(24) }),
    result: z.strictObject({}),
  },
  "device.logcat.open": {
    params: z.strictObject({ tunnel: TunnelRef, filter: LogcatFilter }),
    result: z.strictObject({}),
  },
  "device.recording.start": {
    params: z.strictObject({
      /** Android's screenrecord stops by itself after 180 s, so that is the longest one session can be. */
      maxDurationMs: z.number().int().min(1000).max(180_000),
      bitRate: z.number().int().min(100_000).max(100_000_000).optional(),
    }),
    result: RecordingView,
  },
  "device.recording.stop": { params: z.strictObject({ recordingId: MessageId }), result: RecordingView },
  "device.recording.list": { params: z.strictObject({}), result: z.strictObject({ recordings: z.array(RecordingView).max(200) }) },
  "device.recording.download": {
    params: z.strictObject({ recordingId: MessageId, tunnel: TunnelRef }),
    result: z.strictObject({ bytes: z.number().int().nonnegative() }),
  },
  // Live screen (S1–S3): the control plane relays a WHEP offer; the agent answers with a complete (non-trickle) SDP.
  "device.stream.offer": { params: StreamOfferParams, result: StreamOfferResult },
  "device.stream.close": { params: z.strictObject({ sessionId: MessageId }), result: z.strictObject({ closed: z.boolean() }) },
} as const;

export type RpcMethod = keyof typeof RPC_METHODS;
export const RpcMethodName = z.enum(Object.keys(RPC_METHODS) as [RpcMethod, ...RpcMethod[]]);
export type RpcParams<M extends RpcMethod> = z.infer<(typeof RPC_METHODS)[M]["params"]>;
/** What a caller passes (defaults not yet applied). */
export type RpcParamsInput<M extends RpcMethod> = z.input<(typeof RPC_METHODS)[M]["params"]>;
export type RpcResult<M extends RpcMethod> = z.infer<(typeof RPC_METHODS)[M]["result"]>;

/**
 * Stable error codes an agent answers with; the control plane maps them to HTTP statuses
 * (`bad_params` 400, `not_found` 404, `conflict` 409, `too_large` 413, `device_not_ready` 409, `timeout` 504, others 502).
 */
export const RpcErrorCode = z.enum([
  "bad_params",
  "unknown_method",
  "device_not_found",
  "device_not_ready",
  "not_found",
  "conflict",
  "too_large",
  "timeout",
  "tunnel_failed",
  "failed",
]);
export type RpcErrorCode = z.infer<typeof RpcErrorCode>;

export const RpcRequestMessage = z.strictObject({
  ...EnvelopeFields,
  hostId: HostId,
  deviceId: DeviceId,
  method: RpcMethodName,
  /** Validated by the agent against `RPC_METHODS[method].params`. */
  params: z.record(z.string(), z.unknown()),
  /** Epoch ms after which the caller no longer waits; the agent drops (or aborts) the request then. */
  deadline: z.number().int().nonnegative(),
});
export type RpcRequestMessage = z.infer<typeof RpcRequestMessage>;

export const RpcResponseMessage = z.strictObject({
  ...EnvelopeFields,
  hostId: HostId,
  /** The `id` of the request this answers. */
  replyTo: MessageId,
  outcome: z.discriminatedUnion("ok", [
    z.strictObject({ ok: z.literal(true), result: z.unknown() }),
    z.strictObject({ ok: z.literal(false), code: RpcErrorCode, message: z.string().max(2000) }),
  ]),
});
export type RpcResponseMessage = z.infer<typeof RpcResponseMessage>;

/** Tunnel endpoint path on the control plane (the agent prefixes its `controlPlaneUrl`). */
export const tunnelPath = (tunnelId: string): string => `/api/agent/tunnels/${tunnelId}`;
export const TUNNEL_TOKEN_HEADER = "x-tunnel-token";
