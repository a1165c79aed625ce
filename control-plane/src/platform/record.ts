import { newId } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { stmt } from "../store/statements.js";

/** An event the control plane itself publishes (M1): `{domain}.{action}`, e.g. `billing.low_balance`, `order.failed`. */
export interface PlatformEvent {
  name: string;
  /** The user it concerns: delivered live to that user's notification stream, and to admins. */
  userId: string | null;
  deviceId?: string | null;
  data: Record<string, unknown>;
  requestId?: string | null;
}

/**
 * Appends a platform event to the control plane's outbox. Call it inside the same transaction as the change it
 * describes, so the event exists iff the change committed; the relay publishes it later (MQTT + live notifications).
 */
export function recordPlatformEvent(db: Db, e: PlatformEvent, now = Date.now()): string {
  const id = newId();
  stmt(
    db,
    `INSERT INTO platform_outbox (id, name, user_id, device_id, data, request_id, next_attempt_at, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(id, e.name, e.userId, e.deviceId ?? null, JSON.stringify(e.data), e.requestId ?? null, now, now);
  return id;
}
