/**
 * Token bucket: `ratePerSecond` tokens refill continuously up to `burst`. Pure (the clock is passed in), so tests
 * drive it with plain numbers.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError("ratePerSecond must be > 0 and burst >= 1");
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token if available. */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Allows an action at most once per `intervalMs` (keyframe requests, error replies). */
export class MinInterval {
  private last = -Infinity;
  constructor(private readonly intervalMs: number) {}

  tryNow(now: number): boolean {
    if (now - this.last < this.intervalMs) return false;
    this.last = now;
    return true;
  }
}
