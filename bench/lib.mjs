// Shared helpers for the benchmarks: child processes on loopback, percentiles, reports.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Spawns a node script and resolves once a JSON log line matches `readyMsg`. */
export function spawnNode(script, args, env, readyMsg, timeoutMs = 20_000) {
  const proc = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} not ready:\n${lines.slice(-20).join("\n")}`)), timeoutMs);
    let buf = "";
    const onData = (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (lines.length > 500) lines.shift();
        try {
          const rec = JSON.parse(line);
          if (rec.msg === readyMsg) {
            clearTimeout(timer);
            resolve({ proc, ready: rec, lines });
          }
        } catch {
          /* not JSON */
        }
      }
    };
    proc.stdout.setEncoding("utf8").on("data", onData);
    proc.stderr.setEncoding("utf8").on("data", onData);
    proc.once("exit", (code) => reject(new Error(`${script} exited ${code}:\n${lines.slice(-20).join("\n")}`)));
  });
}

export async function startControlPlane(extraEnv = {}) {
  const dataDir = tempDir("cloudphone-bench-cp-");
  const httpPort = await freePort();
  const mqttPort = await freePort();
  const adminToken = `bench-${randomBytes(16).toString("hex")}`;
  const { proc } = await spawnNode(
    join(repoRoot, "control-plane/dist/main.js"),
    [],
    {
      CLOUDPHONE_CP_HTTP_PORT: String(httpPort),
      CLOUDPHONE_CP_MQTT_PORT: String(mqttPort),
      CLOUDPHONE_CP_DATA_DIR: dataDir,
      CLOUDPHONE_CP_ADMIN_TOKEN: adminToken,
      CLOUDPHONE_CP_LOG_LEVEL: "info",
      ...extraEnv,
    },
    "control plane ready",
  );
  const http = `http://127.0.0.1:${httpPort}`;
  const call = async (method, path, body) => {
    const res = await fetch(http + path, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
    return json;
  };
  return { proc, dataDir, httpPort, mqttPort, http, adminToken, call, stop: () => stopProc(proc) };
}

export function stopProc(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve();
    proc.once("exit", () => resolve());
    proc.kill("SIGTERM");
    setTimeout(() => proc.kill("SIGKILL"), 5000).unref();
  });
}

export async function enroll(cp, capacity = { cpuMillis: 64_000, memoryMb: 262_144, diskMb: 1_000_000, deviceSlots: 1000 }) {
  const { token } = await cp.call("POST", "/api/enrollment-tokens", {});
  return cp.call("POST", "/api/hosts/enroll", { token, hostname: "bench", agentVersion: "bench", capacity });
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summarize(values) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.at(-1) };
}

export function writeResult(name, result) {
  const dir = join(repoRoot, "bench/results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), ...result }, null, 2) + "\n");
  return file;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Imports a TypeScript test helper that the package build leaves out of `dist/` (e.g.
 * control-plane/src/apps/testing/apk.ts), by transpiling it with the workspace's TypeScript into a temp module.
 * Its bare imports must be node: modules, or be mapped by `imports` (specifier → URL, e.g. a package that only the
 * test package depends on); a mapped specifier the helper no longer imports is an error.
 */
export async function importTsHelper(relativePath, { imports = {} } = {}) {
  const { default: ts } = await import("typescript");
  const source = readFileSync(join(repoRoot, relativePath), "utf8");
  let js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  for (const [specifier, url] of Object.entries(imports)) {
    const from = `from ${JSON.stringify(specifier)}`;
    if (!js.includes(from)) throw new Error(`${relativePath} no longer imports ${specifier}`);
    js = js.replaceAll(from, `from ${JSON.stringify(url)}`);
  }
  const file = join(tempDir("cloudphone-bench-ts-"), "helper.mjs");
  writeFileSync(file, js);
  return import(file);
}
