import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import pRetry from "p-retry";
import type { Logger } from "../log.js";

/**
 * Content-addressed APK cache (`<dataDir>/apk-cache/<sha256>.apk`). A download streams to `<sha256>.apk.tmp`
 * while hashed and counted, and is renamed only when digest and size match, so a cached file is always complete.
 * A hit is re-hashed before use (a file corrupted on disk is fetched again). Bounded by `maxBytes`, least recently
 * used (mtime) first; swept at start and after each download. One download per digest at a time.
 */

export interface ApkRef {
  id: string;
  sha256: string;
  size: number;
}

/** The fetched bytes did not match the digest or size the command named; nothing is kept. */
export class DigestMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DigestMismatchError";
  }
}

/** Opens the APK's bytes (the control plane's download route). */
export type ApkSource = (app: ApkRef, signal: AbortSignal) => Promise<Readable>;

export interface ApkCacheOptions {
  dir: string;
  maxBytes: number;
  source: ApkSource;
  /** Retries of a failed download (network, 5xx); a digest mismatch or a refusal is final. */
  retries: number;
  /** Pause before the first retry (doubles each time, at most 10 s). */
  retryMinMs?: number;
  log: Logger;
}

/** Marks an error that no retry will change. */
export const isFinal = (e: unknown): boolean => e instanceof DigestMismatchError || (e instanceof Error && e.name === "DownloadRefusedError");

const NAME = /^([0-9a-f]{64})\.apk$/;

export async function sha256OfFile(path: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(path), async function* (src: AsyncIterable<Buffer>) {
    for await (const chunk of src) h.update(chunk);
  });
  return h.digest("hex");
}

export class ApkCache {
  private readonly inflight = new Map<string, Promise<string>>();
  /** Digests in use by a running install: never evicted. */
  private readonly pinned = new Map<string, number>();

  constructor(private readonly o: ApkCacheOptions) {
    mkdirSync(o.dir, { recursive: true });
  }

  pathOf(sha256: string): string {
    return join(this.o.dir, `${sha256}.apk`);
  }

  /**
   * The path of a verified copy of the APK, downloaded when missing or corrupt. The file stays pinned (not evicted)
   * until `release`.
   */
  async acquire(app: ApkRef, signal: AbortSignal): Promise<string> {
    this.pinned.set(app.sha256, (this.pinned.get(app.sha256) ?? 0) + 1);
    try {
      let p = this.inflight.get(app.sha256);
      if (!p) {
        p = this.ensure(app, signal).finally(() => this.inflight.delete(app.sha256));
        this.inflight.set(app.sha256, p);
      }
      return await p;
    } catch (e) {
      this.release(app.sha256);
      throw e;
    }
  }

  release(sha256: string): void {
    const n = (this.pinned.get(sha256) ?? 1) - 1;
    if (n <= 0) this.pinned.delete(sha256);
    else this.pinned.set(sha256, n);
  }

  private async ensure(app: ApkRef, signal: AbortSignal): Promise<string> {
    const path = this.pathOf(app.sha256);
    const size = fileSize(path);
    if (size !== null) {
      if (size === app.size && (await sha256OfFile(path)) === app.sha256) {
        const now = new Date();
        utimesSync(path, now, now); // LRU by mtime
        return path;
      }
      this.o.log.warn({ sha256: app.sha256, appId: app.id }, "cached APK is corrupt; fetching it again");
      rmSync(path, { force: true });
    }
    await pRetry(() => this.download(app, signal), {
      retries: this.o.retries,
      minTimeout: this.o.retryMinMs ?? 500,
      maxTimeout: 10_000,
      signal,
      shouldRetry: ({ error }) => !isFinal(error),
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (retriesLeft > 0 && !isFinal(error)) this.o.log.warn({ appId: app.id, attempt: attemptNumber, err: error.message }, "APK download failed; retrying");
      },
    });
    this.sweep();
    return path;
  }

  private async download(app: ApkRef, signal: AbortSignal): Promise<void> {
    const path = this.pathOf(app.sha256);
    const tmp = `${path}.tmp`;
    const hash = createHash("sha256");
    let bytes = 0;
    const check = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        // Stop at once on an oversize body: never fill the disk with a wrong file.
        if (bytes > app.size) return done(new DigestMismatchError(`APK ${app.id} is larger than the expected ${app.size} bytes`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      const body = await this.o.source(app, signal);
      // Opened here, not inside the stream: a stream destroyed early (oversize body) could otherwise create the
      // file after the cleanup below has run.
      await pipeline(body, check, createWriteStream(tmp, { fd: openSync(tmp, "w") }), { signal });
      const digest = hash.digest("hex");
      if (bytes !== app.size) throw new DigestMismatchError(`APK ${app.id}: got ${bytes} bytes, expected ${app.size}`);
      if (digest !== app.sha256) throw new DigestMismatchError(`APK ${app.id}: sha256 ${digest} does not match the expected ${app.sha256}`);
      renameSync(tmp, path);
      this.o.log.info({ appId: app.id, sha256: app.sha256, bytes }, "APK downloaded");
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /** Removes leftovers (`*.tmp`, foreign names) and evicts least recently used files beyond `maxBytes`. */
  sweep(): { removed: number; bytes: number } {
    const files: { sha: string; path: string; size: number; mtime: number }[] = [];
    let removed = 0;
    for (const name of readdirSync(this.o.dir)) {
      const path = join(this.o.dir, name);
      const m = NAME.exec(name);
      if (!m) {
        // A partial download of a digest being fetched right now stays; anything else is debris.
        if (!(name.endsWith(".apk.tmp") && this.inflight.has(name.slice(0, 64)))) {
          rmSync(path, { force: true, recursive: true });
          removed++;
        }
        continue;
      }
      const st = statSync(path, { throwIfNoEntry: false });
      if (st) files.push({ sha: m[1]!, path, size: st.size, mtime: st.mtimeMs });
    }
    let total = files.reduce((a, f) => a + f.size, 0);
    for (const f of files.sort((a, b) => a.mtime - b.mtime)) {
      if (total <= this.o.maxBytes) break;
      if (this.pinned.has(f.sha)) continue;
      rmSync(f.path, { force: true });
      total -= f.size;
      removed++;
    }
    return { removed, bytes: total };
  }
}

function fileSize(path: string): number | null {
  return statSync(path, { throwIfNoEntry: false })?.size ?? null;
}

/** A web stream body as a Node stream. */
export function nodeStream(body: ReadableStream<Uint8Array>): Readable {
  return Readable.fromWeb(body as Parameters<typeof Readable.fromWeb>[0]);
}
