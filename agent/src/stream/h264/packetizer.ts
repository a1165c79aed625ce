import { randomInt } from "node:crypto";
import { NalType, nalType, parseSps, splitAnnexB, type SpsInfo } from "./nal.js";

/**
 * RFC 6184 H.264 RTP packetizer, packetization-mode=1 (non-interleaved): single NAL unit packets, STAP-A
 * (type 24) for SPS+PPS and optionally other small NALs, FU-A (type 28) for NALs over the payload budget.
 *
 * The output of one `packetize` call is meant to be shared by every viewer of a stream: it holds only the RTP
 * payloads, the 90 kHz timestamp and (implicitly) the marker on the last payload. Sequence number, SSRC and
 * payload type are per viewer and are stamped by `rtp/viewer.ts` without touching the payloads.
 */

export const STAP_A = 24;
export const FU_A = 28;
/** RTP clock rate for video (RFC 6184 §8.2.1). */
export const H264_CLOCK_RATE = 90_000;

export interface PacketizerOptions {
  /** Largest RTP payload in bytes; 1200 keeps IP packets under a 1280-byte path MTU with SRTP and extensions. */
  maxPayloadBytes?: number;
  /** 32-bit value added to every timestamp (RFC 3550 §5.1 wants a random start); random by default. */
  timestampBase?: number;
  /** Also aggregate consecutive small non-parameter-set NALs (e.g. SEI + small slice) into STAP-A. */
  aggregateSmallNals?: boolean;
}

/** One access unit cut into RTP payloads; immutable and shared between viewers. */
export interface PacketizedAccessUnit {
  /** 90 kHz RTP timestamp, u32 (wraps). Same for every packet of the AU. */
  readonly timestamp: number;
  /** Device presentation time in µs, kept for metrics/latency. */
  readonly ptsUs: number;
  /** True when the AU holds an IDR slice (a viewer may start here). */
  readonly keyframe: boolean;
  /** RTP payloads in send order; the RTP marker bit goes on the last one. */
  readonly payloads: readonly Buffer[];
}

/** µs → 90 kHz RTP timestamp with a base, modulo 2^32. */
export function ptsToRtpTimestamp(ptsUs: number, base: number): number {
  // `>>> 0` is ToUint32: exact modulo 2^32 for any integer-valued double.
  return (base + Math.round((ptsUs * 9) / 100)) >>> 0;
}

export class H264Packetizer {
  readonly maxPayloadBytes: number;
  readonly timestampBase: number;
  private readonly aggregateSmallNals: boolean;
  private sps: Buffer | null = null;
  private pps: Buffer | null = null;
  private spsInfoCache: SpsInfo | null = null;

  constructor(opts: PacketizerOptions = {}) {
    this.maxPayloadBytes = opts.maxPayloadBytes ?? 1200;
    // FU-A needs 2 header bytes plus at least one byte of NAL data.
    if (!Number.isInteger(this.maxPayloadBytes) || this.maxPayloadBytes < 3 || this.maxPayloadBytes > 65_535) {
      throw new RangeError(`maxPayloadBytes must be an integer in 3..65535, got ${this.maxPayloadBytes}`);
    }
    this.timestampBase = (opts.timestampBase ?? randomInt(0, 2 ** 32)) >>> 0;
    this.aggregateSmallNals = opts.aggregateSmallNals ?? false;
  }

  /** The cached SPS, parsed (size, profile-level-id for SDP), or null before the first SPS. */
  get spsInfo(): SpsInfo | null {
    if (this.spsInfoCache === null && this.sps !== null) this.spsInfoCache = parseSps(this.sps);
    return this.spsInfoCache;
  }

  get parameterSets(): { sps: Buffer; pps: Buffer } | null {
    return this.sps && this.pps ? { sps: this.sps, pps: this.pps } : null;
  }

  rtpTimestamp(ptsUs: number): number {
    return ptsToRtpTimestamp(ptsUs, this.timestampBase);
  }

  /** Annex-B bytes of one access unit (a scrcpy media packet) → packets. */
  packetizeAnnexB(data: Buffer, ptsUs: number): PacketizedAccessUnit | null {
    return this.packetize(splitAnnexB(data), ptsUs);
  }

  /**
   * Packetizes one access unit (NAL units without start codes). SPS/PPS are cached; an input of parameter sets
   * only (scrcpy's CONFIG packet) returns null: they are sent, as STAP-A, in front of the next IDR. An IDR without
   * its own SPS and PPS gets the cached ones in front. AUDs and filler data are dropped (useless on RTP).
   */
  packetize(nals: readonly Buffer[], ptsUs: number): PacketizedAccessUnit | null {
    let hasSps = false;
    let hasPps = false;
    let hasIdr = false;
    let hasOther = false;
    const kept: Buffer[] = [];
    for (const nal of nals) {
      if (nal.length === 0) continue;
      const t = nalType(nal);
      if (t === NalType.AUD || t === NalType.FILLER) continue;
      if (t === NalType.SPS) {
        hasSps = true;
        if (!this.sps || !this.sps.equals(nal)) {
          this.sps = Buffer.from(nal); // own copy: the source buffer may be a reused socket chunk
          this.spsInfoCache = null;
        }
      } else if (t === NalType.PPS) {
        hasPps = true;
        if (!this.pps || !this.pps.equals(nal)) this.pps = Buffer.from(nal);
      } else {
        hasOther = true;
        if (t === NalType.IDR) hasIdr = true;
      }
      kept.push(nal);
    }
    if (!hasOther) return null;
    let units = kept;
    if (hasIdr && !(hasSps && hasPps) && this.sps && this.pps) {
      // Drop a lone SPS or PPS of this AU; the cached pair (already updated from it) goes in front.
      units = [this.sps, this.pps, ...kept.filter((n) => !isParameterSet(nalType(n)))];
    }
    return { timestamp: this.rtpTimestamp(ptsUs), ptsUs, keyframe: hasIdr, payloads: this.payloadsFor(units) };
  }

  private payloadsFor(units: readonly Buffer[]): Buffer[] {
    const max = this.maxPayloadBytes;
    const out: Buffer[] = [];
    let group: Buffer[] = [];
    let groupSize = 1; // STAP-A header byte
    const flush = () => {
      if (group.length === 1) out.push(group[0] as Buffer);
      else if (group.length > 1) out.push(stapA(group, groupSize));
      group = [];
      groupSize = 1;
    };
    for (const nal of units) {
      const t = nalType(nal);
      if (nal.length > max) {
        flush();
        fuA(nal, max, out);
        continue;
      }
      if (!(this.aggregateSmallNals || isParameterSet(t))) {
        flush();
        out.push(nal);
        continue;
      }
      if (group.length > 0 && groupSize + 2 + nal.length > max) flush();
      group.push(nal);
      groupSize += 2 + nal.length;
    }
    flush();
    return out;
  }
}

function isParameterSet(t: number): boolean {
  return t === NalType.SPS || t === NalType.PPS;
}

/** STAP-A (RFC 6184 §5.7.1): header with F = OR of F bits, NRI = max NRI, then (u16 size, NAL)*. */
function stapA(nals: readonly Buffer[], size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let f = 0;
  let nri = 0;
  let o = 1;
  for (const n of nals) {
    const h = n[0] as number;
    f |= h & 0x80;
    nri = Math.max(nri, h & 0x60);
    out.writeUInt16BE(n.length, o);
    n.copy(out, o + 2);
    o += 2 + n.length;
  }
  out[0] = f | nri | STAP_A;
  return out;
}

/**
 * FU-A (RFC 6184 §5.8): the NAL header is replaced by an indicator (F|NRI|28) and an FU header (S|E|type).
 * Fragments are sized evenly, so no tiny trailing fragment is sent.
 */
function fuA(nal: Buffer, max: number, out: Buffer[]): void {
  const header = nal[0] as number;
  const indicator = (header & 0xe0) | FU_A;
  const type = header & 0x1f;
  const bodyLen = nal.length - 1;
  const count = Math.ceil(bodyLen / (max - 2));
  const chunk = Math.ceil(bodyLen / count);
  for (let i = 0, pos = 1; i < count; i++, pos += chunk) {
    const end = Math.min(nal.length, pos + chunk);
    const p = Buffer.allocUnsafe(2 + end - pos);
    p[0] = indicator;
    p[1] = (i === 0 ? 0x80 : 0) | (i === count - 1 ? 0x40 : 0) | type;
    nal.copy(p, 2, pos, end);
    out.push(p);
  }
}
