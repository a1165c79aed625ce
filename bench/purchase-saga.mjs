// Benchmark: purchase sagas per second end to end, through the real control plane (child process).
//
// The "agent" is a tiny MQTT client in this process that enrolls like a real one and answers every command at once
// (result `applied` and device state `running`/`deleted`), so the figures measure the control plane — HTTP, the
// saga's transactions, the runner, the inbox — and not Docker.
// Ours: N x `POST /api/orders` (a registered user, `concurrency` requests in flight), each saga running to `active`
// (allocate → device running → payment → activation). Baseline, same run, same control plane and fake agent:
// N x admin `POST /api/devices` until each device reports `running` — the same allocation, command and inbox path
// without the saga. Reported: items per second from the first request until the last item is done, and per-item
// latency (request sent → order `activated_at` / device state `running` committed, same clock). The machine is shared
// and noisy, so baseline and ours alternate for `rounds` rounds; the medians of the rounds are reported.
// Usage: pnpm bench:saga [-- --sagas 200 --rounds 5 --concurrency 50] [--smoke]
import { parseArgs } from "node:util";
import { join } from "node:path";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { SCHEMA_VERSION, newId, topics } from "@cloudphone/shared-protocol";
import { enroll, sleep, startControlPlane, summarize, writeResult } from "./lib.mjs";

const { values: args } = parseArgs({
  options: {
    sagas: { type: "string", default: "200" },
    rounds: { type: "string", default: "5" },
    concurrency: { type: "string", default: "50" },
    smoke: { type: "boolean", default: false },
  },
});
const N = args.smoke ? 6 : Number(args.sagas);
const ROUNDS = args.smoke ? 1 : Number(args.rounds);
const C = args.smoke ? 3 : Number(args.concurrency);
const WARMUP = args.smoke ? 1 : 20;
const SPEC = { cpuMillis: 100, memoryMb: 256, diskMb: 256, width: 720, height: 1280, dpi: 320, fps: 30 };
const BIG = { maxDevices: 100_000, maxCpuMillis: 100_000_000, maxMemoryMb: 100_000_000, maxDiskMb: 1_000_000_000 };

const cp = await startControlPlane({ CLOUDPHONE_CP_RATE_LIMIT_PER_MINUTE: "1000000", ...(process.env.BENCH_SYNC ? { CLOUDPHONE_CP_SQLITE_SYNCHRONOUS: process.env.BENCH_SYNC } : {}) });
const db = new Database(join(cp.dataDir, "control-plane.db"), { readonly: true, fileMustExist: true });
let agent;

async function http(token, method, path, body) {
  const res = await fetch(cp.http + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** The fake agent: enrolled host, birth, and an immediate answer to every command. */
async function startFakeAgent() {
  const creds = await enroll(cp, { cpuMillis: 1_024_000, memoryMb: 16_777_216, diskMb: 1_073_741_824, deviceSlots: 100_000 });
  const hostId = creds.hostId;
  let seq = 0;
  const envelope = () => ({ id: newId(), seq: ++seq, ts: Date.now(), v: SCHEMA_VERSION });
  const client = await mqtt.connectAsync(creds.mqtt.url, {
    clientId: creds.mqtt.clientId,
    username: creds.mqtt.username,
    password: creds.mqtt.password,
    clean: false,
  });
  client.on("message", (_topic, payload) => {
    const cmd = JSON.parse(payload.toString());
    const desired = cmd.action === "delete" ? "deleted" : cmd.action === "stop" ? "stopped" : "running";
    const result = { ...envelope(), hostId, deviceId: cmd.deviceId, commandId: cmd.id, outcome: "applied" };
    const state = { ...envelope(), hostId, deviceId: cmd.deviceId, state: desired, desired, generation: cmd.generation, since: Date.now() };
    client.publish(topics.results(hostId), JSON.stringify(result), { qos: 1 });
    client.publish(topics.deviceState(hostId, cmd.deviceId), JSON.stringify(state), { qos: 1, retain: true });
  });
  await client.subscribeAsync(topics.commands(hostId), { qos: 1 });
  await client.publishAsync(topics.status(hostId), JSON.stringify({ ...envelope(), hostId, status: "online", agentVersion: "bench" }), { qos: 1, retain: true });
  while ((await cp.call("GET", "/api/hosts")).hosts.find((h) => h.id === hostId)?.status !== "online") await sleep(20);
  return { hostId, close: () => client.endAsync() };
}

/** Runs `n` calls of `start(i)` with at most `c` requests in flight; resolves when every request has answered. */
async function fire(n, c, start) {
  let next = 0;
  await Promise.all(Array.from({ length: c }, async () => { while (next < n) await start(next++); }));
}

async function waitDone(countDone, n) {
  while (countDone() < n) await sleep(2);
  return Date.now();
}

async function sagasOnce(user, planId, n) {
  const sent = new Map();
  const t0 = Date.now();
  await fire(n, C, async () => {
    const at = Date.now();
    const r = await http(user.token, "POST", "/api/orders", { planId });
    if (r.status !== 202) throw new Error(`POST /api/orders → ${r.status} ${JSON.stringify(r.body)}`);
    sent.set(r.body.order.id, at);
  });
  const ids = [...sent.keys()];
  const placeholders = ids.map(() => "?").join(",");
  const active = db.prepare(`SELECT COUNT(*) FROM orders WHERE status = 'active' AND id IN (${placeholders})`).pluck();
  const t1 = await waitDone(() => active.get(...ids), n);
  const done = db.prepare(`SELECT id, activated_at AS at FROM orders WHERE id IN (${placeholders})`).all(...ids);
  return { perSecond: +((n * 1000) / (t1 - t0)).toFixed(1), latencies: done.map((d) => d.at - sent.get(d.id)) };
}

async function devicesOnce(n) {
  const sent = new Map();
  const t0 = Date.now();
  await fire(n, C, async () => {
    const at = Date.now();
    const d = await cp.call("POST", "/api/devices", SPEC);
    sent.set(d.id, at);
  });
  const ids = [...sent.keys()];
  const placeholders = ids.map(() => "?").join(",");
  const running = db.prepare(`SELECT COUNT(*) FROM devices WHERE state = 'running' AND id IN (${placeholders})`).pluck();
  const t1 = await waitDone(() => running.get(...ids), n);
  // The inbox stamps updated_at when it commits the reported state change.
  const done = db.prepare(`SELECT id, updated_at AS at FROM devices WHERE id IN (${placeholders})`).all(...ids);
  return { perSecond: +((n * 1000) / (t1 - t0)).toFixed(1), latencies: done.map((d) => d.at - sent.get(d.id)) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function combine(runs) {
  return { perSecondMedian: median(runs.map((r) => r.perSecond)), perSecondRounds: runs.map((r) => r.perSecond), latencyMs: summarize(runs.flatMap((r) => r.latencies)) };
}

let result;
try {
  agent = await startFakeAgent();
  const reg = await fetch(`${cp.http}/api/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: `bench-${Date.now()}@example.test`, password: "bench password 0123456789" }),
  });
  if (reg.status !== 201) throw new Error(`register → ${reg.status} ${await reg.text()}`);
  const session = await reg.json();
  const user = { token: session.accessToken, id: session.user.id };
  await cp.call("PUT", `/api/admin/users/${user.id}/quota`, BIG);
  await http(user.token, "POST", "/api/billing/recharge", { amountMinor: 1_000_000_000, idempotencyKey: "bench" });
  const plan = await cp.call("POST", "/api/admin/plans", { name: "bench", priceMinor: 100, usageModel: "per_hour", usageRateMinor: 0, spec: SPEC });

  await devicesOnce(WARMUP);
  await sagasOnce(user, plan.id, WARMUP);
  const baseRuns = [];
  const ourRuns = [];
  for (let r = 0; r < ROUNDS; r++) {
    baseRuns.push(await devicesOnce(N));
    ourRuns.push(await sagasOnce(user, plan.id, N));
  }
  const baseline = combine(baseRuns);
  const ours = combine(ourRuns);
  const counts = db.prepare("SELECT status, COUNT(*) AS n FROM sagas GROUP BY status").all();
  const deducts = db.prepare("SELECT COUNT(*) FROM ledger_entries WHERE kind = 'deduct'").pluck().get();
  result = {
    params: { perRound: N, rounds: ROUNDS, concurrency: C, agent: "in-process MQTT client answering at once", runnerTickMs: 200 },
    baselineDeviceCreates: baseline,
    oursPurchaseSagas: ours,
    ratio: { perSecondMedian: +(ours.perSecondMedian / baseline.perSecondMedian).toFixed(3) },
    check: { sagasByStatus: counts, deducts, expectedDeducts: N * ROUNDS + WARMUP },
  };
} finally {
  db.close();
  await agent?.close();
  await cp.stop();
}
console.log(JSON.stringify(result, null, 2));
if (result.check.deducts !== result.check.expectedDeducts) {
  console.error(`deducts ${result.check.deducts} != ${result.check.expectedDeducts}`);
  process.exit(1);
}
if (!args.smoke) console.error(`written to ${writeResult("purchase-saga", result)}`);
