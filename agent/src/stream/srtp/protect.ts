import { createCipheriv, createHmac, type Cipher } from "node:crypto";

/**
 * SRTP protection of outgoing RTP packets (RFC 3711 AES_CM_128_HMAC_SHA1_80, RFC 7714 AEAD_AES_128_GCM) from the
 * session keys a DTLS-SRTP handshake derived. The result is a gather list `[header, ciphertext, tag]` so a UDP
 * socket can send it with one `sendmsg` and no concatenation; the shared payload buffers are only read.
 *
 * Why our own: werift protects each packet through several async layers, serialises a header object and
 * concatenates buffers per packet; at a few hundred packets per second per viewer that overhead, not AES, decided
 * how many viewers a core can serve (docs/BENCHMARKS.md, bench:viewers). Keys and the derivation stay werift's.
 */

export type SrtpProfileName = "aes128-gcm" | "aes128-cm-hmac-sha1-80";

export interface SrtpSessionKeys {
  profile: SrtpProfileName;
  /** Session encryption key (16 bytes). */
  key: Buffer;
  /** Session salt: 12 bytes are used by GCM, 14 by AES-CM (longer input is cut). */
  salt: Buffer;
  /** Session authentication key (20 bytes), AES-CM only. */
  authKey?: Buffer;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** out[j] = a[j] ^ b[bOffset + j] for j < out.length; 32 bits at a time when all three are 4-byte aligned. */
function xorInto(out: Buffer, a: Buffer, b: Buffer, bOffset: number): void {
  const n = out.length;
  let j = 0;
  const bStart = b.byteOffset + bOffset;
  if (((out.byteOffset | a.byteOffset | bStart) & 3) === 0) {
    const words = n >> 2;
    const o32 = new Uint32Array(out.buffer, out.byteOffset, words);
    const a32 = new Uint32Array(a.buffer, a.byteOffset, words);
    const b32 = new Uint32Array(b.buffer, bStart, words);
    for (let k = 0; k < words; k++) o32[k] = (a32[k] as number) ^ (b32[k] as number);
    j = words << 2;
  }
  for (; j < n; j++) out[j] = (a[j] as number) ^ (b[bOffset + j] as number);
}

const GCM_TAG_BYTES = 16;
const HMAC_TAG_BYTES = 10;

export class SrtpProtector {
  readonly profile: SrtpProfileName;
  /** Bytes the protection adds after the payload. */
  readonly tagBytes: number;
  private readonly key: Buffer;
  private readonly salt: Buffer;
  private readonly authKey: Buffer | null;
  /** Per-packet IV/counter scratch (createCipheriv copies it, so one buffer serves every packet). */
  private readonly iv: Buffer;
  private readonly rocBytes = Buffer.alloc(4);
  /** AES-CM: one AES-ECB context for every packet's keystream (null for GCM). */
  private readonly ecb: Cipher | null;

  constructor(k: SrtpSessionKeys) {
    if (k.key.length !== 16) throw new Error(`SRTP session key must be 16 bytes, got ${k.key.length}`);
    this.profile = k.profile;
    this.key = Buffer.from(k.key);
    if (k.profile === "aes128-gcm") {
      if (k.salt.length < 12) throw new Error(`SRTP GCM salt must be at least 12 bytes, got ${k.salt.length}`);
      this.salt = Buffer.from(k.salt.subarray(0, 12));
      this.authKey = null;
      this.tagBytes = GCM_TAG_BYTES;
      this.iv = Buffer.alloc(12);
      this.ecb = null;
    } else {
      if (k.salt.length < 14) throw new Error(`SRTP AES-CM salt must be at least 14 bytes, got ${k.salt.length}`);
      if (!k.authKey || k.authKey.length !== 20) throw new Error("SRTP AES-CM needs a 20-byte authentication key");
      this.salt = Buffer.from(k.salt.subarray(0, 14));
      this.authKey = Buffer.from(k.authKey);
      this.tagBytes = HMAC_TAG_BYTES;
      this.iv = Buffer.alloc(16);
      this.ecb = createCipheriv("aes-128-ecb", this.key, null);
      this.ecb.setAutoPadding(false);
    }
  }

  /**
   * Protects the packets of one access unit: packet i is `headers[12i, 12i + 12)` with `payloads[i]` and rollover
   * counter `firstRoc`, plus one from the packet whose sequence number wrapped to 0. For AES-CM the keystream of all
   * packets comes from one AES-ECB call over their counter blocks (one cipher object per writer instead of one per
   * packet); GCM needs a cipher per packet (Node cannot re-IV one).
   */
  protectAll(headers: Buffer, payloads: readonly Buffer[], firstRoc: number): [Buffer, Buffer, Buffer][] {
    const out: [Buffer, Buffer, Buffer][] = new Array(payloads.length);
    let roc = firstRoc >>> 0;
    if (this.ecb === null) {
      for (let i = 0; i < payloads.length; i++) {
        const header = headers.subarray(i * 12, i * 12 + 12);
        if (i > 0 && header.readUInt16BE(2) === 0) roc = (roc + 1) >>> 0;
        out[i] = this.protect(header, payloads[i] as Buffer, roc);
      }
      return out;
    }
    let blocks = 0;
    for (const p of payloads) blocks += (p.length + 15) >> 4;
    // Counter blocks written as 32-bit words (host order, as the IV's bytes read through a Uint32Array): the
    // blocks of one packet are its IV with the block index in the last 16 bits, big-endian (§4.1.1).
    const words = new Uint32Array(blocks << 2);
    const ivWords = new Uint32Array(this.iv.buffer, this.iv.byteOffset, 4);
    const littleEndian = LITTLE_ENDIAN;
    const rocs = new Uint32Array(payloads.length);
    const headerOf: Buffer[] = new Array(payloads.length);
    for (let i = 0, w = 0; i < payloads.length; i++) {
      const header = headers.subarray(i * 12, i * 12 + 12);
      headerOf[i] = header;
      if (i > 0 && header.readUInt16BE(2) === 0) roc = (roc + 1) >>> 0;
      rocs[i] = roc;
      this.counterBase(header, roc);
      const [w0, w1, w2, w3] = [ivWords[0] as number, ivWords[1] as number, ivWords[2] as number, ivWords[3] as number];
      const n = ((payloads[i] as Buffer).length + 15) >> 4;
      for (let b = 0; b < n; b++, w += 4) {
        words[w] = w0;
        words[w + 1] = w1;
        words[w + 2] = w2;
        // bytes 14..15 of the IV are zero (the salt is 14 bytes), so the index is OR-ed in.
        words[w + 3] = littleEndian ? (w3 | ((b >> 8) << 16) | ((b & 0xff) << 24)) >>> 0 : (w3 | b) >>> 0;
      }
    }
    const keystream = this.ecb.update(Buffer.from(words.buffer, words.byteOffset, words.byteLength));
    for (let i = 0, o = 0; i < payloads.length; i++) {
      const payload = payloads[i] as Buffer;
      const enc = Buffer.allocUnsafe(payload.length);
      xorInto(enc, payload, keystream, o);
      o += ((payload.length + 15) >> 4) << 4;
      const header = headerOf[i] as Buffer;
      out[i] = [header, enc, this.hmacTag(header, enc, rocs[i] as number)];
    }
    return out;
  }

  /**
   * Protects one packet. `header` is its plain 12-byte RTP header (SSRC and sequence number are read from it),
   * `roc` the rollover counter of that sequence number. Returns `[header, encrypted payload, tag]`; `header` is the
   * caller's buffer, unchanged (it is authenticated, not encrypted).
   */
  protect(header: Buffer, payload: Buffer, roc: number): [Buffer, Buffer, Buffer] {
    const iv = this.iv;
    if (this.authKey === null) {
      const ssrc = header.readUInt32BE(8);
      const seq = header.readUInt16BE(2);
      // RFC 7714 §8.1: 00 00 || SSRC || ROC || SEQ, XOR the 12-byte salt. The header is the AAD.
      iv.writeUInt16BE(0, 0);
      iv.writeUInt32BE(ssrc, 2);
      iv.writeUInt32BE(roc >>> 0, 6);
      iv.writeUInt16BE(seq, 10);
      for (let i = 0; i < 12; i++) iv[i] = (iv[i] as number) ^ (this.salt[i] as number);
      const c = createCipheriv("aes-128-gcm", this.key, iv);
      c.setAAD(header);
      const enc = c.update(payload);
      c.final();
      return [header, enc, c.getAuthTag()];
    }
    this.counterBase(header, roc);
    const enc = createCipheriv("aes-128-ctr", this.key, iv).update(payload);
    return [header, enc, this.hmacTag(header, enc, roc)];
  }

  /** RFC 3711 §4.1.1 into `this.iv`: (salt << 16) XOR (SSRC << 64) XOR (index << 16), index = ROC || SEQ. */
  private counterBase(header: Buffer, roc: number): void {
    const iv = this.iv;
    iv.fill(0);
    iv.writeUInt32BE(header.readUInt32BE(8), 4);
    iv.writeUInt32BE(roc >>> 0, 8);
    iv.writeUInt16BE(header.readUInt16BE(2), 12);
    for (let i = 0; i < 14; i++) iv[i] = (iv[i] as number) ^ (this.salt[i] as number);
  }

  /** §4.2: HMAC-SHA1 over the authenticated portion (header + encrypted payload) and the ROC, cut to 80 bits. */
  private hmacTag(header: Buffer, enc: Buffer, roc: number): Buffer {
    this.rocBytes.writeUInt32BE(roc >>> 0, 0);
    return createHmac("sha1", this.authKey as Buffer).update(header).update(enc).update(this.rocBytes).digest().subarray(0, HMAC_TAG_BYTES);
  }
}
