import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/**
 * Test support: builds a real, signed, manifest-only APK (`android:hasCode="false"`) with aapt, zipalign and
 * apksigner from apt (Debian packages `aapt`, `zipalign`, `apksigner`), and openssl for a throw-away signing key.
 * There is no android.jar on the machine, so aapt links against a tiny stand-in framework package that declares the
 * few `android:` attributes the manifest uses, under their real framework resource ids; the compiled manifest is
 * therefore the same as one linked against the real framework.
 */
export interface TestApkOptions {
  packageName: string;
  versionCode: number;
  versionName: string;
  label?: string;
  minSdk?: number;
}

/** The real ids from android.R.attr. */
const ATTRS: Record<string, { id: string; format: string }> = {
  label: { id: "0x01010001", format: "string|reference" },
  hasCode: { id: "0x0101000c", format: "boolean" },
  minSdkVersion: { id: "0x0101020c", format: "integer|string" },
  versionCode: { id: "0x0101021b", format: "integer" },
  versionName: { id: "0x0101021c", format: "string" },
  targetSdkVersion: { id: "0x01010270", format: "integer|string" },
};

let toolchain: { dir: string; framework: string; key: string; cert: string } | null = null;

function prepare(): NonNullable<typeof toolchain> {
  if (toolchain) return toolchain;
  const dir = mkdtempSync(join(tmpdir(), "cp-test-apk-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const fw = join(dir, "framework");
  mkdirSync(join(fw, "res", "values"), { recursive: true });
  writeFileSync(join(fw, "AndroidManifest.xml"), `<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="android"/>\n`);
  const entries = Object.entries(ATTRS);
  writeFileSync(join(fw, "res", "values", "attrs.xml"), `<resources>\n${entries.map(([n, a]) => `  <attr name="${n}" format="${a.format}"/>`).join("\n")}\n</resources>\n`);
  writeFileSync(join(fw, "res", "values", "public.xml"), `<resources>\n${entries.map(([n, a]) => `  <public type="attr" name="${n}" id="${a.id}"/>`).join("\n")}\n</resources>\n`);
  const framework = join(dir, "framework.apk");
  // -x: package id 0x01, the framework's.
  execFileSync("aapt", ["package", "-f", "-x", "-M", join(fw, "AndroidManifest.xml"), "-S", join(fw, "res"), "-F", framework], { stdio: "pipe" });
  const keyPem = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pk8");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPem, "-out", cert, "-days", "3650", "-subj", "/CN=cloudphone-test"], { stdio: "pipe" });
  execFileSync("openssl", ["pkcs8", "-topk8", "-inform", "PEM", "-outform", "DER", "-in", keyPem, "-out", key, "-nocrypt"], { stdio: "pipe" });
  toolchain = { dir, framework, key, cert };
  return toolchain;
}

const xmlEscape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");

/** Builds the APK and returns its bytes. Takes about half a second (apksigner starts a JVM). */
export function buildTestApk(opts: TestApkOptions): Buffer {
  const t = prepare();
  const work = mkdtempSync(join(t.dir, "apk-"));
  const manifest = join(work, "AndroidManifest.xml");
  writeFileSync(
    manifest,
    `<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="${xmlEscape(opts.packageName)}"
    android:versionCode="${opts.versionCode}" android:versionName="${xmlEscape(opts.versionName)}">
  <uses-sdk android:minSdkVersion="${opts.minSdk ?? 24}" android:targetSdkVersion="30"/>
  <application android:label="${xmlEscape(opts.label ?? "Cloudphone test app")}" android:hasCode="false"/>
</manifest>
`,
  );
  const unsigned = join(work, "unsigned.apk");
  const aligned = join(work, "aligned.apk");
  const signed = join(work, "signed.apk");
  execFileSync("aapt", ["package", "-f", "-M", manifest, "-I", t.framework, "-F", unsigned], { stdio: "pipe" });
  execFileSync("zipalign", ["-f", "4", unsigned, aligned], { stdio: "pipe" });
  execFileSync("apksigner", ["sign", "--key", t.key, "--cert", t.cert, "--v4-signing-enabled", "false", "--out", signed, aligned], { stdio: "pipe" });
  return readFileSync(signed);
}

/** A zip archive (built with `aapt add`) holding `entries`, e.g. a fake AndroidManifest.xml. */
export function buildZip(entries: Record<string, Buffer | string>): Buffer {
  const t = prepare();
  const work = mkdtempSync(join(t.dir, "zip-"));
  const names = Object.keys(entries);
  for (const name of names) {
    mkdirSync(dirname(join(work, name)), { recursive: true });
    writeFileSync(join(work, name), entries[name]!);
  }
  execFileSync("aapt", ["add", "out.zip", ...names], { cwd: work, stdio: "pipe" });
  return readFileSync(join(work, "out.zip"));
}
