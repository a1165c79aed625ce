import type { Logger } from "../log.js";
import type { Meter } from "./meter.js";

export interface TickerOptions {
  intervalMs: number;
  /** Usage records were enqueued: the pump should publish them. */
  onRecorded: () => void;
  log: Logger;
  now?: () => number;
}

/**
 * Every `intervalMs`, reports the running time of every open meter (one transaction per tick), so that usage
 * reaches the control plane while devices run, not only when they stop. Keeps ticking while MQTT is down: the
 * records wait in the outbox.
 */
export class MeterTicker {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly meter: Meter,
    private readonly o: TickerOptions,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tickOnce(), this.o.intervalMs);
    this.timer.unref();
  }

  /** One tick; a failing tick (e.g. disk full) is logged and the next one tries again from the same rows. */
  tickOnce(): number {
    try {
      const n = this.meter.tick((this.o.now ?? Date.now)());
      if (n > 0) this.o.onRecorded();
      return n;
    } catch (e) {
      this.o.log.error({ err: (e as Error).message }, "metering tick failed; retrying on the next tick");
      return 0;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
