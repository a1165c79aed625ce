/**
 * Who controls a device's input when several viewers watch it (S2). Pure: no I/O, no timers.
 *
 * - The first viewer controls; later viewers watch (their input is refused with `view_only`).
 * - `request`: granted when nobody holds control, or when the holder is the same user (a second tab of the holder).
 * - `release`: only the holder; control goes to the named session (if it watches this device) or to nobody.
 * - When the holder leaves, control passes to the longest-watching remaining viewer (it is then "the first viewer").
 */
export interface ControlChange {
  /** The session holding control after the operation (null: nobody). */
  holder: string | null;
  /** Whether the holder changed (viewers must be told). */
  changed: boolean;
}

export class ControlHolder {
  /** Viewers in join order: sessionId → userId. */
  private readonly viewers = new Map<string, string>();
  private current: string | null = null;

  get holder(): string | null {
    return this.current;
  }

  isHolder(sessionId: string): boolean {
    return this.current === sessionId;
  }

  join(sessionId: string, userId: string): ControlChange {
    this.viewers.set(sessionId, userId);
    if (this.current === null) return this.set(sessionId);
    return { holder: this.current, changed: false };
  }

  leave(sessionId: string): ControlChange {
    if (!this.viewers.delete(sessionId)) return { holder: this.current, changed: false };
    if (this.current !== sessionId) return { holder: this.current, changed: false };
    const next = this.viewers.keys().next();
    return this.set(next.done ? null : next.value);
  }

  request(sessionId: string): { granted: boolean } & ControlChange {
    const userId = this.viewers.get(sessionId);
    if (userId === undefined) return { granted: false, holder: this.current, changed: false };
    if (this.current === sessionId) return { granted: true, holder: sessionId, changed: false };
    if (this.current === null || this.viewers.get(this.current) === userId) return { granted: true, ...this.set(sessionId) };
    return { granted: false, holder: this.current, changed: false };
  }

  /** `to`: a session of this device to hand control to; unknown or absent → nobody holds control. */
  release(sessionId: string, to?: string): { allowed: boolean } & ControlChange {
    if (this.current !== sessionId) return { allowed: false, holder: this.current, changed: false };
    const target = to !== undefined && to !== sessionId && this.viewers.has(to) ? to : null;
    return { allowed: true, ...this.set(target) };
  }

  private set(holder: string | null): ControlChange {
    const changed = this.current !== holder;
    this.current = holder;
    return { holder, changed };
  }
}
