/**
 * A per-device cap on concurrent sessions (shells, logcats): `acquire` gives a release function, or null when the
 * device already has `max` open. Releasing twice is harmless.
 */
export class SessionSlots {
  private readonly open = new Map<string, number>();

  constructor(readonly max: number) {}

  acquire(deviceId: string): (() => void) | null {
    const n = this.open.get(deviceId) ?? 0;
    if (n >= this.max) return null;
    this.open.set(deviceId, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(deviceId) ?? 1) - 1;
      if (left <= 0) this.open.delete(deviceId);
      else this.open.set(deviceId, left);
    };
  }

  count(deviceId?: string): number {
    if (deviceId !== undefined) return this.open.get(deviceId) ?? 0;
    let total = 0;
    for (const n of this.open.values()) total += n;
    return total;
  }
}
