import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FU_A, H264Packetizer, ptsToRtpTimestamp, STAP_A } from "./packetizer.js";

const nal = (header: number, len: number) => Buffer.concat([Buffer.from([header]), randomBytes(len - 1)]);
const SPS = Buffer.from("6742c01fda01e0089f961000000300100000030320f1832a", "hex");
const PPS = Buffer.from("68ce3c80", "hex");
const type = (p: Buffer) => (p[0] as number) & 0x1f;

describe("H264Packetizer", () => {
  it("sends small NALs as single NAL unit packets, unchanged and without copying", () => {
    const p = new H264Packetizer({ timestampBase: 0 });
    const slice = nal(0x41, 800);
    const au = p.packetize([slice], 33_333);
    expect(au).not.toBeNull();
    expect(au!.payloads).toEqual([slice]);
    expect(au!.payloads[0]!.buffer).toBe(slice.buffer); // a view, not a copy
    expect(au!.timestamp).toBe(3000);
    expect(au!.keyframe).toBe(false);
  });

  it("fragments a NAL over the budget into evenly sized FU-A packets with S/E bits", () => {
    const p = new H264Packetizer({ maxPayloadBytes: 1200 });
    const idr = nal(0x65, 5000);
    const au = p.packetize([idr], 0)!;
    // 4999 body bytes over 1198-byte fragments → 5 fragments of ≤ 1000 bytes.
    expect(au.payloads.length).toBe(5);
    for (const [i, pl] of au.payloads.entries()) {
      expect(pl.length).toBeLessThanOrEqual(1200);
      expect(pl[0]).toBe((0x65 & 0xe0) | FU_A);
      expect(pl[1]! & 0x1f).toBe(5);
      expect(Boolean(pl[1]! & 0x80)).toBe(i === 0);
      expect(Boolean(pl[1]! & 0x40)).toBe(i === 4);
    }
    expect(Buffer.concat(au.payloads.map((pl) => pl.subarray(2))).equals(idr.subarray(1))).toBe(true);
    // A NAL of exactly the budget is not fragmented; one byte more is.
    expect(p.packetize([nal(0x41, 1200)], 0)!.payloads.length).toBe(1);
    expect(p.packetize([nal(0x41, 1201)], 0)!.payloads.length).toBe(2);
  });

  it("aggregates SPS+PPS into one STAP-A and keeps SEI and slices separate", () => {
    const p = new H264Packetizer();
    const sei = nal(0x06, 30);
    const idr = nal(0x65, 900);
    const au = p.packetize([Buffer.from([0x09, 0xf0]), SPS, PPS, sei, idr], 0)!; // leading AUD is dropped
    expect(au.payloads.map(type)).toEqual([STAP_A, 6, 5]);
    const stap = au.payloads[0]!;
    expect(stap[0]).toBe(0x60 | STAP_A); // NRI = max(NRI of SPS, PPS) = 3, F = 0
    expect(stap.readUInt16BE(1)).toBe(SPS.length);
    expect(stap.subarray(3, 3 + SPS.length).equals(SPS)).toBe(true);
    expect(stap.readUInt16BE(3 + SPS.length)).toBe(PPS.length);
    expect(stap.subarray(5 + SPS.length).equals(PPS)).toBe(true);
    expect(au.keyframe).toBe(true);
  });

  it("caches a config-only packet and puts it before every IDR that lacks parameter sets", () => {
    const p = new H264Packetizer();
    expect(p.packetize([SPS, PPS], 0)).toBeNull(); // scrcpy CONFIG packet: nothing to send yet
    expect(p.parameterSets).toEqual({ sps: SPS, pps: PPS });
    expect(p.spsInfo).toMatchObject({ profileLevelId: "42c01f" });
    const idr1 = p.packetize([nal(0x65, 3000)], 10)!;
    expect(idr1.payloads.map(type)).toEqual([STAP_A, FU_A, FU_A, FU_A]);
    const slice = p.packetize([nal(0x41, 500)], 20)!;
    expect(slice.payloads.map(type)).toEqual([1]);
    const idr2 = p.packetize([nal(0x65, 100)], 30)!;
    expect(idr2.payloads.map(type)).toEqual([STAP_A, 5]);
    // A new config replaces the cache.
    const sps2 = Buffer.from(SPS);
    sps2[3] = 0x20;
    p.packetize([sps2, PPS], 40);
    expect(p.packetize([nal(0x65, 100)], 50)!.payloads[0]!.subarray(3, 3 + sps2.length).equals(sps2)).toBe(true);
    // An IDR with only a new PPS gets the cached SPS and that PPS.
    const pps2 = Buffer.from("68ce3880", "hex");
    const au = p.packetize([pps2, nal(0x65, 100)], 60)!;
    expect(au.payloads.map(type)).toEqual([STAP_A, 5]);
    expect(au.payloads[0]!.subarray(-4).equals(pps2)).toBe(true);
  });

  it("an IDR before any config is sent as it is", () => {
    const p = new H264Packetizer();
    expect(p.packetize([nal(0x65, 100)], 0)!.payloads.map(type)).toEqual([5]);
    expect(p.spsInfo).toBeNull();
  });

  it("optionally aggregates small NALs within the budget", () => {
    const p = new H264Packetizer({ aggregateSmallNals: true, maxPayloadBytes: 1200 });
    const au = p.packetize([SPS, PPS, nal(0x06, 200), nal(0x41, 400), nal(0x41, 700), nal(0x41, 2000)], 0)!;
    expect(au.payloads.map(type)).toEqual([STAP_A, 1, FU_A, FU_A]);
    expect(au.payloads[0]!.length).toBe(1 + 2 + SPS.length + 2 + PPS.length + 2 + 200 + 2 + 400);
    for (const pl of au.payloads) expect(pl.length).toBeLessThanOrEqual(1200);
  });

  it("converts µs PTS to 90 kHz with a random base and 32-bit wrap", () => {
    expect(ptsToRtpTimestamp(0, 0)).toBe(0);
    expect(ptsToRtpTimestamp(1_000_000, 0)).toBe(90_000);
    expect(ptsToRtpTimestamp(33_333, 0)).toBe(3000);
    expect(ptsToRtpTimestamp(1_000_000, 0xffff_ffff)).toBe(89_999);
    // 2^32 ticks = 47721.858... s: the timestamp wraps.
    const wrapUs = Math.round((2 ** 32 * 100) / 9);
    expect(ptsToRtpTimestamp(wrapUs + 1_000_000, 0)).toBe(90_000);
    expect(ptsToRtpTimestamp(2 ** 50, 123)).toBe((123 + Math.round((2 ** 50 * 9) / 100)) % 2 ** 32);
    const bases = new Set(Array.from({ length: 20 }, () => new H264Packetizer().timestampBase));
    expect(bases.size).toBeGreaterThan(15);
    const p = new H264Packetizer({ timestampBase: 1000 });
    const a = p.packetize([nal(0x41, 10)], 100_000)!;
    const b = p.packetize([nal(0x41, 10)], 133_333)!;
    expect(b.timestamp - a.timestamp).toBe(3000);
  });

  it("validates the payload budget", () => {
    expect(() => new H264Packetizer({ maxPayloadBytes: 2 })).toThrow("maxPayloadBytes must be an integer in 3..65535, got 2");
    const p = new H264Packetizer({ maxPayloadBytes: 3 });
    const au = p.packetize([nal(0x41, 10)], 0)!;
    expect(au.payloads.length).toBe(9);
  });
});
