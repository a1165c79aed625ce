import { describe, expect, it } from "vitest";
import type { PacketizedAccessUnit } from "../h264/packetizer.js";
import { parseRtpHeader, RTP_HEADER_BYTES, ViewerRtpStream, writeRtpHeader } from "./viewer.js";

const au = (n: number, timestamp: number): PacketizedAccessUnit => ({
  timestamp,
  ptsUs: 0,
  keyframe: false,
  payloads: Array.from({ length: n }, (_, i) => Buffer.from([0x41, i])),
});

describe("ViewerRtpStream", () => {
  it("writes a 12-byte RTP v2 header", () => {
    const b = Buffer.alloc(12);
    writeRtpHeader(b, 0, { payloadType: 102, sequenceNumber: 0x1234, timestamp: 0xdeadbeef, marker: true, ssrc: 0xcafebabe });
    expect(b.toString("hex")).toBe("80e61234deadbeefcafebabe");
    expect(parseRtpHeader(b)).toEqual({ payloadType: 102, sequenceNumber: 0x1234, timestamp: 0xdeadbeef, marker: true, ssrc: 0xcafebabe, headerBytes: 12 });
  });

  it("numbers packets contiguously across access units with a 16-bit wrap; marker on each AU's last packet", () => {
    const v = new ViewerRtpStream({ ssrc: 7, payloadType: 96, initialSequence: 65534 });
    const seen: { seq: number; marker: boolean; ts: number }[] = [];
    for (const [i, n] of [3, 1, 2].entries()) v.forEach(au(n, 1000 * i), (h) => seen.push({ seq: h.sequenceNumber, marker: h.marker, ts: h.timestamp }));
    expect(seen).toEqual([
      { seq: 65534, marker: false, ts: 0 },
      { seq: 65535, marker: false, ts: 0 },
      { seq: 0, marker: true, ts: 0 },
      { seq: 1, marker: true, ts: 1000 },
      { seq: 2, marker: false, ts: 2000 },
      { seq: 3, marker: true, ts: 2000 },
    ]);
    expect(v.nextSequence).toBe(4);
    expect(v.packets).toBe(6);
  });

  it("shares payloads between viewers; only the headers differ", () => {
    const shared = au(4, 90_000);
    const a = new ViewerRtpStream({ ssrc: 1, initialSequence: 10 });
    const b = new ViewerRtpStream({ ssrc: 2, payloadType: 102, initialSequence: 500 });
    const pa: Buffer[] = [];
    const pb: Buffer[] = [];
    a.forEach(shared, (_h, p) => pa.push(p));
    b.forEach(shared, (_h, p) => pb.push(p));
    for (let i = 0; i < 4; i++) expect(pa[i]).toBe(pb[i]);
    const block = new ViewerRtpStream({ ssrc: 3, payloadType: 100, initialSequence: 0xffff }).headerBlock(shared);
    expect(block.length).toBe(4 * RTP_HEADER_BYTES);
    const hs = [0, 1, 2, 3].map((i) => parseRtpHeader(block.subarray(12 * i, 12 * i + 12)));
    expect(hs.map((h) => [h.sequenceNumber, h.marker])).toEqual([[0xffff, false], [0, false], [1, false], [2, true]]);
    expect(hs.every((h) => h.ssrc === 3 && h.payloadType === 100 && h.timestamp === 90_000)).toBe(true);
    const wire = b.serialize(shared);
    expect(parseRtpHeader(wire[3]!)).toMatchObject({ sequenceNumber: 507, marker: true, payloadType: 102, ssrc: 2, timestamp: 90_000 });
    expect(wire[3]!.subarray(12).equals(shared.payloads[3]!)).toBe(true);
  });

  it("randomises SSRC and the first sequence number by default", () => {
    const seqs = new Set(Array.from({ length: 20 }, () => new ViewerRtpStream().nextSequence));
    const ssrcs = new Set(Array.from({ length: 20 }, () => new ViewerRtpStream().ssrc));
    expect(seqs.size).toBeGreaterThan(15);
    expect(ssrcs.size).toBe(20);
  });
});
