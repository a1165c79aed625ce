/** A platform event as delivered live to users (SSE) — see platform/record.ts for how events are written. */
export interface DeliveredEvent {
  seq: number;
  id: string;
  name: string;
  userId: string | null;
  deviceId: string | null;
  data: Record<string, unknown>;
  requestId: string | null;
  createdAt: number;
}

// STUB (owned by the platform/notifications helper): fan-out of committed platform events to live subscribers.
export class Notifier {
  publish(_e: DeliveredEvent): void {}
}
