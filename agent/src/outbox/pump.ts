import { MAX_PAYLOAD_BYTES } from "@cloudphone/shared-protocol";
import type { Logger } from "../log.js";
import type { Outbox } from "./outbox.js";

/** The slice of an MQTT client the pump needs. */
export interface QoS1Publisher {
  publish(topic: string, payload: string, opts: { qos: 1; retain: boolean }, cb: (err?: Error) => void): unknown;
}

export interface PumpOptions {
  maxInFlight: number;
  batchSize: number;
}

/**
 * Publishes pending outbox rows in seq order, at most `maxInFlight` unacknowledged at a time, and marks them
 * published in batches as PUBACKs arrive. Any publish error stops the pump; `resume()` (on reconnect) starts
 * again from the lowest pending seq. Rows never leave SQLite until acknowledged, so nothing is lost while
 * disconnected; duplicates after a resume are intended (the receiver de-duplicates on id).
 */
export class OutboxPump {
  private publisher: QoS1Publisher | null = null;
  /** Bumped on every resume/pause so that callbacks of an older connection cannot disturb the current one. */
  private epoch = 0;
  private readonly inFlight = new Set<number>();
  /**
   * Highest seq handed to the publisher in this epoch. Rows at or below it are in flight or acknowledged but
   * not yet marked published (that happens in a batch on the next tick), so they must not be sent again.
   */
  private cursor = 0;
  private acked: number[] = [];
  private flushScheduled = false;
  private fillScheduled = false;
  private dueTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly outbox: Outbox,
    private readonly opts: PumpOptions,
    private readonly log: Logger,
  ) {}

  get running(): boolean {
    return this.publisher !== null;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  resume(publisher: QoS1Publisher): void {
    if (this.closed) return;
    this.epoch++;
    this.inFlight.clear();
    this.cursor = 0;
    this.publisher = publisher;
    this.kick();
  }

  pause(): void {
    this.cancelRetry();
    this.epoch++;
    this.inFlight.clear();
    this.cursor = 0;
    this.publisher = null;
    this.clearDueTimer();
  }

  close(): void {
    this.flushAcks();
    this.pause();
    this.closed = true;
  }

  /** Something was enqueued or acknowledged: fill the window on the next tick (coalesced). */
  kick(): void {
    if (this.fillScheduled || !this.publisher) return;
    this.fillScheduled = true;
    setImmediate(() => {
      this.fillScheduled = false;
      this.fill();
    });
  }

  private clearDueTimer(): void {
    if (this.dueTimer) clearTimeout(this.dueTimer);
    this.dueTimer = null;
  }

  private fill(): void {
    const publisher = this.publisher;
    if (!publisher) return;
    const room = this.opts.maxInFlight - this.inFlight.size;
    if (room <= 0) return;
    let rows;
    try {
      rows = this.outbox.nextBatch(Math.min(room, this.opts.batchSize), this.cursor);
    } catch (e) {
      this.log.error({ err: e }, "outbox read failed");
      return;
    }
    let sent = 0;
    for (const row of rows) {
      this.cursor = row.seq;
      if (Buffer.byteLength(row.payload) > MAX_PAYLOAD_BYTES) {
        this.outbox.markFailed(row.seq, `payload of ${Buffer.byteLength(row.payload)} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
        this.log.error({ seq: row.seq, topic: row.topic }, "outbox row too large; parked as failed");
        continue;
      }
      const epoch = this.epoch;
      this.inFlight.add(row.seq);
      sent++;
      publisher.publish(row.topic, row.payload, { qos: 1, retain: row.retain }, (err) => this.onAck(epoch, row.seq, err));
    }
    if (rows.length === 0 || sent === 0) this.armDueTimer();
  }

  /** The head of the queue may be backing off: wake up when it becomes due. */
  private armDueTimer(): void {
    if (this.inFlight.size > 0 || this.dueTimer) return;
    const due = this.outbox.nextDueAt();
    if (due === null) return;
    const delay = Math.max(0, due - Date.now());
    this.dueTimer = setTimeout(() => {
      this.dueTimer = null;
      this.kick();
    }, delay);
    this.dueTimer.unref();
  }

  private onAck(epoch: number, seq: number, err: Error | undefined): void {
    if (!err) {
      // An acknowledgement is a fact even if it belongs to an older connection.
      this.acked.push(seq);
      if (epoch === this.epoch) this.inFlight.delete(seq);
      this.scheduleFlush();
      return;
    }
    if (epoch !== this.epoch) return;
    try {
      const delay = this.outbox.markRetry(seq, err.message);
      this.log.warn({ seq, err: err.message, retryInMs: delay }, "outbox publish failed; pausing until reconnect");
    } catch (e) {
      this.log.error({ err: e }, "outbox markRetry failed");
    }
    // Stop here: publishing past a failed row could reorder messages. The link resumes us on reconnect.
    const publisher = this.publisher;
    this.pause();
    if (publisher) {
      // Still connected (a client-side error): try again once the row is due.
      const due = this.outbox.nextDueAt();
      const t = setTimeout(() => {
        if (!this.publisher && !this.closed) this.resume(publisher);
      }, Math.max(0, (due ?? Date.now()) - Date.now()));
      t.unref();
      this.retryTimer = t;
    }
  }

  private retryTimer: NodeJS.Timeout | null = null;

  /** Drops the pending retry of a client-side failure (called when the link itself pauses the pump). */
  cancelRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushAcks();
      this.kick();
    });
  }

  private flushAcks(): void {
    if (this.acked.length === 0) return;
    const batch = this.acked;
    this.acked = [];
    try {
      this.outbox.markPublished(batch);
    } catch (e) {
      this.log.error({ err: e }, "outbox markPublished failed; rows will be re-sent");
    }
  }
}
