// Benchmark: the quota check at device allocation (Q1), in process versus the old quota microservice.
//
// Ours, in this process against the control plane's real SQLite database (synchronous=FULL):
//   - check: `checkQuota(quotaLimits(..), quotaUsage(..), spec)` inside an IMMEDIATE transaction, timed alone;
//   - allocation: the whole `createDevice(..., { quotaDefaults })` for an owner: write lock, quota check, placement,
//     device insert and `create` command in one transaction, committed (fsync).
// Baseline, same run and interleaved with ours: the same quota question asked over HTTP on loopback (keep-alive) to
// a tiny node:http server in a child process that answers it from the same database file, as the old design's quota
// service did (round trip only: a remote answer can be stale by the time the caller allocates, which ours cannot).
// Reported: mean and p50/p99 per check and per allocation, and the ratio HTTP check / in-process check.
// Target: <= 0.1 ms per in-process check.
// Usage: pnpm bench:quota [-- --checks 2000 --live 50]   (--smoke: a few iterations, no target checked)
import { parseArgs } from "node:util";
import { spawn } from "node:child_process";
import { createServer, Agent, request } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openDatabase } from "@cloudphone/control-plane/dist/store/db.js";
import { createEnrollmentToken, enrollHost } from "@cloudphone/control-plane/dist/hosts/enrollment.js";
import { createDevice } from "@cloudphone/control-plane/dist/devices/registry.js";
import { checkQuota } from "@cloudphone/control-plane/dist/quota/quota.js";
import { quotaLimits, quotaUsage, setQuota } from "@cloudphone/control-plane/dist/quota/store.js";
import { summarize, tempDir, writeResult, stopProc } from "./lib.mjs";

const { values: args } = parseArgs({
  options: {
    checks: { type: "string", default: "2000" },
    live: { type: "string", default: "50" },
    smoke: { type: "boolean", default: false },
    serve: { type: "string" },
  },
});

const SPEC = { cpuMillis: 100, memoryMb: 256, diskMb: 256, width: 720, height: 1280, dpi: 320, fps: 30 };
const DEFAULTS = { maxDevices: 5, maxCpuMillis: 16_000, maxMemoryMb: 32_768, maxDiskMb: 262_144 };
const OWNER = "bench-user";

// ---- baseline server mode: `node quota-check.mjs --serve <db file>` ----
if (args.serve) {
  const db = openDatabase(args.serve, { synchronous: "FULL" });
  const server = createServer((req, res) => {
    const q = new URL(req.url, "http://x").searchParams;
    const userId = q.get("userId");
    const spec = { cpuMillis: Number(q.get("cpuMillis")), memoryMb: Number(q.get("memoryMb")), diskMb: Number(q.get("diskMb")) };
    const r = db.transaction(() => checkQuota(quotaLimits(db, userId, DEFAULTS), quotaUsage(db, userId), spec))();
    const body = JSON.stringify(r);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n"));
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
} else {
  await main();
}

async function main() {
  const N = args.smoke ? 20 : Number(args.checks);
  const WARMUP = args.smoke ? 5 : 200;
  const dir = tempDir("cloudphone-bench-quota-");
  const dbFile = join(dir, "control-plane.db");
  const db = openDatabase(dbFile, { synchronous: "FULL" });
  const now = Date.now();
  db.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES (?, 'bench@example.com', 'user', ?, ?)").run(OWNER, now, now);
  const { token } = createEnrollmentToken(db, 3600, "bench");
  const host = enrollHost(db, { token, hostname: "bench", agentVersion: "bench", capacity: { cpuMillis: 1_024_000, memoryMb: 16_000_000, diskMb: 100_000_000, deviceSlots: 100_000 } });
  db.prepare("UPDATE hosts SET status = 'online' WHERE id = ?").run(host.hostId);
  // Steady state: the owner (and the host) hold LIVE devices; the oldest is released after each allocation, as the
  // agent's confirmed deletion would, so every check runs against the same realistic number of live devices.
  const LIVE = Number(args.live);
  const max = LIVE + 1;
  setQuota(db, OWNER, { maxDevices: max, maxCpuMillis: max * SPEC.cpuMillis, maxMemoryMb: max * SPEC.memoryMb, maxDiskMb: max * SPEC.diskMb }, "admin");
  const live = [];
  const release = db.prepare("UPDATE devices SET desired = 'deleted', deleted_at = ? WHERE id = ?");

  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--serve", dbFile], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`quota server exited ${code}`)));
    child.stdout.setEncoding("utf8").once("data", (d) => resolve(JSON.parse(d).port));
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const path = `/quota/check?userId=${OWNER}&cpuMillis=${SPEC.cpuMillis}&memoryMb=${SPEC.memoryMb}&diskMb=${SPEC.diskMb}`;
  const httpCheck = () =>
    new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, agent }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d) => (body += d)).on("end", () => resolve(JSON.parse(body)));
      });
      req.on("error", reject);
      req.end();
    });

  const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
  const checkInTx = db.transaction(() => {
    const t0 = process.hrtime.bigint();
    const r = checkQuota(quotaLimits(db, OWNER, DEFAULTS), quotaUsage(db, OWNER), SPEC);
    return { r, ms: ms(t0) };
  });
  const series = { check: [], allocation: [], http: [] };
  try {
    for (let i = 0; i < N + WARMUP; i++) {
      const c = checkInTx.immediate();
      if (!c.r.ok) throw new Error(`unexpected quota refusal: ${c.r.message}`);
      const t0 = process.hrtime.bigint();
      const d = createDevice(db, { ...SPEC, ownerId: OWNER }, undefined, Date.now(), { quotaDefaults: DEFAULTS });
      const alloc = ms(t0);
      if (!d.ok) throw new Error(`allocation failed: ${d.message}`);
      live.push(d.device.id);
      if (live.length > LIVE) release.run(Date.now(), live.shift());
      const t1 = process.hrtime.bigint();
      const h = await httpCheck();
      const http = ms(t1);
      if (!h.ok) throw new Error("unexpected quota refusal over HTTP");
      if (i >= WARMUP) {
        series.check.push(c.ms);
        series.allocation.push(alloc);
        series.http.push(http);
      }
    }
    // Usage is exact: it equals the devices actually held.
    const usage = quotaUsage(db, OWNER);
    if (usage.devices !== live.length) throw new Error(`usage ${usage.devices} != ${live.length} live devices`);
    // And the quota holds: one more than the limit is refused, in process and over HTTP alike.
    for (let i = live.length; i < max; i++) live.push(createDevice(db, { ...SPEC, ownerId: OWNER }, undefined, Date.now(), { quotaDefaults: DEFAULTS }).device.id);
    const over = createDevice(db, { ...SPEC, ownerId: OWNER }, undefined, Date.now(), { quotaDefaults: DEFAULTS });
    if (over.ok || over.code !== "quota_exceeded" || (await httpCheck()).ok) throw new Error("quota not enforced at the limit");
  } finally {
    agent.destroy();
    await stopProc(child);
    db.close();
  }

  const stats = (v) => {
    const s = summarize(v);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const r = (x) => +x.toFixed(4);
    return { n: s.n, mean: r(mean), p50: r(s.p50), p99: r(s.p99), max: r(s.max) };
  };
  const check = stats(series.check);
  const allocation = stats(series.allocation);
  const http = stats(series.http);
  const result = {
    params: { checks: N, warmup: WARMUP, synchronous: "FULL", liveDevicesPerOwner: LIVE },
    inProcessCheckMs: check,
    inProcessAllocationMs: allocation,
    baselineHttpCheckMs: http,
    ratio: { httpCheckOverInProcessCheckMean: +(http.mean / check.mean).toFixed(1), httpCheckOverInProcessCheckP99: +(http.p99 / check.p99).toFixed(1) },
    target: { checkMeanMsAtMost: 0.1, met: check.mean <= 0.1 },
  };
  console.log(JSON.stringify(result, null, 2));
  if (!args.smoke) console.error(`written to ${writeResult("quota-check", result)}`);
}
