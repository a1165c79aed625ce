/**
 * Pure checks on an APK's binary AndroidManifest.xml: the chunk structure (before handing it to the parser) and the
 * fields we keep (from the parser's output). No I/O.
 */

/** What the control plane keeps of an APK's manifest. */
export interface ApkInfo {
  packageName: string;
  versionCode: number;
  versionName: string | null;
  label: string | null;
  minSdk: number | null;
}

/** The upload is not a usable APK; the message says precisely why (it goes into the 400 `invalid_apk` answer). */
export class InvalidApkError extends Error {
  override readonly name = "InvalidApkError";
}

const RES_XML_TYPE = 0x0003;
const CHUNK_HEADER = 8;

/**
 * Walks the chunk chain of a binary XML document and returns what is wrong with it, or null. The parser we use
 * (adbkit-apkreader) loops for ever on a chunk whose size is 0 or smaller than its header (it never advances), so a
 * crafted manifest could hang the event loop; this check guarantees that every chunk moves the cursor forward and
 * stays inside the buffer.
 */
export function binaryXmlProblem(buf: Buffer): string | null {
  if (buf.length < CHUNK_HEADER) return `AndroidManifest.xml is ${buf.length} bytes: too short for binary XML`;
  if (buf.readUInt16LE(0) !== RES_XML_TYPE) {
    const text = buf.subarray(0, 5).toString("latin1") === "<?xml" || buf.readUInt8(0) === 0x3c;
    return text
      ? "AndroidManifest.xml is plain-text XML; an APK carries it compiled (binary XML), as aapt/aapt2 build it"
      : "AndroidManifest.xml is not binary XML (bad file header)";
  }
  // The parser reads the document header as 8 bytes and then walks chunks to the end of the buffer; mirror that.
  if (buf.readUInt16LE(2) !== CHUNK_HEADER) return "AndroidManifest.xml has a malformed binary XML header";
  let at = CHUNK_HEADER;
  while (at < buf.length) {
    if (buf.length - at < CHUNK_HEADER) return `AndroidManifest.xml has a truncated chunk at offset ${at}`;
    const chunkHeader = buf.readUInt16LE(at + 2);
    const chunkSize = buf.readUInt32LE(at + 4);
    if (chunkHeader < CHUNK_HEADER || chunkSize < chunkHeader || at + chunkSize > buf.length) {
      return `AndroidManifest.xml has a malformed chunk at offset ${at} (header ${chunkHeader} bytes, size ${chunkSize} bytes)`;
    }
    at += chunkSize;
  }
  return null;
}

/** Android's rule for application package names: two or more dot-separated segments of [A-Za-z][A-Za-z0-9_]*. */
const PACKAGE_NAME = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$/;
const MAX_TEXT = 1000;

type Loose = Record<string, unknown>;
const isObject = (v: unknown): v is Loose => typeof v === "object" && v !== null;

/** A literal string attribute; null when absent or a resource reference (which we do not resolve). */
function literal(v: unknown): string | null {
  if (typeof v !== "string" || v.startsWith("resourceId:") || v.length === 0 || v.length > MAX_TEXT) return null;
  return v;
}

function nonNegativeInt(v: unknown): number | null {
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Picks and validates our fields from the parser's manifest object (`ManifestParser.parse()`). */
export function apkInfoFromManifest(manifest: unknown): ApkInfo {
  if (!isObject(manifest)) throw new InvalidApkError("AndroidManifest.xml has no <manifest> element");
  const pkg = manifest.package;
  if (typeof pkg !== "string" || pkg.length === 0) throw new InvalidApkError("AndroidManifest.xml has no package attribute");
  if (pkg.length > 255 || !PACKAGE_NAME.test(pkg)) {
    throw new InvalidApkError(`AndroidManifest.xml package "${pkg.slice(0, 300)}" is not a valid application package name`);
  }
  // Absent versionCode means 0 on Android; with versionCodeMajor the effective code is major << 32 | versionCode.
  const low = manifest.versionCode === undefined ? 0 : nonNegativeInt(manifest.versionCode);
  if (low === null || low > 0xffff_ffff) throw new InvalidApkError(`AndroidManifest.xml android:versionCode ${String(manifest.versionCode)} is not a non-negative integer`);
  const major = manifest.versionCodeMajor === undefined ? 0 : nonNegativeInt(manifest.versionCodeMajor);
  const versionCode = major === null ? null : major * 2 ** 32 + low;
  if (versionCode === null || !Number.isSafeInteger(versionCode)) {
    throw new InvalidApkError(`AndroidManifest.xml android:versionCodeMajor ${String(manifest.versionCodeMajor)} is out of range`);
  }
  const app = isObject(manifest.application) ? manifest.application : {};
  const sdk = isObject(manifest.usesSdk) ? manifest.usesSdk : {};
  const minSdk = nonNegativeInt(sdk.minSdkVersion);
  return {
    packageName: pkg,
    versionCode,
    versionName: literal(manifest.versionName),
    label: literal(app.label),
    minSdk: minSdk !== null && minSdk >= 1 && minSdk <= 10_000 ? minSdk : null,
  };
}
