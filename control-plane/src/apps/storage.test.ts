import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "../testing/fixtures.js";
import { ApkStorage, PayloadTooLargeError, appsDirOf } from "./storage.js";

let dir: string;
let cleanup: () => void;
let storage: ApkStorage;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("cp-apk-store-"));
  storage = new ApkStorage(join(dir, "apks"));
});
afterEach(() => cleanup());

/** A body of `chunks` chunks of 64 KiB; counts how many were pulled, to show reading stops at the limit. */
function body(chunks: number, fill = 1): { stream: ReadableStream<Uint8Array>; pulled: () => number; cancelled: () => boolean } {
  let n = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (n === chunks) return c.close();
      n++;
      c.enqueue(new Uint8Array(64 * 1024).fill(fill));
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, pulled: () => n, cancelled: () => cancelled };
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const tempFiles = () => (existsSync(storage.tmpDir) ? readdirSync(storage.tmpDir) : []);

describe("ApkStorage", () => {
  it("streams a body into a temp file with its sha256 and size, then moves it into place", async () => {
    const b = body(3);
    const f = await storage.receive(b.stream, 1024 * 1024);
    const expected = Buffer.alloc(3 * 64 * 1024, 1);
    expect(f).toMatchObject({ sha256: sha(expected), size: expected.length });
    expect(readFileSync(f.tempPath).equals(expected)).toBe(true);
    expect(storage.commit(f)).toBe("stored");
    expect(readFileSync(join(dir, "apks", `${f.sha256}.apk`)).equals(expected)).toBe(true);
    expect(tempFiles()).toEqual([]);
  });

  it("stops reading as soon as the limit is crossed and leaves no file", async () => {
    const b = body(1000); // 64 MiB offered
    await expect(storage.receive(b.stream, 2 * 1024 * 1024)).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(b.pulled()).toBeLessThanOrEqual(34); // 2 MiB = 32 chunks, plus the one that crossed and the stream's read-ahead
    expect(b.cancelled()).toBe(true);
    expect(tempFiles()).toEqual([]);
    expect(readdirSync(join(dir, "apks"))).toEqual([".tmp"]);
  });

  it("keeps one copy of identical content", async () => {
    const a = await storage.receive(body(2).stream, 1 << 20);
    const b = await storage.receive(body(2).stream, 1 << 20);
    expect(storage.commit(a)).toBe("stored");
    expect(storage.commit(b)).toBe("existing");
    expect(readdirSync(join(dir, "apks")).sort()).toEqual([".tmp", `${a.sha256}.apk`]);
    expect(tempFiles()).toEqual([]);
  });

  it("sweeps unreferenced files and stale temp files", async () => {
    const keep = await storage.receive(body(1, 1).stream, 1 << 20);
    const drop = await storage.receive(body(1, 2).stream, 1 << 20);
    storage.commit(keep);
    storage.commit(drop);
    writeFileSync(join(storage.tmpDir, "old.part"), "x");
    utimesSync(join(storage.tmpDir, "old.part"), new Date(1000), new Date(1000));
    writeFileSync(join(storage.tmpDir, "fresh.part"), "x");
    writeFileSync(join(dir, "apks", "README"), "not ours");
    expect(storage.sweep((s) => s === keep.sha256, 60_000)).toEqual({ files: 1, temps: 1 });
    expect(readdirSync(join(dir, "apks")).sort()).toEqual([".tmp", `${keep.sha256}.apk`, "README"]);
    expect(tempFiles()).toEqual(["fresh.part"]);
  });

  it("refuses a path that is not a sha256 (no traversal through the store)", () => {
    expect(() => storage.pathOf("../../etc/passwd")).toThrow(/not a sha256/);
    expect(appsDirOf({ dataDir: "/data" })).toBe("/data/apks");
    expect(appsDirOf({ dataDir: "/data", appsDir: "/srv/apks" })).toBe("/srv/apks");
  });
});
