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

export type NotificationListener = (e: DeliveredEvent) => void;

/**
 * In-process fan-out of committed platform events to live subscribers (SSE connections). The relay hands it each
 * outbox row once, in seq order, as soon as it sees the row; subscribers filter and buffer for themselves. Nothing is
 * stored here: a subscriber that was not connected catches up from `platform_outbox` by seq.
 */
export class Notifier {
  private readonly listeners = new Set<NotificationListener>();
  /** Highest seq handed out so far (0 before the first). */
  lastSeq = 0;

  /** Registers a listener; call the returned function to remove it (idempotent). */
  subscribe(listener: NotificationListener): () => void {
    // Wrap so that the same function subscribed twice is two subscriptions, each removable on its own.
    const entry: NotificationListener = (e) => listener(e);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  publish(e: DeliveredEvent): void {
    if (e.seq > this.lastSeq) this.lastSeq = e.seq;
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener's failure is its own (it buffers and writes asynchronously); it must not starve the others.
      }
    }
  }
}
