import { createHash, randomUUID } from "node:crypto";
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { mkdir, open, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";

/** The body went over the limit; nothing of it is kept. */
export class PayloadTooLargeError extends Error {
  override readonly name = "PayloadTooLargeError";
  constructor(readonly limit: number) {
    super(`the body is larger than ${limit} bytes`);
  }
}

export interface ReceivedFile {
  tempPath: string;
  sha256: string;
  size: number;
}

const SHA256 = /^[0-9a-f]{64}$/;
const STORED = /^([0-9a-f]{64})\.apk$/;

async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) {
    const { bytesWritten } = await fh.write(data, off, data.byteLength - off);
    off += bytesWritten;
  }
}

/** fsync of a directory, so that a rename into it survives a crash. */
function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The content-addressed APK store: `<dir>/<sha256>.apk`, written through `<dir>/.tmp/` (same file system, so the
 * final rename is atomic). Nothing touches the disk until the first upload.
 */
export class ApkStorage {
  readonly tmpDir: string;

  constructor(readonly dir: string) {
    this.tmpDir = join(dir, ".tmp");
  }

  pathOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return join(this.dir, `${sha256}.apk`);
  }

  exists(sha256: string): boolean {
    return existsSync(this.pathOf(sha256));
  }

  /**
   * Streams `body` into a temp file while hashing and counting it. Past `maxBytes` it stops reading at once, deletes
   * the temp file and throws `PayloadTooLargeError`; any other failure (client gone, disk full) deletes it too.
   */
  async receive(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<ReceivedFile> {
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    const tempPath = join(this.tmpDir, `${randomUUID()}.part`);
    const fh = await open(tempPath, "wx", 0o600);
    const reader = body.getReader();
    const hash = createHash("sha256");
    let size = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) throw new PayloadTooLargeError(maxBytes);
        hash.update(value);
        await writeAll(fh, value);
      }
      await fh.sync();
      await fh.close();
      return { tempPath, sha256: hash.digest("hex"), size };
    } catch (e) {
      await reader.cancel().catch(() => undefined);
      await fh.close().catch(() => undefined);
      await rm(tempPath, { force: true });
      throw e;
    }
  }

  /**
   * Moves a received file into place, or drops it when the same content is already stored. Synchronous on purpose:
   * the caller records the app row in the same tick, so a concurrent delete cannot remove the file in between.
   */
  commit(file: ReceivedFile): "stored" | "existing" {
    const target = this.pathOf(file.sha256);
    let existing = false;
    try {
      existing = statSync(target).size === file.size;
    } catch {
      existing = false;
    }
    if (existing) {
      rmSync(file.tempPath, { force: true });
      return "existing";
    }
    renameSync(file.tempPath, target);
    syncDir(this.dir);
    return "stored";
  }

  discard(file: Pick<ReceivedFile, "tempPath">): void {
    rmSync(file.tempPath, { force: true });
  }

  /** Removes a stored file; false when it was not there. */
  remove(sha256: string): boolean {
    const p = this.pathOf(sha256);
    if (!existsSync(p)) return false;
    rmSync(p, { force: true });
    return true;
  }

  /**
   * Housekeeping (start-up, or periodically): removes stored files nothing references any more and temp files older
   * than `tmpOlderThanMs` (left by a crash mid-upload; at start-up pass 0).
   */
  sweep(isReferenced: (sha256: string) => boolean, tmpOlderThanMs: number, now = Date.now()): { files: number; temps: number } {
    let files = 0;
    let temps = 0;
    if (!existsSync(this.dir)) return { files, temps };
    for (const name of readdirSync(this.dir)) {
      const m = STORED.exec(name);
      if (m && !isReferenced(m[1]!)) {
        rmSync(join(this.dir, name), { force: true });
        files++;
      }
    }
    if (existsSync(this.tmpDir)) {
      for (const name of readdirSync(this.tmpDir)) {
        const p = join(this.tmpDir, name);
        if (now - statSync(p).mtimeMs >= tmpOlderThanMs) {
          rmSync(p, { force: true });
          temps++;
        }
      }
    }
    return { files, temps };
  }
}

/** Where the APK store lives: `appsDir`, else `<dataDir>/apks`. */
export function appsDirOf(config: { appsDir?: string | undefined; dataDir: string }): string {
  return config.appsDir ?? join(config.dataDir, "apks");
}
