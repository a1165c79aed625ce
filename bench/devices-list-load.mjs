// Benchmark: cost of authentication (+ per-user rate limiting and ownership filtering) on the hot read path.
//
// Ours: the real control plane (child process, SQLite synchronous=FULL, log level info: one JSON line per request)
// answering authenticated `GET /api/devices` for a user who owns 50 devices, at a fixed 2,000 requests/s for 10 s,
// once with a JWT access token and once with an API token (`cpt_…`).
// Baseline, same process and run: unauthenticated `GET /health` at the same rate (no auth, no database); and
// `GET /api/me` with the JWT, which isolates what authentication itself costs from the device listing.
// Latency is taken per response from autocannon's own timer (float ms, not its 1 ms-resolution histogram).
// Target: JWT p99 < 10 ms at 2,000 req/s. Usage: pnpm bench:list [-- --rate 2000 --seconds 10 --devices 50] [--smoke]
import { parseArgs } from "node:util";
import { join } from "node:path";
import Database from "better-sqlite3";
import autocannon from "autocannon";
import { startControlPlane, enroll, summarize, writeResult } from "./lib.mjs";

const { values: args } = parseArgs({
  options: {
    rate: { type: "string", default: "2000" },
    seconds: { type: "string", default: "10" },
    devices: { type: "string", default: "50" },
    connections: { type: "string", default: "20" },
    smoke: { type: "boolean", default: false },
  },
});
const RATE = Number(args.rate);
const SECONDS = args.smoke ? 2 : Number(args.seconds);
const DEVICES = args.smoke ? 5 : Number(args.devices);
const CONNECTIONS = Number(args.connections);

// Rate limiting stays on (the middleware runs), with a budget the load cannot exhaust.
const cp = await startControlPlane({ CLOUDPHONE_CP_RATE_LIMIT_PER_MINUTE: "1000000" });
// The control plane still writes its info line per request; stop parsing them here (lib parses every line until
// exit) so the load generator's CPU goes to the load. The stream keeps flowing (resume), unread.
for (const s of [cp.proc.stdout, cp.proc.stderr]) {
  s.removeAllListeners("data");
  s.resume();
}

async function userCall(method, path, token, body) {
  const res = await fetch(cp.http + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** One fixed-rate autocannon run; per-response latencies collected from its 'response' events. */
async function load(path, token, seconds = SECONDS) {
  const samples = [];
  const statuses = {};
  const instance = autocannon({
    url: cp.http + path,
    connections: CONNECTIONS,
    overallRate: RATE,
    duration: seconds,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  instance.on("response", (_client, status, _bytes, ms) => {
    statuses[status] = (statuses[status] ?? 0) + 1;
    samples.push(ms);
  });
  const r = await instance;
  const s = summarize(samples);
  const round = (v) => +v.toFixed(2);
  return {
    path,
    requests: samples.length,
    achievedPerSecond: Math.round(samples.length / r.duration),
    statuses,
    errors: r.errors,
    timeouts: r.timeouts,
    latencyMs: { p50: round(s.p50), p90: round(s.p90), p99: round(s.p99), max: round(s.max), mean: round(samples.reduce((a, b) => a + b, 0) / samples.length) },
    bytesPerResponse: Math.round(r.throughput.total / Math.max(1, samples.length)),
  };
}

let result;
try {
  // A user with a JWT session and an API token, owning DEVICES devices on an enrolled (never connected) host.
  const session = await (
    await fetch(cp.http + "/api/auth/register", { method: "POST", body: JSON.stringify({ email: "bench@example.com", password: "bench-password-0123" }) })
  ).json();
  const jwt = session.accessToken;
  const userId = session.user.id;
  const apiToken = (await userCall("POST", "/api/me/tokens", jwt, { name: "bench", scopes: ["devices:read"] })).token;
  const host = await enroll(cp);
  // The default quota allows 5 devices: raise it directly in SQLite (WAL, the control plane keeps running).
  const db = new Database(join(cp.dataDir, "control-plane.db"));
  db.prepare(
    "INSERT OR REPLACE INTO quotas (user_id, max_devices, max_cpu_millis, max_memory_mb, max_disk_mb, source, updated_at) VALUES (?, ?, ?, ?, ?, 'admin', ?)",
  ).run(userId, 10_000, 100_000_000, 100_000_000, 1_000_000_000, Date.now());
  db.close();
  for (let i = 0; i < DEVICES; i++) {
    await cp.call("POST", "/api/devices", { name: `bench-${i}`, ownerId: userId, hostId: host.hostId, cpuMillis: 100, memoryMb: 256, diskMb: 256 });
  }
  const listed = await userCall("GET", "/api/devices", jwt);
  if (listed.devices.length !== DEVICES) throw new Error(`expected ${DEVICES} devices, the user sees ${listed.devices.length}`);
  const viaToken = await userCall("GET", "/api/devices", apiToken);
  if (viaToken.devices.length !== DEVICES) throw new Error("API token sees a different list");

  // Warm up both paths (JIT, SQLite page cache) before measuring.
  await load("/health", null, args.smoke ? 1 : 2);
  await load("/api/devices", jwt, args.smoke ? 1 : 2);

  const baseline = await load("/health", null);
  // Authentication alone (JWT verify, one primary-key SELECT, rate limiter): a tiny authenticated answer.
  const meJwt = await load("/api/me", jwt);
  const withJwt = await load("/api/devices", jwt);
  const withApiToken = await load("/api/devices", apiToken);
  result = {
    params: { rate: RATE, seconds: SECONDS, devices: DEVICES, connections: CONNECTIONS, logLevel: "info", sqliteSynchronous: "FULL" },
    baselineHealth: baseline,
    meJwt,
    devicesListJwt: withJwt,
    devicesListApiToken: withApiToken,
    ratio: {
      p99MeJwtOverHealth: +(meJwt.latencyMs.p99 / baseline.latencyMs.p99).toFixed(2),
      p50JwtOverHealth: +(withJwt.latencyMs.p50 / baseline.latencyMs.p50).toFixed(2),
      p99JwtOverHealth: +(withJwt.latencyMs.p99 / baseline.latencyMs.p99).toFixed(2),
      p99ApiTokenOverHealth: +(withApiToken.latencyMs.p99 / baseline.latencyMs.p99).toFixed(2),
    },
    target: {
      p99MsBelow: 10,
      atRate: RATE,
      met: withJwt.latencyMs.p99 < 10 && withJwt.achievedPerSecond >= RATE * 0.95 && Object.keys(withJwt.statuses).every((s) => s === "200"),
    },
  };
} finally {
  await cp.stop();
}

console.log(JSON.stringify(result, null, 2));
if (!args.smoke) console.error(`written to ${writeResult("devices-list-load", result)}`);
