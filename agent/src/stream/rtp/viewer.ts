import { randomInt } from "node:crypto";
import type { PacketizedAccessUnit } from "../h264/packetizer.js";

/**
 * Per-viewer RTP stamping of shared packetized access units. A viewer owns only its 16-bit sequence counter, SSRC
 * and payload type; payload buffers are never copied or rewritten, so N viewers cost N header writes, not N
 * packetizations. A fan-out feeds werift with
 *   `viewer.forEach(au, (h, payload) => track.writeRtp(new RtpPacket(new RtpHeader(h), payload)))`
 * (one fresh header object per packet and viewer: werift's sender mutates the header in place).
 */

export const RTP_HEADER_BYTES = 12;

export interface RtpHeaderFields {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  ssrc: number;
}

export interface ViewerRtpOptions {
  ssrc?: number;
  payloadType?: number;
  /** First sequence number; random by default (RFC 3550 §5.1). */
  initialSequence?: number;
}

/** Writes a fixed 12-byte RTP header (V=2, no padding, extension or CSRC). */
export function writeRtpHeader(target: Buffer, offset: number, h: RtpHeaderFields): void {
  target[offset] = 0x80;
  target[offset + 1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  target.writeUInt16BE(h.sequenceNumber & 0xffff, offset + 2);
  target.writeUInt32BE(h.timestamp >>> 0, offset + 4);
  target.writeUInt32BE(h.ssrc >>> 0, offset + 8);
}

export function parseRtpHeader(packet: Buffer): RtpHeaderFields & { headerBytes: number } {
  if (packet.length < RTP_HEADER_BYTES || (packet[0] as number) >> 6 !== 2) throw new Error("not an RTP v2 packet");
  const b0 = packet[0] as number;
  let headerBytes = RTP_HEADER_BYTES + (b0 & 0x0f) * 4;
  if (b0 & 0x10) headerBytes += 4 + packet.readUInt16BE(headerBytes + 2) * 4;
  return {
    marker: ((packet[1] as number) & 0x80) !== 0,
    payloadType: (packet[1] as number) & 0x7f,
    sequenceNumber: packet.readUInt16BE(2),
    timestamp: packet.readUInt32BE(4),
    ssrc: packet.readUInt32BE(8),
    headerBytes,
  };
}

export class ViewerRtpStream {
  readonly ssrc: number;
  readonly payloadType: number;
  private seq: number;
  /** SRTP rollover counter (RFC 3711 §3.3.1): how many times the sequence number wrapped. */
  private roc = 0;
  /** Packets and payload bytes stamped so far (for per-viewer statistics). */
  packets = 0;
  payloadBytes = 0;

  constructor(opts: ViewerRtpOptions = {}) {
    this.ssrc = (opts.ssrc ?? randomInt(1, 2 ** 32)) >>> 0;
    this.payloadType = opts.payloadType ?? 96;
    this.seq = (opts.initialSequence ?? randomInt(0, 0x10000)) & 0xffff;
  }

  /** The sequence number the next packet will carry. */
  get nextSequence(): number {
    return this.seq;
  }

  /** The rollover counter of the next packet's sequence number. */
  get rolloverCounter(): number {
    return this.roc;
  }

  private advance(): void {
    this.seq = (this.seq + 1) & 0xffff;
    if (this.seq === 0) this.roc = (this.roc + 1) >>> 0;
  }

  /** Calls `send` for each packet of `au` in order, with this viewer's header fields; marker on the last one. */
  forEach(au: PacketizedAccessUnit, send: (header: RtpHeaderFields, payload: Buffer) => void): void {
    const last = au.payloads.length - 1;
    for (let i = 0; i <= last; i++) {
      const payload = au.payloads[i] as Buffer;
      const header: RtpHeaderFields = {
        payloadType: this.payloadType,
        sequenceNumber: this.seq,
        timestamp: au.timestamp,
        marker: i === last,
        ssrc: this.ssrc,
      };
      this.advance();
      this.packets++;
      this.payloadBytes += payload.length;
      send(header, payload);
    }
  }

  /**
   * Header bytes only, for transports with scatter/gather writes (`socket.send([header, payload])`): one block of
   * 12 bytes per packet, in payload order (packet i's header is `block.subarray(12 * i, 12 * i + 12)`). One
   * allocation per access unit and viewer; the shared payloads are never copied. Packet i's rollover counter is
   * `rolloverCounter` read before the call, plus one if its sequence number is below the first one's.
   */
  headerBlock(au: PacketizedAccessUnit): Buffer {
    const n = au.payloads.length;
    const block = Buffer.allocUnsafe(n * RTP_HEADER_BYTES);
    const b1 = this.payloadType & 0x7f;
    for (let i = 0, o = 0; i < n; i++, o += RTP_HEADER_BYTES) {
      block[o] = 0x80;
      block[o + 1] = i === n - 1 ? 0x80 | b1 : b1;
      block.writeUInt16BE(this.seq, o + 2);
      block.writeUInt32BE(au.timestamp, o + 4);
      block.writeUInt32BE(this.ssrc, o + 8);
      this.advance();
      this.payloadBytes += (au.payloads[i] as Buffer).length;
    }
    this.packets += n;
    return block;
  }

  /** Complete wire packets (header + payload copied), for tests and transports that need one buffer. */
  serialize(au: PacketizedAccessUnit): Buffer[] {
    const out: Buffer[] = [];
    this.forEach(au, (h, payload) => {
      const p = Buffer.allocUnsafe(RTP_HEADER_BYTES + payload.length);
      writeRtpHeader(p, 0, h);
      payload.copy(p, RTP_HEADER_BYTES);
      out.push(p);
    });
    return out;
  }
}
