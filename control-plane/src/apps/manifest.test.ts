import { describe, expect, it } from "vitest";
import { apkInfoFromManifest, binaryXmlProblem, InvalidApkError } from "./manifest.js";

/** A binary XML document: the 8-byte XML header, then `chunks` (each [type, headerSize, size, ...padding]). */
function binaryXml(chunks: { type: number; headerSize: number; size: number; bytes?: number }[]): Buffer {
  const parts = chunks.map((c) => {
    const b = Buffer.alloc(c.bytes ?? Math.max(c.size, 8));
    b.writeUInt16LE(c.type, 0);
    b.writeUInt16LE(c.headerSize, 2);
    b.writeUInt32LE(c.size, 4);
    return b;
  });
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  head.writeUInt16LE(0x0003, 0);
  head.writeUInt16LE(8, 2);
  head.writeUInt32LE(8 + body.length, 4);
  return Buffer.concat([head, body]);
}

describe("binaryXmlProblem", () => {
  it("accepts a well-formed chunk chain", () => {
    expect(binaryXmlProblem(binaryXml([{ type: 0x0180, headerSize: 8, size: 16 }, { type: 0x0102, headerSize: 16, size: 24 }]))).toBeNull();
  });

  it("refuses a chunk of size 0 (the parser would never advance) or smaller than its header", () => {
    expect(binaryXmlProblem(binaryXml([{ type: 0x0102, headerSize: 16, size: 0, bytes: 24 }]))).toMatch(/malformed chunk at offset 8 \(header 16 bytes, size 0 bytes\)/);
    expect(binaryXmlProblem(binaryXml([{ type: 0x0102, headerSize: 16, size: 12, bytes: 24 }]))).toMatch(/malformed chunk at offset 8/);
    expect(binaryXmlProblem(binaryXml([{ type: 0x0102, headerSize: 4, size: 4, bytes: 8 }]))).toMatch(/malformed chunk/);
  });

  it("refuses a chunk that runs past the end, or a truncated chunk header", () => {
    expect(binaryXmlProblem(binaryXml([{ type: 0x0180, headerSize: 8, size: 4096, bytes: 16 }]))).toMatch(/malformed chunk at offset 8 .*size 4096/);
    expect(binaryXmlProblem(Buffer.concat([binaryXml([]), Buffer.from([1, 2, 3])]))).toMatch(/truncated chunk at offset 8/);
  });

  it("names plain-text XML and other non-binary content", () => {
    expect(binaryXmlProblem(Buffer.from('<?xml version="1.0"?><manifest package="a.b"/>'))).toMatch(/plain-text XML/);
    expect(binaryXmlProblem(Buffer.from("PK\u0003\u0004 not xml at all"))).toMatch(/not binary XML/);
    expect(binaryXmlProblem(Buffer.from([3, 0]))).toMatch(/too short/);
    const badHeader = binaryXml([]);
    badHeader.writeUInt16LE(12, 2);
    expect(binaryXmlProblem(badHeader)).toMatch(/malformed binary XML header/);
  });
});

describe("apkInfoFromManifest", () => {
  const base = { package: "com.example.app", versionCode: 42, versionName: "4.2", usesSdk: { minSdkVersion: 24 }, application: { label: "Example" } };

  it("keeps package, version, label and minSdk", () => {
    expect(apkInfoFromManifest(base)).toEqual({ packageName: "com.example.app", versionCode: 42, versionName: "4.2", label: "Example", minSdk: 24 });
  });

  it("treats resource references as unknown (null) and an absent versionCode as 0, like Android", () => {
    const info = apkInfoFromManifest({ package: "a.b", versionName: "resourceId:0x7f0a0001", application: { label: "resourceId:0x7f0a000e" }, usesSdk: { minSdkVersion: "Q" } });
    expect(info).toEqual({ packageName: "a.b", versionCode: 0, versionName: null, label: null, minSdk: null });
  });

  it("combines versionCodeMajor into the long version code", () => {
    expect(apkInfoFromManifest({ ...base, versionCodeMajor: 1, versionCode: 5 }).versionCode).toBe(2 ** 32 + 5);
  });

  it("refuses a missing or invalid package name, and a bad version code, with a precise message", () => {
    const bad = (m: unknown, re: RegExp) => {
      expect(() => apkInfoFromManifest(m)).toThrow(InvalidApkError);
      expect(() => apkInfoFromManifest(m)).toThrow(re);
    };
    bad(null, /no <manifest> element/);
    bad({ versionCode: 1 }, /no package attribute/);
    bad({ ...base, package: "nodots" }, /package "nodots" is not a valid application package name/);
    bad({ ...base, package: "com.1bad.start" }, /not a valid application package name/);
    bad({ ...base, package: "com.example/../x" }, /not a valid application package name/);
    bad({ ...base, versionCode: -1 }, /android:versionCode -1 is not a non-negative integer/);
    bad({ ...base, versionCode: 1.5 }, /android:versionCode 1.5/);
    bad({ ...base, versionCodeMajor: 2 ** 30 }, /versionCodeMajor .* out of range/);
  });
});
