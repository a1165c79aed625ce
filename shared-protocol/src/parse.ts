import { z } from "zod";
import { MAX_PAYLOAD_BYTES, SCHEMA_VERSION } from "./envelope.js";
import {
  CommandResultMessage,
  DeviceCommand,
  DeviceStateMessage,
  EventMessage,
  HostCapacityMessage,
  HostStatusMessage,
  UsageMessage,
} from "./messages.js";
import { RpcRequestMessage, RpcResponseMessage } from "./rpc.js";
import { parseTopic, type ParsedTopic, type TopicKind } from "./topics.js";

/** Why a message was refused; stable codes for metrics, a readable detail for logs. */
export type RejectCode =
  | "unknown_topic"
  | "oversize"
  | "malformed_json"
  | "unknown_version"
  | "invalid"
  | "topic_mismatch";

export type ParseResult<T> = { ok: true; value: T } | { ok: false; code: RejectCode; reason: string };

export const schemaByKind = {
  status: HostStatusMessage,
  capacity: HostCapacityMessage,
  deviceState: DeviceStateMessage,
  event: EventMessage,
  usage: UsageMessage,
  results: CommandResultMessage,
  commands: DeviceCommand,
  rpcRequests: RpcRequestMessage,
  rpcResponses: RpcResponseMessage,
} as const satisfies Record<TopicKind, z.ZodType>;

export type MessageOf<K extends TopicKind> = z.infer<(typeof schemaByKind)[K]>;

export type ParsedMessage = {
  [K in TopicKind]: { kind: K; topic: Extract<ParsedTopic, { kind: K }>; message: MessageOf<K> };
}[TopicKind];

/** Formats zod issues as `path: message; ...` so that a rejection names the field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`)
    .join("; ");
}

/** Parses JSON and checks the schema version before the schema, so that a newer sender gets a precise reason. */
export function parsePayload<S extends z.ZodType>(schema: S, payload: Uint8Array | string): ParseResult<z.infer<S>> {
  const size = typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > MAX_PAYLOAD_BYTES) return { ok: false, code: "oversize", reason: `payload of ${size} bytes exceeds ${MAX_PAYLOAD_BYTES}` };
  let data: unknown;
  try {
    data = JSON.parse(typeof payload === "string" ? payload : Buffer.from(payload).toString("utf8"));
  } catch (e) {
    return { ok: false, code: "malformed_json", reason: `malformed JSON: ${(e as Error).message}` };
  }
  if (typeof data === "object" && data !== null && "v" in data && (data as { v: unknown }).v !== SCHEMA_VERSION) {
    return { ok: false, code: "unknown_version", reason: `unknown schema version ${JSON.stringify((data as { v: unknown }).v)}; this build speaks v${SCHEMA_VERSION}` };
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) return { ok: false, code: "invalid", reason: describeIssues(parsed.error) };
  return { ok: true, value: parsed.data };
}

/**
 * Classifies the topic, validates the payload against that topic's schema, and checks that the ids
 * inside the message agree with the ids in the topic. Never throws.
 */
export function parseMessage(topic: string, payload: Uint8Array | string): ParseResult<ParsedMessage> {
  const t = parseTopic(topic);
  if (!t) return { ok: false, code: "unknown_topic", reason: `topic ${JSON.stringify(topic.slice(0, 200))} is not in the cloudphone/v1 tree` };
  const r = parsePayload(schemaByKind[t.kind], payload);
  if (!r.ok) return r;
  const m = r.value as { hostId: string; deviceId?: string; name?: string };
  if (m.hostId !== t.hostId) return { ok: false, code: "topic_mismatch", reason: `hostId ${m.hostId} does not match topic host ${t.hostId}` };
  if (t.kind === "deviceState" && m.deviceId !== t.deviceId) {
    return { ok: false, code: "topic_mismatch", reason: `deviceId ${String(m.deviceId)} does not match topic device ${t.deviceId}` };
  }
  if (t.kind === "event" && m.name !== t.eventName) {
    return { ok: false, code: "topic_mismatch", reason: `event name ${String(m.name)} does not match topic ${t.eventName}` };
  }
  return { ok: true, value: { kind: t.kind, topic: t, message: r.value } as ParsedMessage };
}
