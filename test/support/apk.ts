/**
 * Real, signed, manifest-only APKs (`android:hasCode="false"`) for device tests, as files: `adb install` and
 * `adb push` want a path. The bytes come from the control plane's test builder (aapt + zipalign + apksigner
 * from apt; see control-plane/src/apps/testing/apk.ts), so every test in the repo builds APKs one way.
 * Built files are cached in a temp directory per (package, versionCode, versionName): apksigner starts a
 * JVM, about half a second per APK.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTestApk as buildApkBytes } from "../../control-plane/src/apps/testing/apk.js";

export interface TestApkSpec {
  packageName: string;
  versionCode: number;
  versionName: string;
}

/** Bump when the way APKs are built changes, so stale cached files are not reused. */
const CACHE_VERSION = 1;
const cacheDir = join(tmpdir(), "cloudphone-test-apks");
const PACKAGE_NAME = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$/;

/** Returns the path of a signed APK with this manifest (built on first use, then cached). */
export function buildTestApk(spec: TestApkSpec): string {
  if (!PACKAGE_NAME.test(spec.packageName)) throw new Error(`invalid package name '${spec.packageName}'`);
  if (!Number.isInteger(spec.versionCode) || spec.versionCode < 1) throw new Error(`invalid versionCode ${spec.versionCode}`);
  const key = createHash("sha256")
    .update(JSON.stringify([CACHE_VERSION, spec.packageName, spec.versionCode, spec.versionName]))
    .digest("hex")
    .slice(0, 16);
  const path = join(cacheDir, `${spec.packageName}-${spec.versionCode}-${key}.apk`);
  if (existsSync(path)) return path;
  mkdirSync(cacheDir, { recursive: true });
  const bytes = buildApkBytes(spec);
  // Written aside and renamed: a concurrent test run never reads a half-written APK.
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, bytes);
  renameSync(partial, path);
  return path;
}
