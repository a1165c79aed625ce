import { z } from "zod";

/** The schema version this build speaks; a message with another `v` is rejected, never guessed at. */
export const SCHEMA_VERSION = 1 as const;

/** Largest payload either side accepts on any topic. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

export const MessageId = z.string().min(8).max(64).regex(/^[A-Za-z0-9_-]+$/, "must be URL-safe characters");
export const RequestId = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");

/**
 * Every message on every topic carries this envelope.
 * - `id`: unique message id; the receiver de-duplicates on it.
 * - `seq`: per-host sequence number, strictly increasing in the order the host committed the messages.
 * - `ts`: milliseconds since the epoch when the message was created.
 * - `v`: schema version.
 * - `requestId`: the HTTP request that caused it, when there was one (carried across HTTP and MQTT for logs).
 */
export const EnvelopeFields = {
  id: MessageId,
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  ts: z.number().int().nonnegative(),
  v: z.literal(SCHEMA_VERSION),
  requestId: RequestId.optional(),
} as const;

export const Envelope = z.object(EnvelopeFields);
export type Envelope = z.infer<typeof Envelope>;
