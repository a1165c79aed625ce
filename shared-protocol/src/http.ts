import { z } from "zod";
import { DesiredState, DeviceStatus, DeviceSpec, HostId, Resources } from "./messages.js";

/** Agent → control plane over HTTP, once: exchange a one-time token for durable credentials. */
export const EnrollRequest = z.strictObject({
  token: z.string().min(16).max(256),
  hostname: z.string().min(1).max(255),
  agentVersion: z.string().min(1).max(64),
  capacity: Resources.extend({ deviceSlots: z.number().int().min(0).max(100_000) }).strict(),
});
export type EnrollRequest = z.infer<typeof EnrollRequest>;

export const EnrollResponse = z.strictObject({
  hostId: HostId,
  mqtt: z.strictObject({
    url: z.string().url(),
    username: z.string().min(1),
    password: z.string().min(16),
    clientId: z.string().min(1),
  }),
});
export type EnrollResponse = z.infer<typeof EnrollResponse>;

export const CreateEnrollmentTokenRequest = z.strictObject({
  /** Lifetime of the token; one hour by default, at most 7 days. */
  ttlSeconds: z.number().int().min(60).max(7 * 24 * 3600).default(3600),
  note: z.string().max(200).optional(),
});

export const CreateDeviceRequest = z.strictObject({
  name: z.string().min(1).max(100).optional(),
  ownerId: z.string().min(1).max(64).optional(),
  /** Pin the device to one host instead of letting placement choose. */
  hostId: HostId.optional(),
  cpuMillis: DeviceSpec.shape.cpuMillis.default(2000),
  memoryMb: DeviceSpec.shape.memoryMb.default(2048),
  diskMb: DeviceSpec.shape.diskMb.default(8192),
  width: DeviceSpec.shape.width.default(720),
  height: DeviceSpec.shape.height.default(1280),
  dpi: DeviceSpec.shape.dpi.default(320),
  fps: DeviceSpec.shape.fps.default(30),
  image: DeviceSpec.shape.image,
});
export type CreateDeviceRequest = z.infer<typeof CreateDeviceRequest>;

export const MqttCredentialRequest = z.strictObject({
  username: z.string().regex(/^op-[a-z0-9-]{1,60}$/, "must start with op- and use a-z, 0-9 and -"),
  access: z.enum(["read", "readwrite"]),
});

export const DeviceView = z.object({
  id: z.string(),
  name: z.string().nullable(),
  ownerId: z.string().nullable(),
  hostId: z.string(),
  spec: DeviceSpec,
  desired: DesiredState,
  generation: z.number().int(),
  state: DeviceStatus,
  stateSeq: z.number().int().nullable(),
  error: z.string().nullable(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});
export type DeviceView = z.infer<typeof DeviceView>;

/** The one shape of every HTTP error body. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    /** For validation errors: the offending field paths with their messages. */
    fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
  requestId: z.string().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;
