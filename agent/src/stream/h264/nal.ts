/**
 * H.264 Annex-B elementary stream helpers (ITU-T H.264 §7.3, Annex B): start-code splitting, NAL unit types,
 * access-unit grouping and SPS parsing (size, profile, level) for SDP `profile-level-id`. Pure, no I/O.
 */

export const NalType = {
  SLICE: 1,
  IDR: 5,
  SEI: 6,
  SPS: 7,
  PPS: 8,
  AUD: 9,
  END_OF_SEQUENCE: 10,
  END_OF_STREAM: 11,
  FILLER: 12,
} as const;

export function nalType(nal: Uint8Array): number {
  return (nal[0] ?? 0) & 0x1f;
}

/** VCL NAL units (coded slices) carry the picture; everything else is parameter sets, SEI, delimiters. */
export function isVcl(type: number): boolean {
  return type >= 1 && type <= 5;
}

const START_CODE = Buffer.from([0, 0, 1]);

/**
 * Splits an Annex-B buffer into NAL units (without start codes). Accepts 3- and 4-byte start codes; the zero
 * byte of a 4-byte start code (and any trailing_zero_8bits) is stripped from the preceding NAL, which is safe
 * because a NAL unit never ends in 0x00 (rbsp_trailing_bits / cabac_zero_word end in non-zero bytes).
 * Bytes before the first start code are ignored. Returned buffers are views into `buf` (no copy).
 */
export function splitAnnexB(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = buf.indexOf(START_CODE);
  if (start < 0) return out;
  start += 3;
  for (;;) {
    const next = buf.indexOf(START_CODE, start);
    const end = next < 0 ? buf.length : next;
    let e = end;
    while (e > start && buf[e - 1] === 0) e--;
    if (e > start) out.push(buf.subarray(start, e));
    if (next < 0) return out;
    start = next + 3;
  }
}

/** Joins NAL units into Annex-B with 4-byte start codes. */
export function joinAnnexB(nals: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (const n of nals) size += 4 + n.length;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const n of nals) {
    out.writeUInt32BE(1, o);
    out.set(n, o + 4);
    o += 4 + n.length;
  }
  return out;
}

/**
 * Incremental Annex-B splitter for a raw byte stream (e.g. `screenrecord --output-format=h264` stdout): a NAL is
 * complete once the next start code arrives; `flush()` returns the last one at end of stream. Bytes accumulate in
 * one growable buffer (amortised O(n), no re-concatenation per chunk); `maxNalBytes` bounds a NAL so a corrupt
 * stream cannot grow memory without limit. Returned NALs are copies (the buffer is reused).
 */
export class AnnexBStreamSplitter {
  private buf: Buffer = Buffer.allocUnsafe(64 * 1024);
  private len = 0;
  /** Start of the current NAL (just after its start code), or -1 before the first start code. */
  private nalStart = -1;
  /** Where the next start-code search begins (a start code may straddle two chunks). */
  private scanFrom = 0;

  constructor(private readonly maxNalBytes = 8 * 1024 * 1024) {}

  push(chunk: Uint8Array): Buffer[] {
    if (this.len + chunk.length > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + chunk.length));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    this.buf.set(chunk, this.len);
    this.len += chunk.length;
    const view = this.buf.subarray(0, this.len);
    const out: Buffer[] = [];
    for (;;) {
      const idx = view.indexOf(START_CODE, this.scanFrom);
      if (idx < 0) break;
      if (this.nalStart >= 0) {
        let e = idx;
        while (e > this.nalStart && view[e - 1] === 0) e--;
        if (e > this.nalStart) out.push(Buffer.from(view.subarray(this.nalStart, e)));
      }
      this.nalStart = idx + 3;
      this.scanFrom = this.nalStart;
    }
    this.scanFrom = Math.max(this.scanFrom, this.len - 2);
    // Keep only what is still needed at the front: the current NAL, or the last 2 bytes before any start code.
    const keepFrom = this.nalStart >= 0 ? this.nalStart : Math.max(0, this.len - 2);
    if (keepFrom > 0) {
      this.buf.copy(this.buf, 0, keepFrom, this.len);
      this.len -= keepFrom;
      this.scanFrom -= keepFrom;
      if (this.nalStart >= 0) this.nalStart = 0;
    }
    if (this.nalStart >= 0 && this.len > this.maxNalBytes) {
      throw new RangeError(`H.264 NAL unit exceeds ${this.maxNalBytes} bytes without a following start code`);
    }
    return out;
  }

  /** The final NAL (the stream ended, so no start code will follow it). */
  flush(): Buffer[] {
    const out: Buffer[] = [];
    if (this.nalStart >= 0) {
      let e = this.len;
      while (e > this.nalStart && this.buf[e - 1] === 0) e--;
      if (e > this.nalStart) out.push(Buffer.from(this.buf.subarray(this.nalStart, e)));
    }
    this.len = 0;
    this.nalStart = -1;
    this.scanFrom = 0;
    return out;
  }
}

/**
 * Groups a NAL sequence into access units (§7.4.1.2.3): a new AU starts at an AUD, SPS, PPS or SEI that follows a
 * VCL NAL of the current AU, or at a VCL NAL whose first_mb_in_slice is 0 when the current AU already has a VCL NAL.
 * (first_mb_in_slice == 0 is ue(v) "1", i.e. the first bit of the slice header is set.) Incremental: `push` returns
 * the AUs completed by this NAL; `flush` the last one.
 */
export class AccessUnitGrouper {
  private current: Buffer[] = [];
  private hasVcl = false;

  push(nal: Buffer): Buffer[][] {
    const t = nalType(nal);
    let startsNew = false;
    if (this.hasVcl) {
      if (t === NalType.AUD || t === NalType.SPS || t === NalType.PPS || t === NalType.SEI || (t >= 14 && t <= 18)) startsNew = true;
      else if (isVcl(t) && nal.length > 1 && ((nal[1] ?? 0) & 0x80) !== 0) startsNew = true;
    }
    const done: Buffer[][] = [];
    if (startsNew) {
      done.push(this.current);
      this.current = [];
      this.hasVcl = false;
    }
    this.current.push(nal);
    if (isVcl(t)) this.hasVcl = true;
    return done;
  }

  flush(): Buffer[][] {
    const rest = this.current;
    this.current = [];
    this.hasVcl = false;
    return rest.length > 0 ? [rest] : [];
  }
}

/** Convenience: a whole Annex-B buffer to access units (lists of NAL views). */
export function splitAccessUnits(buf: Buffer): Buffer[][] {
  const g = new AccessUnitGrouper();
  const out: Buffer[][] = [];
  for (const nal of splitAnnexB(buf)) out.push(...g.push(nal));
  out.push(...g.flush());
  return out;
}

/** Removes emulation-prevention bytes (00 00 03 → 00 00) to get the RBSP (§7.4.1). */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  let zeros = 0;
  let needs = false;
  for (let i = 0; i < nal.length; i++) {
    const b = nal[i] as number;
    if (zeros >= 2 && b === 3) {
      needs = true;
      break;
    }
    zeros = b === 0 ? zeros + 1 : 0;
  }
  if (!needs) return nal;
  const out = new Uint8Array(nal.length);
  let o = 0;
  zeros = 0;
  for (let i = 0; i < nal.length; i++) {
    const b = nal[i] as number;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, o);
}

/** MSB-first bit reader with Exp-Golomb decoding (§9.1). */
class BitReader {
  private bit = 0;
  constructor(private readonly data: Uint8Array) {}

  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.data[this.bit >> 3];
      if (byte === undefined) throw new RangeError("SPS truncated");
      v = v * 2 + ((byte >> (7 - (this.bit & 7))) & 1);
      this.bit++;
    }
    return v;
  }

  flag(): boolean {
    return this.u(1) === 1;
  }

  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      if (++zeros > 31) throw new RangeError("SPS: invalid Exp-Golomb code");
    }
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

export interface SpsInfo {
  profileIdc: number;
  /** constraint_set0..5 flags + reserved bits: the second byte of profile-level-id. */
  constraintFlags: number;
  levelIdc: number;
  spsId: number;
  chromaFormatIdc: number;
  /** Display size after frame cropping. */
  width: number;
  height: number;
  /** Six lower-case hex digits for the SDP fmtp `profile-level-id` (RFC 6184 §8.1). */
  profileLevelId: string;
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** Parses a sequence parameter set NAL (with its header byte) per §7.3.2.1.1. */
export function parseSps(nal: Uint8Array): SpsInfo {
  if (nalType(nal) !== NalType.SPS) throw new Error(`not an SPS NAL (type ${nalType(nal)})`);
  const r = new BitReader(unescapeRbsp(nal).subarray(1));
  const profileIdc = r.u(8);
  const constraintFlags = r.u(8);
  const levelIdc = r.u(8);
  const spsId = r.ue();
  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) separateColourPlane = r.flag();
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.flag(); // qpprime_y_zero_transform_bypass_flag
    if (r.flag()) {
      // seq_scaling_matrix_present_flag: 8 lists (12 for 4:4:4), 4x4 then 8x8
      const n = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < n; i++) if (r.flag()) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    r.flag(); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    for (let i = 0; i < cycle; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.flag(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.flag();
  if (!frameMbsOnly) r.flag(); // mb_adaptive_frame_field_flag
  r.flag(); // direct_8x8_inference_flag
  let cropLeft = 0;
  let cropRight = 0;
  let cropTop = 0;
  let cropBottom = 0;
  if (r.flag()) {
    cropLeft = r.ue();
    cropRight = r.ue();
    cropTop = r.ue();
    cropBottom = r.ue();
  }
  // Crop units (§7.4.2.1.1, Table 6-1): depend on ChromaArrayType and field coding.
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 3 ? 1 : 2;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const fieldFactor = frameMbsOnly ? 1 : 2;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = chromaArrayType === 0 ? fieldFactor : subHeightC * fieldFactor;
  const width = widthMbs * 16 - cropUnitX * (cropLeft + cropRight);
  const height = fieldFactor * heightMapUnits * 16 - cropUnitY * (cropTop + cropBottom);
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return {
    profileIdc,
    constraintFlags,
    levelIdc,
    spsId,
    chromaFormatIdc,
    width,
    height,
    profileLevelId: hex(profileIdc) + hex(constraintFlags) + hex(levelIdc),
  };
}
