// Benchmark: agent outbox → MQTT → control-plane inbox, durable commits on both sides.
//
// Ours: the agent's real Outbox + OutboxPump (this process, SQLite synchronous=FULL) publish device events
// QoS 1 to the real control plane (a child process: embedded aedes, group-committed inbox, synchronous=FULL).
// Baseline, same run: raw mqtt.js QoS 1 publishes (window of 100 in flight) into a bare aedes in a child
// process, with no persistence anywhere.
//
// Reported: sustained events/s (all of N events committed by the control plane), and the latency from the
// agent's commit to the control plane's commit at a steady 1,000 events/s (p50/p99).
// Usage: pnpm bench:outbox [-- --events 50000 --batch 50 --seconds 10]
import { parseArgs } from "node:util";
import { join } from "node:path";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import pino from "pino";
import { topics } from "@cloudphone/shared-protocol";
import { openDatabase } from "@cloudphone/agent/dist/store/db.js";
import { Outbox } from "@cloudphone/agent/dist/outbox/outbox.js";
import { OutboxPump } from "@cloudphone/agent/dist/outbox/pump.js";
import { startControlPlane, enroll, summarize, tempDir, writeResult, sleep, spawnNode, freePort, stopProc, repoRoot } from "./lib.mjs";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "50000" },
    batch: { type: "string", default: "50" },
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "10" },
    smoke: { type: "boolean", default: false },
  },
});
const N = args.smoke ? 2000 : Number(args.events);
const BATCH = Number(args.batch);
const RATE = Number(args.rate);
const SECONDS = args.smoke ? 2 : Number(args.seconds);
const log = pino({ level: "warn" });

async function ours() {
  const cp = await startControlPlane();
  const creds = await enroll(cp);
  const hostId = creds.hostId;
  const db = openDatabase({ dataDir: tempDir("cloudphone-bench-agent-"), synchronous: "FULL" });
  const outbox = new Outbox(db, { maxBackoffMs: 30_000, retentionDays: 7 });
  const pump = new OutboxPump(outbox, { maxInFlight: 100, batchSize: 200 }, log);
  const client = await mqtt.connectAsync(creds.mqtt.url, { clientId: creds.mqtt.clientId, username: creds.mqtt.username, password: creds.mqtt.password, clean: false });
  pump.resume(client);
  const cpDb = new Database(join(cp.dataDir, "control-plane.db"), { readonly: true });
  const countEvents = cpDb.prepare("SELECT count(*) FROM events WHERE host_id = ?").pluck();

  const enqueueEvents = db.transaction((n) => {
    for (let i = 0; i < n; i++) {
      outbox.enqueue(topics.event(hostId, "device.started"), () => ({ hostId, name: "device.started", deviceId: `bench-${i % 100}`, data: {} }), { deviceId: `bench-${i % 100}` });
    }
  });

  // 1. Sustained: N events produced as fast as the agent can commit them (group commits of BATCH events,
  //    yielding to the event loop between commits so the pump runs), until the control plane has all N.
  const t0 = performance.now();
  for (let produced = 0; produced < N; produced += BATCH) {
    enqueueEvents(Math.min(BATCH, N - produced));
    pump.kick();
    await new Promise((r) => setImmediate(r));
  }
  const tProduced = performance.now();
  while (countEvents.get(hostId) < N) await sleep(5);
  const tDone = performance.now();
  const sustained = { events: N, seconds: (tDone - t0) / 1000, eventsPerSecond: Math.round(N / ((tDone - t0) / 1000)), produceSeconds: (tProduced - t0) / 1000 };

  // 2. Latency at a steady RATE events/s: one event per agent transaction, paced every millisecond tick.
  const before = countEvents.get(hostId);
  const total = RATE * SECONDS;
  const start = performance.now();
  let sent = 0;
  const single = db.transaction(() => outbox.enqueue(topics.event(hostId, "device.stopped"), () => ({ hostId, name: "device.stopped", deviceId: "bench-latency", data: {} }), { deviceId: "bench-latency" }));
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE));
    while (sent < due) {
      single();
      sent++;
    }
    pump.kick();
    await sleep(1);
  }
  while (countEvents.get(hostId) < before + total) await sleep(5);
  const rows = cpDb.prepare("SELECT received_at - ts AS lat FROM events WHERE host_id = ? AND name = 'device.stopped'").pluck().all(hostId);
  const latency = summarize(rows);
  const stats = (await cp.call("GET", "/api/inbox/stats"));

  pump.close();
  await client.endAsync();
  cpDb.close();
  db.close();
  await cp.stop();
  return { sustained, latencyMs: { rate: RATE, ...latency }, inbox: { batches: stats.batches, largestBatch: stats.largestBatch, duplicates: stats.duplicates } };
}

// Baseline: a bare aedes (in-memory, no auth, no hooks) in a child process; raw mqtt.js QoS 1 publishes with a
// window of 100 in flight, PUBACK = done. Latency = publish → PUBACK.
async function baseline() {
  const port = await freePort();
  const script = join(repoRoot, "bench/bare-aedes.mjs");
  const { proc } = await spawnNode(script, [String(port)], {}, "bare aedes ready");
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: "bench-baseline", clean: true });
  const payload = JSON.stringify({ id: "x".repeat(26), seq: 1, ts: Date.now(), v: 1, hostId: "bench", name: "device.started", deviceId: "bench-1", data: {} });
  const publishWindow = (count, onAck) =>
    new Promise((resolve) => {
      let inFlight = 0, sent = 0, acked = 0;
      const pumpOne = () => {
        while (inFlight < 100 && sent < count) {
          const t = performance.now();
          inFlight++;
          sent++;
          client.publish("cloudphone/v1/hosts/bench/events/device.started", payload, { qos: 1 }, () => {
            inFlight--;
            acked++;
            onAck?.(performance.now() - t);
            if (acked === count) resolve();
            else pumpOne();
          });
        }
      };
      pumpOne();
    });
  const t0 = performance.now();
  await publishWindow(N);
  const secs = (performance.now() - t0) / 1000;
  // latency at RATE/s
  const lats = [];
  const total = RATE * SECONDS;
  const start = performance.now();
  let sent = 0;
  const acks = [];
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE));
    while (sent < due) {
      const t = performance.now();
      acks.push(new Promise((r) => client.publish("cloudphone/v1/hosts/bench/events/device.stopped", payload, { qos: 1 }, () => { lats.push(performance.now() - t); r(); })));
      sent++;
    }
    await sleep(1);
  }
  await Promise.all(acks);
  await client.endAsync();
  await stopProc(proc);
  return { sustained: { events: N, seconds: secs, eventsPerSecond: Math.round(N / secs) }, latencyMs: { rate: RATE, ...summarize(lats) } };
}

const base = await baseline();
const ourResult = await ours();
const result = {
  machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
  params: { events: N, agentCommitBatch: BATCH, rate: RATE, seconds: SECONDS, sqliteSynchronous: "FULL" },
  baseline: base,
  ours: ourResult,
  ratio: { throughputOursOverBaseline: +(ourResult.sustained.eventsPerSecond / base.sustained.eventsPerSecond).toFixed(3) },
  targets: { eventsPerSecond: 10_000, p99MsAt1000: 50, met: ourResult.sustained.eventsPerSecond >= 10_000 && ourResult.latencyMs.p99 < 50 },
};
console.log(JSON.stringify(result, null, 2));
if (!args.smoke) console.error(`written to ${writeResult("outbox-throughput", result)}`);
