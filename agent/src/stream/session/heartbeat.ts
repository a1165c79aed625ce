/**
 * Data-channel heartbeat (S3): a viewer that sends no `ping` for `timeoutMs` is closed. Before the first ping the
 * deadline is `firstTimeoutMs` (ICE, DTLS and the data channel must come up first). One timer at a time; `stop`
 * leaves nothing behind.
 */
export interface HeartbeatOptions {
  timeoutMs: number;
  firstTimeoutMs: number;
  onExpire: () => void;
}

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly o: HeartbeatOptions) {
    this.arm(o.firstTimeoutMs);
  }

  /** A ping arrived: the viewer has `timeoutMs` from now for the next one. */
  beat(): void {
    if (!this.stopped) this.arm(this.o.timeoutMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stopped) return;
      this.stopped = true;
      this.o.onExpire();
    }, ms);
    this.timer.unref();
  }
}
