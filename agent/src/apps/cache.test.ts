import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ApkCache, DigestMismatchError } from "./cache.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "apk-cache-test-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const log = pino({ level: "silent" });
const signal = new AbortController().signal;

function cacheServing(body: () => Buffer, maxBytes = 1 << 20) {
  let fetches = 0;
  const cache = new ApkCache({
    dir,
    maxBytes,
    retries: 2,
    retryMinMs: 1,
    log,
    source: async () => {
      fetches++;
      // Chunked, so that digest and size are checked while streaming.
      const b = body();
      return Readable.from([b.subarray(0, 3), b.subarray(3)]);
    },
  });
  return { cache, fetches: () => fetches };
}

describe("ApkCache", () => {
  it("downloads once, verifies, and serves hits from disk", async () => {
    const apk = Buffer.from("PK fake apk bytes");
    const { cache, fetches } = cacheServing(() => apk);
    const ref = { id: "app00001", sha256: sha(apk), size: apk.length };
    const [a, b] = await Promise.all([cache.acquire(ref, signal), cache.acquire(ref, signal)]);
    expect(a).toBe(b);
    expect(readFileSync(a).equals(apk)).toBe(true);
    await cache.acquire(ref, signal);
    expect(fetches()).toBe(1);
  });

  it("fails on a digest mismatch without retrying and leaves no file", async () => {
    const { cache, fetches } = cacheServing(() => Buffer.from("tampered bytes!!!"));
    const want = sha(Buffer.from("the real content!"));
    const e = await cache.acquire({ id: "app00001", sha256: want, size: 17 }, signal).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DigestMismatchError);
    expect((e as Error).message).toContain(want);
    expect(fetches()).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("stops an oversize body at once", async () => {
    const { cache } = cacheServing(() => Buffer.alloc(1000));
    await expect(cache.acquire({ id: "app00001", sha256: "0".repeat(64), size: 10 }, signal)).rejects.toThrow(/larger than the expected 10 bytes/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("fetches a corrupted cached file again", async () => {
    const apk = Buffer.from("PK the real apk");
    const { cache, fetches } = cacheServing(() => apk);
    const ref = { id: "app00001", sha256: sha(apk), size: apk.length };
    const path = await cache.acquire(ref, signal);
    writeFileSync(path, Buffer.from("PK the fake apk"));
    await cache.acquire(ref, signal);
    expect(fetches()).toBe(2);
    expect(readFileSync(path).equals(apk)).toBe(true);
  });

  it("retries a failed download", async () => {
    const apk = Buffer.from("PK retried");
    let calls = 0;
    const cache = new ApkCache({
      dir, maxBytes: 1 << 20, retries: 2, retryMinMs: 1, log,
      source: async () => {
        if (++calls === 1) throw new Error("ECONNRESET");
        return Readable.from([apk]);
      },
    });
    await cache.acquire({ id: "app00001", sha256: sha(apk), size: apk.length }, signal);
    expect(calls).toBe(2);
  });

  it("sweeps debris and evicts least recently used files beyond the bound, never pinned ones", () => {
    const { cache } = cacheServing(() => Buffer.alloc(0), 250);
    const files = ["a", "b", "c"].map((c, i) => {
      const p = join(dir, `${c.repeat(64)}.apk`);
      writeFileSync(p, Buffer.alloc(100));
      utimesSync(p, new Date(1000 * (i + 1)), new Date(1000 * (i + 1)));
      return p;
    });
    writeFileSync(join(dir, `${"d".repeat(64)}.apk.tmp`), "partial");
    const r = cache.sweep();
    expect(r.bytes).toBe(200);
    expect(files.map((f) => existsSync(f))).toEqual([false, true, true]);
    expect(readdirSync(dir).some((f) => f.endsWith(".tmp"))).toBe(false);
  });
});
