import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { AccessUnitGrouper, AnnexBStreamSplitter, joinAnnexB, isVcl, nalType, NalType, parseSps, splitAccessUnits, splitAnnexB, unescapeRbsp } from "./nal.js";

/** A real H.264 elementary stream made by ffmpeg now (test pattern, libx264, Annex-B). */
function ffmpegH264(size: string, frames: number, extra: string[] = []): Buffer {
  return execFileSync(
    "ffmpeg",
    ["-v", "error", "-f", "lavfi", "-i", `testsrc2=size=${size}:rate=30`, "-frames:v", String(frames), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", ...extra, "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-"],
    { maxBuffer: 64 * 1024 * 1024 },
  );
}

describe("Annex-B splitting", () => {
  it("splits on 3- and 4-byte start codes and strips trailing zero bytes", () => {
    const buf = Buffer.from("ff 00000001 6742 000001 68ce 0000 00000001 6588 0000 0300 01 000001 0601".replace(/ /g, ""), "hex");
    expect(splitAnnexB(buf).map((n) => n.toString("hex"))).toEqual(["6742", "68ce", "65880000030001", "0601"]);
    expect(splitAnnexB(Buffer.from("abcdef", "hex"))).toEqual([]);
    expect(joinAnnexB([Buffer.from("6742", "hex"), Buffer.from("68", "hex")]).toString("hex")).toBe("00000001674200000001" + "68");
  });

  it("splits a streamed clip identically for any chunking, and groups access units by frame", () => {
    const clip = ffmpegH264("160x120", 40, ["-profile:v", "baseline", "-x264-params", "keyint=10"]);
    const whole = splitAnnexB(clip);
    expect(whole.map(nalType).slice(0, 4)).toEqual([NalType.SPS, NalType.PPS, NalType.SEI, NalType.IDR]);
    for (const step of [1, 7, 100, 4096]) {
      const s = new AnnexBStreamSplitter();
      const got: Buffer[] = [];
      for (let i = 0; i < clip.length; i += step) got.push(...s.push(clip.subarray(i, i + step)));
      got.push(...s.flush());
      expect(Buffer.concat(got).equals(Buffer.concat(whole))).toBe(true);
      expect(got.length).toBe(whole.length);
    }
    const aus = splitAccessUnits(clip);
    expect(aus.length).toBe(40);
    for (const au of aus) expect(au.filter((n) => isVcl(nalType(n))).length).toBe(1);
    expect(aus.filter((au) => au.some((n) => nalType(n) === NalType.IDR)).length).toBe(4);
    // Incremental grouping gives the same AUs.
    const g = new AccessUnitGrouper();
    const inc: Buffer[][] = [];
    for (const n of whole) inc.push(...g.push(n));
    inc.push(...g.flush());
    expect(inc.map((a) => a.length)).toEqual(aus.map((a) => a.length));
  });

  it("streams NALs larger than its initial buffer and skips garbage before the first start code", () => {
    const big = Buffer.concat([Buffer.from([0x65]), Buffer.alloc(200_000, 0xab)]);
    const stream = Buffer.concat([Buffer.from("deadbeef00", "hex"), Buffer.from("00000001", "hex"), big, Buffer.from("000001", "hex"), Buffer.from("4101", "hex")]);
    const s = new AnnexBStreamSplitter();
    const got: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 10_000) got.push(...s.push(stream.subarray(i, i + 10_000)));
    got.push(...s.flush());
    expect(got.length).toBe(2);
    expect(got[0]!.equals(big)).toBe(true);
    expect(got[1]!.toString("hex")).toBe("4101");
  });

  it("bounds a NAL that never ends", () => {
    const s = new AnnexBStreamSplitter(1000);
    expect(() => s.push(Buffer.concat([Buffer.from("00000001", "hex"), Buffer.alloc(2000, 0xff)]))).toThrow("exceeds 1000 bytes");
  });
});

describe("SPS parsing", () => {
  it("removes emulation-prevention bytes", () => {
    expect(Buffer.from(unescapeRbsp(Buffer.from("6700000301000003", "hex"))).toString("hex")).toBe("67000001" + "0000");
    const plain = Buffer.from("674200", "hex");
    expect(unescapeRbsp(plain)).toBe(plain);
  });

  const sps = (clip: Buffer) => parseSps(splitAnnexB(clip).find((n) => nalType(n) === NalType.SPS) as Buffer);

  it("reads size, profile and level of a 720x1280 Constrained Baseline stream", () => {
    const info = sps(ffmpegH264("720x1280", 1, ["-profile:v", "baseline", "-level", "3.1"]));
    expect(info).toMatchObject({ width: 720, height: 1280, profileIdc: 66, levelIdc: 31, chromaFormatIdc: 1 });
    expect(info.constraintFlags & 0x80).toBe(0x80); // constraint_set0
    expect(info.profileLevelId).toBe(`42${info.constraintFlags.toString(16).padStart(2, "0")}1f`);
  });

  it("applies frame cropping (sizes not multiple of 16) and parses High profile fields", () => {
    expect(sps(ffmpegH264("100x58", 1, ["-profile:v", "baseline"]))).toMatchObject({ width: 100, height: 58 });
    const high = sps(ffmpegH264("1920x1080", 1, ["-preset", "veryfast", "-profile:v", "high", "-level", "4.1"]));
    expect(high).toMatchObject({ width: 1920, height: 1080, profileIdc: 100, levelIdc: 41, profileLevelId: "640029" });
  });

  it("parses a hand-made SPS with a scaling matrix and POC type 1", () => {
    // profile 100, constraints 0, level 30, then ue/se fields written below with a bit writer.
    const bits: number[] = [];
    const u = (n: number, v: number) => {
      for (let i = n - 1; i >= 0; i--) bits.push((v >> i) & 1);
    };
    const ue = (v: number) => {
      const x = v + 1;
      const len = Math.floor(Math.log2(x));
      u(len, 0);
      u(len + 1, x);
    };
    const se = (v: number) => ue(v <= 0 ? -2 * v : 2 * v - 1);
    u(8, 100); u(8, 0); u(8, 30); ue(0); // profile, constraints, level, sps id
    ue(1); ue(0); ue(0); u(1, 0); // chroma 4:2:0, bit depths, qpprime
    u(1, 1); // seq_scaling_matrix_present_flag
    u(1, 1); se(2); for (let j = 1; j < 16; j++) se(0); // list 0 present: 16 deltas
    u(1, 1); se(-8); // list 1: delta to 0 ends the list early
    for (let i = 2; i < 8; i++) u(1, 0);
    ue(0); ue(1); u(1, 0); se(2); se(-1); ue(2); se(1); se(-3); // log2_max_frame_num, POC type 1
    ue(4); u(1, 0); ue(39); ue(22); u(1, 1); u(1, 1); // refs, gaps, 640 wide, 368 high (23 MBs), frame_mbs_only, direct8x8
    u(1, 1); ue(0); ue(0); ue(0); ue(4); // crop bottom 4*2 = 8 → 360
    u(1, 0); u(1, 1); // vui absent, stop bit
    while (bits.length % 8) bits.push(0);
    const bytes = [0x67];
    for (let i = 0; i < bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8).join(""), 2));
    expect(parseSps(Buffer.from(bytes))).toMatchObject({ profileIdc: 100, levelIdc: 30, width: 640, height: 360, profileLevelId: "64001e" });
    expect(() => parseSps(Buffer.from([0x68, 0]))).toThrow("not an SPS NAL (type 8)");
    expect(() => parseSps(Buffer.from([0x67, 0x42]))).toThrow("SPS truncated");
  });
});
