/**
 * Sliding-window-counter rate limiter, in memory (so per process: N control-plane processes allow N × the limit).
 * The estimate for "the last window" is `previous window count × (unused share of it) + current window count`,
 * which smooths the burst a fixed window allows at its boundary. Pure: time is passed in.
 */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Requests still allowed right now (after this one, when allowed). */
  remaining: number;
  /** Seconds until a request would be allowed again (0 when allowed). */
  retryAfterSeconds: number;
  /** Seconds until the current window ends (the `RateLimit-Reset` header). */
  resetSeconds: number;
}

interface Bucket {
  windowStart: number;
  current: number;
  previous: number;
}

export interface RateLimiterOptions {
  limit: number;
  windowMs: number;
  /** Upper bound on tracked keys; the oldest keys are evicted beyond it (bounded memory). */
  maxKeys?: number;
}

export class RateLimiter {
  readonly limit: number;
  readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(o: RateLimiterOptions) {
    if (!(o.limit >= 1) || !(o.windowMs >= 1)) throw new Error("rate limiter: limit and windowMs must be positive");
    this.limit = Math.floor(o.limit);
    this.windowMs = o.windowMs;
    this.maxKeys = o.maxKeys ?? 100_000;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Counts one request for `key` when allowed; a refused request is not counted. */
  hit(key: string, now: number): RateDecision {
    this.sweep(now);
    const start = now - (now % this.windowMs);
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.evictOldest();
      b = { windowStart: start, current: 0, previous: 0 };
      this.buckets.set(key, b);
    } else if (b.windowStart !== start) {
      // Rolled into a later window: the previous count only matters if it was the window just before.
      b.previous = start - b.windowStart === this.windowMs ? b.current : 0;
      b.current = 0;
      b.windowStart = start;
    }
    const elapsed = now - start;
    const estimate = b.previous * (1 - elapsed / this.windowMs) + b.current;
    const resetSeconds = Math.max(1, Math.ceil((this.windowMs - elapsed) / 1000));
    if (estimate + 1 <= this.limit) {
      b.current += 1;
      return { allowed: true, limit: this.limit, remaining: Math.max(0, Math.floor(this.limit - estimate - 1)), retryAfterSeconds: 0, resetSeconds };
    }
    return { allowed: false, limit: this.limit, remaining: 0, retryAfterSeconds: this.retryAfterMs(b, elapsed) / 1000, resetSeconds };
  }

  /** Earliest time (ms from now, rounded up to whole seconds) at which `estimate + 1 <= limit` holds again. */
  private retryAfterMs(b: Bucket, elapsed: number): number {
    const W = this.windowMs;
    const room = this.limit - 1 - b.current;
    let wait: number;
    if (room >= 0 && b.previous > 0) {
      // Still in this window: wait until the previous window's share has decayed enough.
      wait = W * (1 - room / b.previous) - elapsed;
    } else {
      // Only in the next window, when this window's count becomes the decaying "previous" one.
      wait = W - elapsed + W * Math.max(0, 1 - (this.limit - 1) / b.current);
    }
    return Math.max(1, Math.ceil(Math.max(0, wait) / 1000)) * 1000;
  }

  /** At most once per window: drop keys idle for two windows (their estimate is 0 anyway). */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.windowMs) return;
    this.lastSweep = now;
    for (const [k, b] of this.buckets) if (now - b.windowStart >= 2 * this.windowMs) this.buckets.delete(k);
  }

  private evictOldest(): void {
    const first = this.buckets.keys().next();
    if (!first.done) this.buckets.delete(first.value);
  }
}
