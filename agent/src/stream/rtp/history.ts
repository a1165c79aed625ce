/**
 * The last packets sent to one viewer, for answering NACKs (RFC 4585 generic NACK) with the same packet: sequence
 * number, rollover counter, timestamp, marker and the shared payload (a reference, never a copy). A ring indexed by
 * sequence number; an entry is found only while it has not been overwritten by a newer packet.
 */
export interface SentPacket {
  sequenceNumber: number;
  rolloverCounter: number;
  timestamp: number;
  marker: boolean;
  payload: Buffer;
}

export class RtpHistory {
  private readonly seqs: Int32Array;
  private readonly rocs: Uint32Array;
  private readonly timestamps: Uint32Array;
  private readonly markers: Uint8Array;
  private readonly payloads: (Buffer | undefined)[];

  /** `size` packets (a power of two); 512 is about a second of a 4 Mbit/s stream. */
  constructor(readonly size = 512) {
    if (size <= 0 || (size & (size - 1)) !== 0) throw new Error("RtpHistory size must be a power of two");
    this.seqs = new Int32Array(size).fill(-1);
    this.rocs = new Uint32Array(size);
    this.timestamps = new Uint32Array(size);
    this.markers = new Uint8Array(size);
    this.payloads = new Array<Buffer | undefined>(size);
  }

  record(sequenceNumber: number, rolloverCounter: number, timestamp: number, marker: boolean, payload: Buffer): void {
    const i = sequenceNumber & (this.size - 1);
    this.seqs[i] = sequenceNumber;
    this.rocs[i] = rolloverCounter;
    this.timestamps[i] = timestamp;
    this.markers[i] = marker ? 1 : 0;
    this.payloads[i] = payload;
  }

  find(sequenceNumber: number): SentPacket | null {
    const i = sequenceNumber & (this.size - 1);
    const payload = this.payloads[i];
    if (this.seqs[i] !== sequenceNumber || !payload) return null;
    return { sequenceNumber, rolloverCounter: this.rocs[i] as number, timestamp: this.timestamps[i] as number, marker: this.markers[i] === 1, payload };
  }

  /** Drops every reference (the payloads belong to frames long gone). */
  clear(): void {
    this.seqs.fill(-1);
    this.payloads.fill(undefined);
  }
}
