import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openDatabase, type Db } from "../store/db.js";
import { Ledger, verifyBalances } from "../billing/ledger.js";
import { enrollTestHost, tempDir } from "../testing/fixtures.js";
import { quotaUsage, setQuota } from "./store.js";

type Reply = { loaded?: true; ready?: true; results?: string[] };
const THREADS = 4;
let workers: Worker[] = [];

const next = (w: Worker, want: keyof Reply) =>
  new Promise<Reply>((resolve, reject) => {
    const onMessage = (m: Reply) => {
      if (!m[want]) return;
      w.off("message", onMessage);
      w.off("error", reject);
      resolve(m);
    };
    w.on("message", onMessage);
    w.once("error", reject);
  });

// The workers load the TypeScript sources once and then serve both tests. The first one fills the loader's
// transpile cache, so the others do not each load the compiler.
beforeAll(async () => {
  const spawn = async () => {
    const w = new Worker(new URL("./testing/concurrency-worker.mjs", import.meta.url));
    workers.push(w);
    await next(w, "loaded");
  };
  await spawn();
  await Promise.all(Array.from({ length: THREADS - 1 }, spawn));
}, 60_000);
afterAll(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
});

/**
 * Runs `op` `count` times in each worker, each with its own connection to `dbFile`, all released at the same instant
 * (real parallel writers). Resolves with every result code ("ok" or the refusal code).
 */
async function runParallel(dbFile: string, op: "createDevice" | "deduct", count: number, args: Record<string, unknown>): Promise<string[]> {
  const gate = new SharedArrayBuffer(4);
  const ready = workers.map((w) => next(w, "ready"));
  const done = workers.map((w) => next(w, "results"));
  workers.forEach((w, thread) => w.postMessage({ dbFile, op, count, args, gate, thread }));
  await Promise.all(ready);
  const flag = new Int32Array(gate);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  return (await Promise.all(done)).flatMap((m) => m.results ?? []);
}

let dir: string;
let cleanup: () => void;
let db: Db;
let dbFile: string;

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  dbFile = join(dir, "control-plane.db");
  db = openDatabase(dbFile, { synchronous: "FULL" });
  db.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES ('u1', 'u1@example.com', 'user', 0, 0)").run();
});
afterEach(() => {
  db.close();
  cleanup();
});

describe("concurrency across connections (Q1, B1)", () => {
  it("100 parallel device allocations for one owner with a quota of 5 create exactly 5", async () => {
    enrollTestHost(db, { cpuMillis: 100_000, memoryMb: 1_000_000, diskMb: 10_000_000, deviceSlots: 100 });
    db.prepare("UPDATE hosts SET status = 'online'").run();
    setQuota(db, "u1", { maxDevices: 5, maxCpuMillis: 1_000_000, maxMemoryMb: 1_000_000, maxDiskMb: 10_000_000 }, "admin");
    const spec = { cpuMillis: 500, memoryMb: 512, diskMb: 1024, width: 720, height: 1280, dpi: 320, fps: 30 };
    const quotaDefaults = { maxDevices: 0, maxCpuMillis: 0, maxMemoryMb: 0, maxDiskMb: 0 };
    const results = await runParallel(dbFile, "createDevice", 25, { ownerId: "u1", spec, quotaDefaults });
    expect(results).toHaveLength(100);
    expect(results.filter((r) => r === "ok")).toHaveLength(5);
    expect(results.filter((r) => r !== "ok").every((r) => r === "quota_exceeded")).toBe(true);
    expect(quotaUsage(db, "u1")).toEqual({ devices: 5, cpuMillis: 2500, memoryMb: 2560, diskMb: 5120 });
    expect(db.prepare("SELECT COUNT(*) AS n FROM commands").get()).toEqual({ n: 5 });
  });

  it("100 parallel deducts never drive a balance negative and the ledger re-derives it", async () => {
    const ledger = new Ledger(db, { lowBalanceThresholdMinor: 0 });
    expect(ledger.post({ userId: "u1", kind: "recharge", amountMinor: 1_000, idempotencyKey: "seed" }).ok).toBe(true);
    // 100 × 30 = 3000 wanted, 1000 available: exactly 33 succeed (990), the rest are refused.
    const results = await runParallel(dbFile, "deduct", 25, { userId: "u1", amountMinor: 30, keyPrefix: `k${Math.random()}` });
    expect(results.filter((r) => r === "ok")).toHaveLength(33);
    expect(results.filter((r) => r !== "ok").every((r) => r === "insufficient_funds")).toBe(true);
    expect(ledger.balance("u1")).toBe(10);
    expect(verifyBalances(db)).toEqual([]);
    const min = db.prepare("SELECT MIN(balance_after_minor) AS m FROM ledger_entries WHERE user_id = 'u1'").get() as { m: number };
    expect(min.m).toBeGreaterThanOrEqual(0);
  });
});
