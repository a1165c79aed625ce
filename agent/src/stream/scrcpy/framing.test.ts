import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { demuxScrcpyVideo, ScrcpyProtocolError, ScrcpyVideoDemuxer, type ScrcpyVideoPacket } from "./framing.js";

const H264 = 0x68323634;

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/** 12-byte media header; `v` selects the flag layout. */
function mediaHeader(v: 3 | 4, o: { config?: boolean; key?: boolean; pts: bigint; size: number }): Buffer {
  const cfgBit = v === 3 ? 63n : 62n;
  const keyBit = v === 3 ? 62n : 61n;
  let word = o.pts;
  if (o.config) word |= 1n << cfgBit;
  if (o.key) word |= 1n << keyBit;
  const b = Buffer.alloc(12);
  b.writeBigUInt64BE(word);
  b.writeUInt32BE(o.size, 8);
  return b;
}

function sessionPacket(width: number, height: number, resized = false): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 0x80;
  b[3] = resized ? 1 : 0;
  b.writeUInt32BE(width, 4);
  b.writeUInt32BE(height, 8);
  return b;
}

function deviceName(name: string): Buffer {
  const b = Buffer.alloc(64);
  b.write(name, "utf8");
  return b;
}

const config = Buffer.from("0000000167420c1fdeadbeef0000000168ce3c80", "hex");
const frames = [randomBytes(5000), randomBytes(100), randomBytes(70_000), Buffer.alloc(0)];

function v3Stream(): Buffer {
  return Buffer.concat([
    Buffer.from([0]),
    deviceName("Pixel-emu"),
    u32(H264),
    u32(720),
    u32(1280),
    mediaHeader(3, { config: true, pts: 0n, size: config.length }),
    config,
    mediaHeader(3, { key: true, pts: 123456n, size: frames[0]!.length }),
    frames[0]!,
    mediaHeader(3, { pts: 156789n, size: frames[1]!.length }),
    frames[1]!,
    // A PTS above 2^32 µs checks the high word.
    mediaHeader(3, { pts: 0x1_2345_6789n, size: frames[2]!.length }),
    frames[2]!,
    mediaHeader(3, { pts: 0x1_2345_6790n, size: 0 }),
  ]);
}

function v4Stream(): Buffer {
  return Buffer.concat([
    Buffer.from([0]),
    u32(H264),
    sessionPacket(720, 1280),
    mediaHeader(4, { config: true, pts: 0n, size: config.length }),
    config,
    mediaHeader(4, { key: true, pts: 123456n, size: frames[0]!.length }),
    frames[0]!,
    sessionPacket(1280, 720, true),
    mediaHeader(4, { config: true, pts: 150000n, size: config.length }),
    config,
    mediaHeader(4, { pts: 156789n, key: true, size: frames[1]!.length }),
    frames[1]!,
    mediaHeader(4, { pts: 0x1_2345_6789n, size: frames[2]!.length }),
    frames[2]!,
  ]);
}

const expectedV3: ScrcpyVideoPacket[] = [
  { kind: "session", width: 720, height: 1280, clientResized: false },
  { kind: "config", keyframe: false, ptsUs: 0, data: config },
  { kind: "frame", keyframe: true, ptsUs: 123456, data: frames[0]! },
  { kind: "frame", keyframe: false, ptsUs: 156789, data: frames[1]! },
  { kind: "frame", keyframe: false, ptsUs: 0x1_2345_6789, data: frames[2]! },
  { kind: "frame", keyframe: false, ptsUs: 0x1_2345_6790, data: Buffer.alloc(0) },
];

const expectedV4: ScrcpyVideoPacket[] = [
  { kind: "session", width: 720, height: 1280, clientResized: false },
  { kind: "config", keyframe: false, ptsUs: 0, data: config },
  { kind: "frame", keyframe: true, ptsUs: 123456, data: frames[0]! },
  { kind: "session", width: 1280, height: 720, clientResized: true },
  { kind: "config", keyframe: false, ptsUs: 150000, data: config },
  { kind: "frame", keyframe: true, ptsUs: 156789, data: frames[1]! },
  { kind: "frame", keyframe: false, ptsUs: 0x1_2345_6789, data: frames[2]! },
];

/** Buffers compared by digest: deep equality over 70 KB buffers is slow in vitest. */
function norm(pkts: ScrcpyVideoPacket[]): unknown[] {
  return pkts.map((p) => ("data" in p ? { ...p, data: `${p.data.length}:${createHash("sha1").update(p.data).digest("hex")}` } : p));
}

/** Feeds `stream` cut at random points (including 1-byte pieces) and collects the packets. */
function feedRandomly(d: ScrcpyVideoDemuxer, stream: Buffer, seed: number): ScrcpyVideoPacket[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const out: ScrcpyVideoPacket[] = [];
  for (let pos = 0; pos < stream.length; ) {
    const r = rnd();
    const n = r < 0.3 ? 1 : r < 0.6 ? 1 + Math.floor(rnd() * 16) : 1 + Math.floor(rnd() * 20_000);
    // Copy, like a socket would deliver fresh buffers.
    out.push(...d.push(Buffer.from(stream.subarray(pos, pos + n))));
    pos += n;
  }
  d.end();
  return out;
}

describe("scrcpy video demuxer", () => {
  it("parses 3.x framing (dummy byte, device name, codec meta, CONFIG bit 63, KEY bit 62)", () => {
    const d = new ScrcpyVideoDemuxer({ version: "3.3.4", dummyByte: true, deviceMeta: true });
    expect(norm(d.push(v3Stream()))).toEqual(norm(expectedV3));
    d.end();
    expect(d.deviceName).toBe("Pixel-emu");
    expect([d.width, d.height]).toEqual([720, 1280]);
  });

  it("parses 4.x framing (codec id only, session packets, CONFIG bit 62, KEY bit 61)", () => {
    const d = new ScrcpyVideoDemuxer({ version: "4.1", dummyByte: true, deviceMeta: false });
    expect(norm(d.push(v4Stream()))).toEqual(norm(expectedV4));
    expect([d.width, d.height]).toEqual([1280, 720]);
    d.end();
  });

  it("gives the same packets for 500 random chunkings of each framing", () => {
    const s3 = v3Stream();
    const s4 = v4Stream();
    const e3 = JSON.stringify(norm(expectedV3));
    const e4 = JSON.stringify(norm(expectedV4));
    for (let seed = 1; seed <= 250; seed++) {
      expect(JSON.stringify(norm(feedRandomly(new ScrcpyVideoDemuxer({ version: "3.3.4", dummyByte: true, deviceMeta: true }), s3, seed)))).toBe(e3);
      expect(JSON.stringify(norm(feedRandomly(new ScrcpyVideoDemuxer({ version: "4.1", dummyByte: true, deviceMeta: false }), s4, seed)))).toBe(e4);
    }
  });

  it("works without dummy byte and device meta, and as an async iterator over a socket-like source", async () => {
    const stream = v3Stream().subarray(1 + 64);
    async function* chunks() {
      for (let i = 0; i < stream.length; i += 777) yield stream.subarray(i, i + 777);
    }
    const got: ScrcpyVideoPacket[] = [];
    for await (const p of demuxScrcpyVideo(chunks(), { version: "3.3.4", dummyByte: false, deviceMeta: false })) got.push(p);
    expect(norm(got)).toEqual(norm(expectedV3));
  });

  it("refuses oversize packets before buffering them", () => {
    const d = new ScrcpyVideoDemuxer({ version: "4.1", dummyByte: false, deviceMeta: false, maxPacketBytes: 1024 });
    const s = Buffer.concat([u32(H264), mediaHeader(4, { pts: 1n, size: 1025 })]);
    expect(() => d.push(s)).toThrow(new ScrcpyProtocolError("video packet of 1025 bytes exceeds the limit of 1024 bytes"));
    expect(() => d.push(Buffer.alloc(1))).toThrow("demuxer already failed");
    const dflt = new ScrcpyVideoDemuxer({ version: "3.3.4", dummyByte: false, deviceMeta: false });
    const big = Buffer.concat([u32(H264), u32(720), u32(1280), mediaHeader(3, { pts: 1n, size: 8 * 1024 * 1024 + 1 })]);
    expect(() => dflt.push(big)).toThrow("video packet of 8388609 bytes exceeds the limit of 8388608 bytes");
  });

  it("names unknown, unsupported, disabled and errored codecs precisely", () => {
    const cases: [number, string][] = [
      [0x68323635, "unsupported video codec h265 (0x68323635); only h264 is supported"],
      [0x00617631, "unsupported video codec av1 (0x00617631); only h264 is supported"],
      [0x12345678, "unknown video codec id 0x12345678"],
      [0, "video stream disabled by the server (codec id 0)"],
      [1, "the server reported a video capture error (codec id 1)"],
    ];
    for (const [id, msg] of cases) {
      const d = new ScrcpyVideoDemuxer({ version: "4.1", dummyByte: false, deviceMeta: false });
      expect(() => d.push(u32(id))).toThrow(msg);
    }
  });

  it("rejects a non-zero dummy byte, a truncated stream and unsupported versions", () => {
    expect(() => new ScrcpyVideoDemuxer({ version: "3.3.4", dummyByte: true, deviceMeta: false }).push(Buffer.from([7]))).toThrow(
      "expected dummy byte 0x00, got 0x07",
    );
    const d = new ScrcpyVideoDemuxer({ version: "3.3.4", dummyByte: false, deviceMeta: false });
    d.push(Buffer.concat([u32(H264), u32(720), u32(1280), mediaHeader(3, { pts: 1n, size: 10 }), Buffer.alloc(4)]));
    expect(() => d.end()).toThrow("video stream ended inside a packet (4 bytes pending)");
    expect(() => new ScrcpyVideoDemuxer({ version: "1.25", dummyByte: false, deviceMeta: false })).toThrow(
      'unsupported scrcpy server version "1.25"',
    );
  });

  it("does not treat a 3.x CONFIG header as a 4.x session packet (framing is by version)", () => {
    const d = new ScrcpyVideoDemuxer({ version: "3.0", dummyByte: false, deviceMeta: false });
    const pkts = d.push(Buffer.concat([u32(H264), u32(1), u32(2), Buffer.from("800000000000000000000002", "hex"), Buffer.from("abcd", "hex")]));
    expect(pkts[1]).toEqual({ kind: "config", keyframe: false, ptsUs: 0, data: Buffer.from("abcd", "hex") });
  });
});
