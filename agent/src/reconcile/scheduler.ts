/**
 * Runs work per key: never two runs for one key at once (a request during a run queues exactly one more run),
 * and at most `concurrency` keys at a time overall.
 */
export class KeyedSerialScheduler {
  private readonly running = new Set<string>();
  private readonly again = new Set<string>();
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly concurrency: number,
    private readonly work: (key: string) => Promise<void>,
  ) {}

  schedule(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.drain();
  }

  /** Schedules `key` after `ms` (an earlier pending timer for the key is kept if it fires sooner). */
  scheduleAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (this.timers.has(key)) return;
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.schedule(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  private drain(): void {
    while (!this.stopped && this.running.size < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.running.add(key);
      void this.work(key)
        .catch(() => undefined) // work() reports its own errors
        .finally(() => {
          this.running.delete(key);
          if (this.again.delete(key)) this.schedule(key);
          this.drain();
          if (this.running.size === 0 && this.queue.length === 0) {
            const waiters = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of waiters) w();
          }
        });
    }
  }

  /** Resolves when nothing runs and nothing is queued. */
  idle(): Promise<void> {
    if (this.running.size === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops taking work; resolves when the runs in progress have finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    this.queued.clear();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    while (this.running.size > 0) await new Promise((r) => setTimeout(r, 20));
  }
}
