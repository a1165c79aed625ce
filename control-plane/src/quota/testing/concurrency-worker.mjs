// Test support: a worker thread with its own SQLite connection that runs the real control-plane functions, so that
// concurrency tests get genuine parallel writers (one connection serialises trivially). The worker loads the
// TypeScript sources once, then runs jobs: { dbFile, op: "createDevice" | "deduct", count, args, gate, thread }.
// `gate` is a SharedArrayBuffer; every worker waits on it so that all start writing at the same instant.
import { register } from "node:module";
import { parentPort } from "node:worker_threads";

register(new URL("./ts-loader.mjs", import.meta.url));
const { openDatabase } = await import("../../store/db.ts");
const { createDevice } = await import("../../devices/registry.ts");
const { Ledger } = await import("../../billing/ledger.ts");

function runJob({ dbFile, op, count, args, thread }) {
  const db = openDatabase(dbFile, { synchronous: "FULL" });
  const ledger = new Ledger(db, { lowBalanceThresholdMinor: 0 });
  const results = [];
  for (let i = 0; i < count; i++) {
    try {
      if (op === "createDevice") {
        const r = createDevice(db, { ownerId: args.ownerId, ...args.spec }, undefined, Date.now(), { quotaDefaults: args.quotaDefaults });
        results.push(r.ok ? "ok" : r.code);
      } else if (op === "deduct") {
        const key = `${args.keyPrefix}-${thread}-${i}`;
        const r = ledger.post({ userId: args.userId, kind: "deduct", amountMinor: args.amountMinor, idempotencyKey: key });
        results.push(r.ok ? "ok" : r.code);
      } else {
        throw new Error(`unknown op ${op}`);
      }
    } catch (e) {
      results.push(`error: ${e.message}`);
    }
  }
  db.close();
  return results;
}

parentPort.on("message", (job) => {
  parentPort.postMessage({ ready: true });
  Atomics.wait(new Int32Array(job.gate), 0, 0);
  parentPort.postMessage({ results: runJob(job) });
});
parentPort.postMessage({ loaded: true });
