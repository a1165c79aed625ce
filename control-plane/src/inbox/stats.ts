/** In-process counters of the inbox (since start); the parked messages themselves are in `rejected_messages`. */
export class InboxStats {
  readonly accepted: Record<string, number> = {};
  duplicates = 0;
  readonly rejected: Record<string, number> = {};
  batches = 0;
  largestBatch = 0;
  readonly acl = { publishDenied: 0, subscribeDenied: 0, authFailed: 0 };

  countAccepted(kind: string): void {
    this.accepted[kind] = (this.accepted[kind] ?? 0) + 1;
  }

  countRejected(code: string): void {
    this.rejected[code] = (this.rejected[code] ?? 0) + 1;
  }

  countBatch(size: number): void {
    this.batches++;
    if (size > this.largestBatch) this.largestBatch = size;
  }

  snapshot(): {
    accepted: Record<string, number>;
    acceptedTotal: number;
    duplicates: number;
    rejected: Record<string, number>;
    rejectedTotal: number;
    batches: number;
    largestBatch: number;
    acl: { publishDenied: number; subscribeDenied: number; authFailed: number };
  } {
    const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    return {
      accepted: { ...this.accepted },
      acceptedTotal: sum(this.accepted),
      duplicates: this.duplicates,
      rejected: { ...this.rejected },
      rejectedTotal: sum(this.rejected),
      batches: this.batches,
      largestBatch: this.largestBatch,
      acl: { ...this.acl },
    };
  }
}
