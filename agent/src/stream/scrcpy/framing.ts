import { scrcpyFraming, type ScrcpyFraming } from "./options.js";

/**
 * Incremental demuxer for the scrcpy video socket (all integers big-endian).
 *
 * 2.x/3.x: [dummy 0x00]? [device name, 64 B]? [codec u32][width u32][height u32]
 *          then packets: [u64: bit63 CONFIG | bit62 KEY | PTS µs (62 bits)][size u32][Annex-B bytes]
 * 4.x:     [dummy 0x00]? [device name, 64 B]? [codec u32]
 *          then 12-byte records: session packet when bit 63 is set ([0x80 0 0 R][width u32][height u32], R = client
 *          resized), otherwise media packet [u64: 0 | bit62 CONFIG | bit61 KEY | PTS (61 bits)][size u32][bytes].
 * The framing is chosen by the pinned server version, never guessed from the bytes.
 */

export const CODEC_H264 = 0x68323634;
const KNOWN_UNSUPPORTED: Record<number, string> = {
  0x68323635: "h265",
  0x00617631: "av1",
  0x00767038: "vp8",
  0x00767039: "vp9",
};
export const DEFAULT_MAX_PACKET_BYTES = 8 * 1024 * 1024;
const DEVICE_NAME_BYTES = 64;

export type ScrcpyVideoPacket =
  /** Capture session (start, rotation, resize): control messages must use this size from now on. */
  | { kind: "session"; width: number; height: number; clientResized: boolean }
  /** Codec configuration (SPS+PPS for H.264). */
  | { kind: "config"; keyframe: boolean; ptsUs: number; data: Buffer }
  /** One encoded frame (one access unit, Annex-B). */
  | { kind: "frame"; keyframe: boolean; ptsUs: number; data: Buffer };

export interface ScrcpyVideoDemuxerOptions {
  /** Server version the agent started (e.g. "3.3.4", "4.1"); selects the framing. */
  version: string;
  /** A dummy byte precedes everything (first socket of a forward tunnel, send_dummy_byte=true). */
  dummyByte: boolean;
  /** A 64-byte device name follows (send_device_meta=true). */
  deviceMeta: boolean;
  /** Larger packets are refused (protects memory against a corrupt or hostile stream). */
  maxPacketBytes?: number;
}

export class ScrcpyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScrcpyProtocolError";
  }
}

type State = "dummy" | "name" | "codec" | "header" | "payload" | "failed";

/** FIFO of received chunks; reads are zero-copy when they fall inside one chunk. */
class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  read(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      this.length -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const c = this.chunks[0] as Buffer;
      const take = Math.min(n - o, c.length - this.head);
      c.copy(out, o, this.head, this.head + take);
      o += take;
      this.head += take;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.length -= n;
    return out;
  }
}

export class ScrcpyVideoDemuxer {
  readonly framing: ScrcpyFraming;
  private readonly maxPacketBytes: number;
  private readonly deviceMeta: boolean;
  private readonly queue = new ByteQueue();
  private state: State;
  private pending: { config: boolean; keyframe: boolean; ptsUs: number; size: number } | null = null;
  /** Device name when send_device_meta was on, after it was read. */
  deviceName: string | null = null;
  /** Current video size (from the v3 codec meta or the latest v4 session packet). */
  width = 0;
  height = 0;

  constructor(opts: ScrcpyVideoDemuxerOptions) {
    this.framing = scrcpyFraming(opts.version);
    this.maxPacketBytes = opts.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
    this.deviceMeta = opts.deviceMeta;
    this.state = opts.dummyByte ? "dummy" : opts.deviceMeta ? "name" : "codec";
  }

  /** Feeds bytes as they arrive (any chunking); returns the packets completed by them. Throws on a protocol error. */
  push(chunk: Uint8Array): ScrcpyVideoPacket[] {
    if (this.state === "failed") throw new ScrcpyProtocolError("demuxer already failed");
    this.queue.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    const out: ScrcpyVideoPacket[] = [];
    try {
      while (this.step(out));
    } catch (err) {
      this.state = "failed";
      throw err;
    }
    return out;
  }

  /** The socket ended: fine between packets, an error inside one (or before the stream header). */
  end(): void {
    if (this.state === "header" && this.queue.length === 0) return;
    if (this.state === "failed") return;
    const where = this.state === "payload" ? "inside a packet" : this.state === "header" ? "inside a packet header" : "before the stream header";
    this.state = "failed";
    throw new ScrcpyProtocolError(`video stream ended ${where} (${this.queue.length} bytes pending)`);
  }

  /** One parsing step; false when more bytes are needed. */
  private step(out: ScrcpyVideoPacket[]): boolean {
    const q = this.queue;
    switch (this.state) {
      case "dummy": {
        if (q.length < 1) return false;
        const b = q.read(1)[0] as number;
        if (b !== 0) throw new ScrcpyProtocolError(`expected dummy byte 0x00, got 0x${b.toString(16).padStart(2, "0")}`);
        this.state = this.deviceMeta ? "name" : "codec";
        return true;
      }
      case "name": {
        if (q.length < DEVICE_NAME_BYTES) return false;
        const raw = q.read(DEVICE_NAME_BYTES);
        const nul = raw.indexOf(0);
        this.deviceName = raw.toString("utf8", 0, nul < 0 ? raw.length : nul);
        this.state = "codec";
        return true;
      }
      case "codec": {
        const need = this.framing === 3 ? 12 : 4;
        if (q.length < need) return false;
        const meta = q.read(need);
        checkCodec(meta.readUInt32BE(0));
        if (this.framing === 3) {
          this.width = meta.readUInt32BE(4);
          this.height = meta.readUInt32BE(8);
          out.push({ kind: "session", width: this.width, height: this.height, clientResized: false });
        }
        this.state = "header";
        return true;
      }
      case "header": {
        if (q.length < 12) return false;
        const h = q.read(12);
        const hi = h.readUInt32BE(0);
        const lo = h.readUInt32BE(4);
        if (this.framing === 4 && hi & 0x8000_0000) {
          this.width = h.readUInt32BE(4);
          this.height = h.readUInt32BE(8);
          out.push({ kind: "session", width: this.width, height: this.height, clientResized: (hi & 1) === 1 });
          return true;
        }
        const size = h.readUInt32BE(8);
        if (size > this.maxPacketBytes) {
          throw new ScrcpyProtocolError(`video packet of ${size} bytes exceeds the limit of ${this.maxPacketBytes} bytes`);
        }
        // v3: bit63 CONFIG, bit62 KEY, 62-bit PTS. v4: bit63 0, bit62 CONFIG, bit61 KEY, 61-bit PTS.
        const config = this.framing === 3 ? (hi & 0x8000_0000) !== 0 : (hi & 0x4000_0000) !== 0;
        const keyframe = this.framing === 3 ? (hi & 0x4000_0000) !== 0 : (hi & 0x2000_0000) !== 0;
        const ptsHi = this.framing === 3 ? hi & 0x3fff_ffff : hi & 0x1fff_ffff;
        if (ptsHi >= 0x20_0000) throw new ScrcpyProtocolError(`video PTS out of range (high word 0x${ptsHi.toString(16)})`);
        this.pending = { config, keyframe, ptsUs: ptsHi * 0x1_0000_0000 + lo, size };
        this.state = "payload";
        return true;
      }
      case "payload": {
        const p = this.pending as NonNullable<typeof this.pending>;
        if (q.length < p.size) return false;
        const data = p.size === 0 ? Buffer.alloc(0) : q.read(p.size);
        out.push({ kind: p.config ? "config" : "frame", keyframe: p.keyframe, ptsUs: p.ptsUs, data });
        this.pending = null;
        this.state = "header";
        return true;
      }
      case "failed":
        return false;
    }
  }
}

function checkCodec(id: number): void {
  if (id === CODEC_H264) return;
  if (id === 0) throw new ScrcpyProtocolError("video stream disabled by the server (codec id 0)");
  if (id === 1) throw new ScrcpyProtocolError("the server reported a video capture error (codec id 1)");
  const hex = `0x${id.toString(16).padStart(8, "0")}`;
  const name = KNOWN_UNSUPPORTED[id];
  if (name) throw new ScrcpyProtocolError(`unsupported video codec ${name} (${hex}); only h264 is supported`);
  throw new ScrcpyProtocolError(`unknown video codec id ${hex}`);
}

/** Demuxes a readable socket (any async iterable of bytes, e.g. a Node `Duplex`) into packets. */
export async function* demuxScrcpyVideo(
  source: AsyncIterable<Uint8Array>,
  opts: ScrcpyVideoDemuxerOptions,
): AsyncGenerator<ScrcpyVideoPacket, void, undefined> {
  const demuxer = new ScrcpyVideoDemuxer(opts);
  for await (const chunk of source) yield* demuxer.push(chunk);
  demuxer.end();
}
