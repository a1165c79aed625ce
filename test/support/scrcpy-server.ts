/**
 * The stand-in for scrcpy's server jar that the test device's `app_process` accepts (format in
 * test/device-image/README.md, "scrcpy server emulator"): a small text file naming the server version. The real
 * jar cannot be obtained offline; push this file where the jar would go and start it exactly like the jar.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SCRCPY_STANDIN_MAGIC = "cloudphone-scrcpy-server-standin";

/** The stand-in's bytes for a server version (compared exactly with app_process's version argument). */
export function scrcpyServerStandIn(version: string): Buffer {
  if (!/^[0-9A-Za-z][0-9A-Za-z.+_-]{0,62}$/.test(version)) throw new Error(`invalid scrcpy version '${version}'`);
  return Buffer.from(`${SCRCPY_STANDIN_MAGIC}\nversion=${version}\n`, "utf8");
}

/** Writes the stand-in for `version` to a file (default: a per-version file in the temp dir) and returns its path. */
export function writeScrcpyServerStandIn(version: string, path?: string): string {
  const file = path ?? join(tmpdir(), "cloudphone-scrcpy-standin", `scrcpy-server-v${version}.jar`);
  if (path === undefined) mkdirSync(join(tmpdir(), "cloudphone-scrcpy-standin"), { recursive: true });
  writeFileSync(file, scrcpyServerStandIn(version));
  return file;
}
