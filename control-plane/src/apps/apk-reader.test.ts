import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../testing/fixtures.js";
import { readApkInfo } from "./apk-reader.js";
import { InvalidApkError } from "./manifest.js";
import { buildTestApk, buildZip } from "./testing/apk.js";

const tmp = tempDir("cp-apk-reader-");
afterAll(() => tmp.cleanup());
let n = 0;
const file = (bytes: Buffer | string) => {
  const p = join(tmp.dir, `f${n++}`);
  writeFileSync(p, bytes);
  return p;
};

const refused = async (path: string, message: RegExp) => {
  const e = await readApkInfo(path).then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(InvalidApkError);
  expect((e as Error).message).toMatch(message);
};

// A real compiled manifest (from an APK built with aapt), to graft into hand-made archives.
const realApk = buildTestApk({ packageName: "org.cloudphone.reader", versionCode: 7, versionName: "0.7-beta", label: "Reader test", minSdk: 26 });

describe("readApkInfo", () => {
  it("reads package, version, label and minSdk from a real signed APK", async () => {
    expect(await readApkInfo(file(realApk))).toEqual({ packageName: "org.cloudphone.reader", versionCode: 7, versionName: "0.7-beta", label: "Reader test", minSdk: 26 });
  });

  it("refuses what is not a zip", async () => {
    await refused(file("hello, I am a text file, not an APK\n".repeat(10)), /not a zip archive \(no end of central directory record\)/);
    await refused(file(realApk.subarray(0, realApk.length - 100)), /zip/); // truncated: the central directory is cut
  });

  it("refuses a zip without AndroidManifest.xml at its root", async () => {
    await refused(file(buildZip({ "classes.dex": "dex\n", "res/AndroidManifest.xml": "x" })), /the archive has no AndroidManifest.xml at its root/);
  });

  it("refuses a plain-text manifest and a garbage one", async () => {
    await refused(file(buildZip({ "AndroidManifest.xml": '<?xml version="1.0"?>\n<manifest package="a.b"/>\n' })), /plain-text XML/);
    await refused(file(buildZip({ "AndroidManifest.xml": Buffer.alloc(64, 7) })), /not binary XML/);
  });

  it("refuses a crafted manifest whose zero-size chunk would hang the parser, promptly", async () => {
    const evil = Buffer.alloc(40);
    evil.writeUInt16LE(0x0003, 0);
    evil.writeUInt16LE(8, 2);
    evil.writeUInt32LE(40, 4);
    evil.writeUInt16LE(0x0102, 8); // start element
    evil.writeUInt16LE(16, 10);
    evil.writeUInt32LE(0, 12); // size 0
    const started = Date.now();
    await refused(file(buildZip({ "AndroidManifest.xml": evil })), /malformed chunk at offset 8/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("refuses a manifest that inflates past the limit without inflating all of it", async () => {
    const path = file(realApk);
    const e = await readApkInfo(path, 64).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InvalidApkError);
    expect((e as Error).message).toBe("AndroidManifest.xml inflates to more than 64 bytes");
  });
});
