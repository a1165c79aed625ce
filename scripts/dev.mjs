#!/usr/bin/env node
// `pnpm start`: a complete local cloudphone on this machine. Builds when sources are newer than the
// build, starts the control plane (embedded MQTT, data in ./.data/control-plane), enrolls and starts one
// agent (config in ./.data/agent/) and stops both on Ctrl-C.
//
// Environment (all optional):
//   CLOUDPHONE_DEV_HTTP_PORT      control plane HTTP port (default 8080)
//   CLOUDPHONE_DEV_MQTT_PORT      embedded MQTT port (default 1883)
//   CLOUDPHONE_DEV_AGENT_PORT     agent local API port (default 7070)
//   CLOUDPHONE_DEV_IMAGE          device image (default cloudphone/test-device:dev, built on demand;
//                                 e.g. redroid/redroid:12.0.0_64only-latest on a host with binder)
//   CLOUDPHONE_DEV_NETWORK_MODE   host|bridge (default host)
//   CLOUDPHONE_DEV_PRIVILEGED     true|false (default false; redroid needs true)
//   CLOUDPHONE_DEV_VERBOSE=1      print every log line of both processes (default: warnings and errors)
// The agent config file is written once; edit ./.data/agent/agent.json afterwards (or delete it to regenerate).
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dataRoot = join(root, ".data");
const cpDataDir = join(dataRoot, "control-plane");
const agentDir = join(dataRoot, "agent");
const agentDataDir = join(agentDir, "data");
const agentConfigPath = join(agentDir, "agent.json");
const adminTokenPath = join(dataRoot, "admin-token");
const TEST_IMAGE = "cloudphone/test-device:dev";

const env = process.env;
const httpPort = portFromEnv("CLOUDPHONE_DEV_HTTP_PORT", 8080);
const mqttPort = portFromEnv("CLOUDPHONE_DEV_MQTT_PORT", 1883);
const agentPort = portFromEnv("CLOUDPHONE_DEV_AGENT_PORT", 7070);
const image = env.CLOUDPHONE_DEV_IMAGE || TEST_IMAGE;
const networkMode = oneOf("CLOUDPHONE_DEV_NETWORK_MODE", ["host", "bridge"], "host");
const privileged = oneOf("CLOUDPHONE_DEV_PRIVILEGED", ["true", "false"], "false") === "true";
const verbose = env.CLOUDPHONE_DEV_VERBOSE === "1";
const httpUrl = `http://127.0.0.1:${httpPort}`;

const children = [];
let stopping = false;

function fail(message) {
  console.error(`dev: ${message}`);
  process.exit(1);
}

function portFromEnv(name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`${name} must be a port number 1-65535, got '${raw}'`);
  return port;
}

function oneOf(name, allowed, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!allowed.includes(raw)) fail(`${name} must be one of ${allowed.join(", ")}, got '${raw}'`);
  return raw;
}

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function buildIfNeeded() {
  const stale = ["shared-protocol", "control-plane", "agent"].some((pkg) => {
    const built = join(root, pkg, "dist");
    return !existsSync(built) || newestMtime(join(root, pkg, "src")) > newestMtime(built);
  });
  if (!stale) return;
  console.log("dev: building (sources changed)…");
  execFileSync("pnpm", ["run", "build"], { cwd: root, stdio: "inherit" });
}

function readOrCreateAdminToken() {
  if (existsSync(adminTokenPath)) return readFileSync(adminTokenPath, "utf8").trim();
  const token = randomBytes(24).toString("base64url");
  writeFileSync(adminTokenPath, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Starts a child, echoes its warnings/errors (or everything when verbose), resolves on its ready line. */
function startChild(name, args, childEnv, readyMsg) {
  const proc = spawn(process.execPath, args, { cwd: root, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  children.push(proc);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not log "${readyMsg}" within 30 s`)), 30_000);
    for (const stream of [proc.stdout, proc.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        let record;
        try {
          record = JSON.parse(line);
        } catch {
          record = undefined;
        }
        if (verbose || !record || (typeof record.level === "number" && record.level >= 40)) console.log(`[${name}] ${line}`);
        if (record?.msg === readyMsg) {
          clearTimeout(timer);
          resolve(record);
        }
      });
    }
    proc.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}, signal ${signal})`));
      if (!stopping) {
        console.error(`dev: ${name} exited unexpectedly (code ${code}, signal ${signal}); stopping`);
        void shutdown(1);
      }
    });
  });
}

async function shutdown(exitCode) {
  if (stopping) return;
  stopping = true;
  // Agent first, so it does not log the control plane going away; devices keep running in Docker.
  for (const proc of [...children].reverse()) {
    if (proc.exitCode !== null || proc.signalCode !== null) continue;
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await new Promise((resolve) => proc.once("exit", resolve));
    clearTimeout(killer);
  }
  process.exit(exitCode);
}

function writeAgentConfigOnce() {
  if (existsSync(agentConfigPath)) return;
  const config = {
    controlPlaneUrl: httpUrl,
    dataDir: agentDataDir,
    hostName: "dev-host",
    runtime: { image, networkMode, privileged },
    localApi: { host: "127.0.0.1", port: agentPort },
    // The browser runs on this machine: offer a loopback ICE candidate too.
    stream: { additionalHostAddresses: ["127.0.0.1"] },
  };
  writeFileSync(agentConfigPath, `${JSON.stringify(config, null, 2)}\n`);
}

async function createEnrollmentToken(adminToken) {
  const response = await fetch(`${httpUrl}/api/enrollment-tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: "{}",
  });
  if (response.status !== 201) throw new Error(`POST /api/enrollment-tokens answered ${response.status}: ${await response.text()}`);
  return (await response.json()).token;
}

/** A plan to buy in development, created once (the platform seeds none by itself). */
async function ensureDevPlan(adminToken) {
  const headers = { authorization: `Bearer ${adminToken}`, "content-type": "application/json" };
  const listed = await fetch(`${httpUrl}/api/admin/plans`, { headers });
  if (listed.status !== 200) throw new Error(`GET /api/admin/plans answered ${listed.status}: ${await listed.text()}`);
  const existing = (await listed.json()).plans.find((p) => p.name === "Dev phone" && p.active);
  if (existing) return existing.id;
  const created = await fetch(`${httpUrl}/api/admin/plans`, {
    method: "POST",
    headers,
    body: JSON.stringify({
      name: "Dev phone",
      description: "created by pnpm start",
      priceMinor: 100,
      usageModel: "per_minute",
      usageRateMinor: 2,
      spec: { cpuMillis: 500, memoryMb: 512, diskMb: 1024, width: 720, height: 1280, dpi: 320, fps: 30 },
    }),
  });
  if (created.status !== 201) throw new Error(`POST /api/admin/plans answered ${created.status}: ${await created.text()}`);
  return (await created.json()).id;
}

async function main() {
  buildIfNeeded();
  mkdirSync(cpDataDir, { recursive: true });
  mkdirSync(agentDataDir, { recursive: true });
  if (image === TEST_IMAGE) execFileSync(join(root, "test/device-image/build.sh"), { stdio: "inherit" });
  const adminToken = readOrCreateAdminToken();

  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));

  const cpEnv = {
    ...env,
    CLOUDPHONE_CP_HTTP_HOST: "127.0.0.1",
    CLOUDPHONE_CP_HTTP_PORT: String(httpPort),
    CLOUDPHONE_CP_DATA_DIR: cpDataDir,
    CLOUDPHONE_CP_ADMIN_TOKEN: adminToken,
    CLOUDPHONE_CP_MQTT_MODE: "embedded",
    CLOUDPHONE_CP_MQTT_HOST: "127.0.0.1",
    CLOUDPHONE_CP_MQTT_PORT: String(mqttPort),
    CLOUDPHONE_CP_MQTT_PUBLIC_URL: `mqtt://127.0.0.1:${mqttPort}`,
  };
  await startChild("control-plane", [join(root, "control-plane/dist/main.js")], cpEnv, "control plane ready");
  console.log(`dev: control plane ready at ${httpUrl} (MQTT mqtt://127.0.0.1:${mqttPort})`);

  writeAgentConfigOnce();
  const agentArgs = [join(root, "agent/dist/main.js"), "run", "--config", agentConfigPath];
  if (!existsSync(join(agentDataDir, "credentials.json"))) agentArgs.push("--token", await createEnrollmentToken(adminToken));
  const ready = await startChild("agent", agentArgs, env, "agent ready");
  console.log(`dev: agent ready as host ${ready.hostId} (device image ${image})`);

  const planId = await ensureDevPlan(adminToken);
  const auth = `-H "Authorization: Bearer $(cat ${adminTokenPath})"`;
  const json = "-H 'content-type: application/json'";
  console.log(`
Admin token: ${adminTokenPath}
Try:
  curl -s ${auth} ${httpUrl}/api/hosts
  curl -s ${auth} -H 'content-type: application/json' -d '{"cpuMillis":500,"memoryMb":512}' ${httpUrl}/api/devices
  curl -s ${auth} ${httpUrl}/api/devices/<id>
  curl -s ${auth} -X POST ${httpUrl}/api/devices/<id>/stop
  curl -s ${auth} "${httpUrl}/api/events?deviceId=<id>"
  mosquitto_sub -h 127.0.0.1 -p ${mqttPort} -u <op-user> -P <password> -t 'cloudphone/v1/#' -v   (credentials: POST /api/mqtt-credentials)
As a user (plan "Dev phone" is ${planId}):
  TOKEN=$(curl -s ${json} -d '{"email":"me@example.com","password":"correct horse battery"}' ${httpUrl}/api/auth/register | node -pe 'JSON.parse(require("fs").readFileSync(0)).accessToken')
  curl -s -H "Authorization: Bearer $TOKEN" ${json} -d '{"amountMinor":10000,"idempotencyKey":"first"}' ${httpUrl}/api/billing/recharge
  curl -s -H "Authorization: Bearer $TOKEN" ${json} -d '{"planId":"${planId}"}' ${httpUrl}/api/orders
  curl -s -H "Authorization: Bearer $TOKEN" ${httpUrl}/api/devices
  curl -sN -H "Authorization: Bearer $TOKEN" ${httpUrl}/api/notifications/stream
API reference: ${httpUrl}/api/openapi.json
Ctrl-C stops both processes (device containers keep running; the agent adopts them next time).
`);
}

main().catch((error) => {
  console.error(`dev: ${error.message}`);
  void shutdown(1);
});
