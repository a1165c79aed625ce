import { z } from "zod";
import { EnvelopeFields, MessageId } from "./envelope.js";
import { EVENT_NAME_PATTERN, ID_PATTERN } from "./topics.js";

export const HostId = z.string().regex(ID_PATTERN, "must be 1-64 of [A-Za-z0-9_.-], starting alphanumeric");
export const DeviceId = HostId;

/** Resources of a device; CPU in millicores so that money-like exactness holds for capacity too (no floats). */
export const Resources = z.object({
  cpuMillis: z.number().int().min(0).max(1_024_000),
  memoryMb: z.number().int().min(0).max(16_777_216),
  diskMb: z.number().int().min(0).max(1_073_741_824),
});
export type Resources = z.infer<typeof Resources>;

/** What the agent needs to run one Android container (D1). */
export const DeviceSpec = z.object({
  cpuMillis: z.number().int().min(100).max(64_000),
  memoryMb: z.number().int().min(256).max(262_144),
  diskMb: z.number().int().min(256).max(4_194_304),
  width: z.number().int().min(160).max(4096),
  height: z.number().int().min(160).max(4096),
  dpi: z.number().int().min(80).max(960),
  fps: z.number().int().min(1).max(120),
  /** Container image; the agent's configured default when absent. */
  image: z.string().min(1).max(256).regex(/^[a-z0-9][a-z0-9._\/:@-]*$/, "must be a docker image reference").optional(),
});
export type DeviceSpec = z.infer<typeof DeviceSpec>;

export const DesiredState = z.enum(["running", "stopped", "deleted"]);
export type DesiredState = z.infer<typeof DesiredState>;

/** Reported (actual) state of a device as the agent sees it. */
export const DeviceStatus = z.enum([
  "pending", // accepted, container not created yet
  "creating",
  "starting",
  "running", // container running and ready: adbd answers and sys.boot_completed=1 (the only metered state)
  "stopping",
  "stopped",
  "restarting",
  "deleting",
  "deleted",
  "error", // exited, lost its adb connection or did not boot in time, without being asked to; the agent is recovering it
  "failed", // recovery gave up or creation failed; needs an operator or a new command
  // Appended so that existing positions stay: container running, waiting for adbd and sys.boot_completed=1.
  "booting",
]);
export type DeviceStatus = z.infer<typeof DeviceStatus>;

export const EVENT_NAMES = [
  "device.created",
  "device.creation_failed",
  "device.started",
  "device.stopped",
  "device.deleted",
  "device.error",
  "device.connection_lost",
  "device.recovered",
  "device.failed",
  // Apps (A2): one event per device of an install/uninstall request, carrying its installId.
  "app.installed",
  "app.install_failed",
  "app.uninstalled",
  // Recording sessions (A3), carrying recordingId.
  "recording.started",
  "recording.completed",
  "recording.failed",
] as const;
export const EventName = z.enum(EVENT_NAMES);
export type EventName = z.infer<typeof EventName>;

// ---- host → control plane ----------------------------------------------------------------

export const HostStatusMessage = z.strictObject({
  ...EnvelopeFields,
  hostId: HostId,
  status: z.enum(["online", "offline"]),
  agentVersion: z.string().max(64).optional(),
  hostname: z.string().max(255).optional(),
  /** When this agent process started; lets the control plane tell a restart from a reconnect. */
  startedAt: z.number().int().nonnegative().optional(),
});
export type HostStatusMessage = z.infer<typeof HostStatusMessage>;

export const InventoryEntry = z.strictObject({
  deviceId: DeviceId,
  state: DeviceStatus,
  desired: DesiredState,
});

export const HostCapacityMessage = z.strictObject({
  ...EnvelopeFields,
  hostId: HostId,
  total: Resources.extend({ deviceSlots: z.number().int().min(0).max(100_000) }).strict(),
  used: Resources.extend({ devices: z.number().int().min(0).max(100_000) }).strict(),
  inventory: z.array(InventoryEntry).max(10_000),
  docker: z.strictObject({ version: z.string().max(64) }).optional(),
  binder: z.boolean().optional(),
});
export type HostCapacityMessage = z.infer<typeof HostCapacityMessage>;

export const DeviceStateMessage = z.strictObject({
  ...EnvelopeFields,
  hostId: HostId,
  deviceId: DeviceId,
  state: DeviceStatus,
  desired: DesiredState,
  /** Highest command generation the agent has applied for this device. */
  generation: z.number().int().nonnegative(),
  containerId: z.string().max(128).optional(),
  /** adbd endpoint on the host (loopback), when known. */
  adb: z.strictObject({ host: z.string().max(255), port: z.number().int().min(1).max(65535) }).optional(),
  exitCode: z.number().int().optional(),
  oomKilled: z.boolean().optional(),
  error: z.string().max(2000).optional(),
  /** When the device entered this state (ms). */
  since: z.number().int().nonnegative(),
});
export type DeviceStateMessage = z.infer<typeof DeviceStateMessage>;

export const EventData = z.strictObject({
  reason: z.string().max(2000).optional(),
  exitCode: z.number().int().optional(),
  oomKilled: z.boolean().optional(),
  containerId: z.string().max(128).optional(),
  commandId: MessageId.optional(),
  attempt: z.number().int().nonnegative().optional(),
  installId: MessageId.optional(),
  appId: MessageId.optional(),
  packageName: z.string().max(255).optional(),
  versionCode: z.number().int().optional(),
  recordingId: MessageId.optional(),
  bytes: z.number().int().nonnegative().optional(),
  durationMs: z.number().int().nonnegative().optional(),
  /** recording.started: the session's maximum duration. */
  maxDurationMs: z.number().int().positive().optional(),
});
export type EventData = z.infer<typeof EventData>;

export const EventMessage = z.strictObject({
  ...EnvelopeFields,
  hostId: HostId,
  name: EventName,
  deviceId: DeviceId.optional(),
  data: EventData,
});
export type EventMessage = z.infer<typeof EventMessage>;

/** Running time of one device over `[from, to)` in ms; records of one device never overlap. */
export const UsageMessage = z
  .strictObject({
    ...EnvelopeFields,
    hostId: HostId,
    deviceId: DeviceId,
    recordId: MessageId,
    from: z.number().int().nonnegative(),
    to: z.number().int().nonnegative(),
  })
  .refine((u) => u.to > u.from, { message: "to must be after from", path: ["to"] });
export type UsageMessage = z.infer<typeof UsageMessage>;

export const CommandOutcome = z.enum(["applied", "superseded", "failed"]);
export type CommandOutcome = z.infer<typeof CommandOutcome>;

export const CommandResultMessage = z.strictObject({
  ...EnvelopeFields,
  hostId: HostId,
  deviceId: DeviceId,
  commandId: MessageId,
  outcome: CommandOutcome,
  error: z.string().max(2000).optional(),
});
export type CommandResultMessage = z.infer<typeof CommandResultMessage>;

// ---- control plane → host ----------------------------------------------------------------

export const DEVICE_ACTIONS = ["create", "start", "stop", "restart", "delete"] as const;
export const DeviceAction = z.enum(DEVICE_ACTIONS);
export type DeviceAction = z.infer<typeof DeviceAction>;

const CommandBase = {
  ...EnvelopeFields,
  hostId: HostId,
  deviceId: DeviceId,
  /**
   * Per-device, strictly increasing. The agent applies a command only if its generation is higher
   * than the last it applied, so a re-sent stale command can never undo a newer one.
   */
  generation: z.number().int().positive(),
};

export const DeviceCommand = z.discriminatedUnion("action", [
  z.strictObject({ ...CommandBase, action: z.literal("create"), spec: DeviceSpec, ownerId: z.string().max(64).optional() }),
  z.strictObject({ ...CommandBase, action: z.literal("start") }),
  z.strictObject({ ...CommandBase, action: z.literal("stop") }),
  z.strictObject({ ...CommandBase, action: z.literal("restart") }),
  z.strictObject({ ...CommandBase, action: z.literal("delete") }),
  /**
   * App commands (A2). Not lifecycle commands: `generation` carries the device's current lifecycle generation for
   * information only. The agent never compares it, never stores it as the device's generation and never answers
   * `superseded`; an app command is `applied` once queued on the agent (the install itself reports `app.*` events
   * carrying `installId`), or `failed` for a device the host does not have.
   */
  z.strictObject({
    ...CommandBase,
    action: z.literal("app_install"),
    installId: MessageId,
    app: z.strictObject({
      id: MessageId,
      sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
      size: z.number().int().positive(),
      packageName: z.string().min(1).max(255),
    }),
  }),
  z.strictObject({
    ...CommandBase,
    action: z.literal("app_uninstall"),
    installId: MessageId,
    appId: MessageId,
    packageName: z.string().min(1).max(255),
  }),
]);
export type DeviceCommand = z.infer<typeof DeviceCommand>;

// ---- control plane → operators (platform events) -------------------------------------------

export const PlatformEventName = z.string().max(64).regex(EVENT_NAME_PATTERN, "must be {domain}.{action} in lower case");

/**
 * A platform event (`cloudphone/v1/platform/events/{name}`), published by the control plane's outbox relay.
 * `id` is the outbox row id and `seq` the control plane's outbox sequence (strictly increasing in commit order, one
 * counter for all platform events); delivery is at-least-once, so consumers de-duplicate on `id` (or `seq`).
 */
export const PlatformEventMessage = z.strictObject({
  ...EnvelopeFields,
  name: PlatformEventName,
  /** The user the event concerns, or null for fleet-wide events (e.g. `alert.raised`). */
  userId: z.string().min(1).max(64).nullable(),
  deviceId: DeviceId.nullable(),
  data: z.record(z.string(), z.unknown()),
});
export type PlatformEventMessage = z.infer<typeof PlatformEventMessage>;
