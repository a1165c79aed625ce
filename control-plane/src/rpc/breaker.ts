/**
 * Per-host circuit breaker (pure state, the caller supplies the clock). `closed` lets every call through; after
 * `failureThreshold` consecutive timeouts it turns `open` and refuses calls for `openMs`; then `half_open` lets one
 * probe through: an answer closes it, another timeout opens it again. Any answer from the agent (even an error) is
 * a success here: the breaker is about whether the host answers at all.
 */
export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerOptions {
  failureThreshold: number;
  openMs: number;
}

export interface BreakerView {
  hostId: string;
  state: BreakerState;
  consecutiveFailures: number;
  /** When it last opened (epoch ms), or null. */
  openedAt: number | null;
}

interface Entry {
  failures: number;
  openedAt: number | null;
  /** A half-open probe is in flight: further calls are refused until it settles. */
  probing: boolean;
}

export class HostBreakers {
  private readonly hosts = new Map<string, Entry>();

  constructor(private readonly o: BreakerOptions) {}

  private entry(hostId: string): Entry {
    let e = this.hosts.get(hostId);
    if (!e) {
      e = { failures: 0, openedAt: null, probing: false };
      this.hosts.set(hostId, e);
    }
    return e;
  }

  state(hostId: string, now: number): BreakerState {
    const e = this.hosts.get(hostId);
    if (!e || e.openedAt === null) return "closed";
    return now - e.openedAt >= this.o.openMs ? "half_open" : "open";
  }

  /** Whether a call may go out now; in half-open state this admits the single probe. */
  admit(hostId: string, now: number): boolean {
    const s = this.state(hostId, now);
    if (s === "closed") return true;
    if (s === "open") return false;
    const e = this.entry(hostId);
    if (e.probing) return false;
    e.probing = true;
    return true;
  }

  success(hostId: string): void {
    const e = this.hosts.get(hostId);
    if (!e) return;
    // Nothing to remember about a healthy host.
    this.hosts.delete(hostId);
  }

  failure(hostId: string, now: number): void {
    const e = this.entry(hostId);
    e.failures++;
    if (e.probing || e.failures >= this.o.failureThreshold) e.openedAt = now;
    e.probing = false;
  }

  /** Hosts with a non-closed breaker or recent failures, for metrics and `/ready` detail. */
  views(now: number): BreakerView[] {
    return [...this.hosts].map(([hostId, e]) => ({ hostId, state: this.state(hostId, now), consecutiveFailures: e.failures, openedAt: e.openedAt }));
  }
}
