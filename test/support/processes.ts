/**
 * Starts the real control plane and agent processes (built `dist/main.js`) for integration tests,
 * each with a fresh temp data dir and free loopback ports, and waits until each logs that it is ready.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll } from "vitest";
import { killAllChildren, ManagedChild, type ExitInfo, type LogRecord } from "./child.js";
import { TEST_DEVICE_IMAGE } from "./device-image.js";
import { freePort } from "./ports.js";
import { recordHost } from "./run-hosts.js";

export { freePort };

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const READY_TIMEOUT_MS = 20_000;
const tempDirs: string[] = [];

export interface ProcessHandle {
  readonly proc: ManagedChild["proc"];
  /** Every output line of this process (across restarts), oldest first. */
  logs(): string[];
  kill(signal?: NodeJS.Signals): Promise<ExitInfo>;
  stop(): Promise<ExitInfo>;
}

export interface ControlPlaneOptions {
  adminToken?: string;
  mqttMode?: "embedded" | "external";
  /** External broker URL (mqttMode "external"). */
  mqttUrl?: string;
  commandResendMs?: number;
  logLevel?: string;
  /** Extra environment, applied last. */
  env?: Record<string, string>;
}

export interface ControlPlane extends ProcessHandle {
  httpUrl: string;
  httpPort: number;
  mqttPort: number;
  mqttUrl: string;
  adminToken: string;
  dataDir: string;
  ready: LogRecord;
  /**
   * Stops (SIGTERM) if running and starts again with the same data dir, ports and token. `env` changes the
   * environment from this start on (a value of undefined removes the variable).
   */
  restart(options?: { env?: Record<string, string | undefined> }): Promise<void>;
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const dataDir = makeTempDir("cloudphone-cp-");
  const httpPort = await freePort();
  const mqttPort = await freePort();
  const adminToken = options.adminToken ?? `admin-${randomBytes(16).toString("hex")}`;
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    CLOUDPHONE_CP_HTTP_HOST: "127.0.0.1",
    CLOUDPHONE_CP_HTTP_PORT: String(httpPort),
    CLOUDPHONE_CP_DATA_DIR: dataDir,
    CLOUDPHONE_CP_ADMIN_TOKEN: adminToken,
    CLOUDPHONE_CP_MQTT_MODE: options.mqttMode ?? "embedded",
    CLOUDPHONE_CP_MQTT_HOST: "127.0.0.1",
    CLOUDPHONE_CP_MQTT_PORT: String(mqttPort),
    CLOUDPHONE_CP_LOG_LEVEL: options.logLevel ?? "info",
    ...(options.mqttUrl ? { CLOUDPHONE_CP_MQTT_URL: options.mqttUrl } : {}),
    ...(options.commandResendMs ? { CLOUDPHONE_CP_COMMAND_RESEND_MS: String(options.commandResendMs) } : {}),
    ...options.env,
  };
  // Agents must be told the broker they can reach: the external one when the control plane uses it
  // (whether set through options or env), else the embedded listener. An explicit public URL wins.
  const external = baseEnv.CLOUDPHONE_CP_MQTT_MODE === "external" && baseEnv.CLOUDPHONE_CP_MQTT_URL;
  const mqttUrl = baseEnv.CLOUDPHONE_CP_MQTT_PUBLIC_URL ?? (external ? String(baseEnv.CLOUDPHONE_CP_MQTT_URL) : `mqtt://127.0.0.1:${mqttPort}`);
  let env: NodeJS.ProcessEnv = { ...baseEnv, CLOUDPHONE_CP_MQTT_PUBLIC_URL: mqttUrl };
  const lines: string[] = [];
  const launch = (): ManagedChild =>
    new ManagedChild(
      { name: "control-plane", command: process.execPath, args: [join(repoRoot, "control-plane/dist/main.js")], env, cwd: repoRoot },
      lines,
    );
  let child = launch();
  const waitReady = (from: number): Promise<LogRecord> =>
    child.waitForLog((r) => r.msg === "control plane ready", '"control plane ready"', READY_TIMEOUT_MS, from);

  const handle: ControlPlane = {
    httpUrl: `http://127.0.0.1:${httpPort}`,
    httpPort,
    mqttPort,
    mqttUrl,
    adminToken,
    dataDir,
    ready: await readyOrKill(child, waitReady(0)),
    get proc() {
      return child.proc;
    },
    logs: () => [...lines],
    kill: (signal) => child.kill(signal),
    stop: () => child.stop(),
    async restart(restartOptions) {
      await child.stop();
      if (restartOptions?.env) {
        env = { ...env, ...restartOptions.env };
        for (const [key, value] of Object.entries(restartOptions.env)) if (value === undefined) delete env[key];
      }
      const from = lines.length;
      child = launch();
      handle.ready = await waitReady(from);
    },
  };
  return handle;
}

export type ControlPlaneHandle = ControlPlane;
export type AgentHandle = Agent;

/** Agent config keys the tests may override (deep-merged over the harness defaults). */
export type AgentConfigOverrides = Record<string, unknown>;

export interface AgentOptions {
  /** The control plane to enroll with (or give controlPlaneUrl). */
  controlPlane?: Pick<ControlPlane, "httpUrl">;
  controlPlaneUrl?: string;
  /** One-time enrollment token; passed as --token on the first start only. */
  token?: string;
  hostName?: string;
  /** Shortcut for config.capacity (e.g. `{ deviceSlots: 64 }`). */
  capacity?: { cpuMillis?: number; memoryMb?: number; diskMb?: number; deviceSlots?: number };
  config?: AgentConfigOverrides;
  env?: Record<string, string>;
}

export interface Agent extends ProcessHandle {
  configPath: string;
  dataDir: string;
  localApiPort: number;
  localApiUrl: string;
  /** hostId from the latest "agent ready" line. */
  hostId: string;
  ready: LogRecord;
  kill9(): Promise<void>;
  /** GET on the agent's loopback API; resolves with the parsed JSON body, throws on a non-2xx status. */
  localApi(path: string): Promise<unknown>;
  /** POST on the agent's loopback API; resolves with status and parsed body. */
  localApiPost(path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** Stops (SIGTERM) if running and starts again with the same config and data dir (no token). */
  restart(): Promise<void>;
}

export async function startAgent(options: AgentOptions): Promise<Agent> {
  const controlPlaneUrl = options.controlPlaneUrl ?? options.controlPlane?.httpUrl;
  if (!controlPlaneUrl) throw new Error("startAgent: give controlPlane or controlPlaneUrl");
  const root = makeTempDir("cloudphone-agent-");
  const dataDir = join(root, "data");
  mkdirSync(dataDir, { recursive: true });
  const localApiPort = await freePort();
  const config = deepMerge(
    {
      controlPlaneUrl,
      dataDir,
      hostName: options.hostName ?? `test-host-${randomBytes(3).toString("hex")}`,
      runtime: { image: TEST_DEVICE_IMAGE, networkMode: "host", privileged: false, stopTimeoutSeconds: 2 },
      localApi: { host: "127.0.0.1", port: localApiPort },
      reconcileIntervalMs: 2000,
      logLevel: "info",
    },
    deepMerge(options.capacity ? { capacity: options.capacity } : {}, options.config ?? {}),
  );
  const configPath = join(root, "agent.json");
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  const lines: string[] = [];
  const launch = (token: string | undefined): ManagedChild => {
    const args = [join(repoRoot, "agent/dist/main.js"), "run", "--config", configPath];
    if (token) args.push("--token", token);
    return new ManagedChild({ name: "agent", command: process.execPath, args, env, cwd: repoRoot }, lines);
  };
  let child = launch(options.token);
  const waitReady = (from: number): Promise<LogRecord> =>
    child.waitForLog((r) => r.msg === "agent ready", '"agent ready"', READY_TIMEOUT_MS, from);
  const ready = await readyOrKill(child, waitReady(0));
  recordHost(String(ready.hostId));

  const handle: Agent = {
    configPath,
    dataDir,
    localApiPort,
    localApiUrl: `http://127.0.0.1:${localApiPort}`,
    hostId: String(ready.hostId),
    ready,
    get proc() {
      return child.proc;
    },
    logs: () => [...lines],
    kill: (signal) => child.kill(signal),
    async kill9() {
      await child.kill("SIGKILL");
    },
    async localApi(path) {
      const { status, body } = await localRequest(localApiPort, "GET", path);
      if (status < 200 || status >= 300) throw new Error(`agent GET ${path}: ${status} ${JSON.stringify(body)}`);
      return body;
    },
    localApiPost: (path, body) => localRequest(localApiPort, "POST", path, body),
    stop: () => child.stop(),
    async restart() {
      await child.stop();
      const from = lines.length;
      child = launch(undefined);
      handle.ready = await waitReady(from);
      handle.hostId = String(handle.ready.hostId);
    },
  };
  return handle;
}

/** Kills every process started by this file's tests and removes their temp dirs (CLOUDPHONE_TEST_KEEP=1 keeps them). */
export function stopAllProcesses(): void {
  killAllChildren();
  if (process.env.CLOUDPHONE_TEST_KEEP === "1") return;
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

afterAll(stopAllProcesses);

async function localRequest(port: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : {};
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed };
}

/** A child that never got ready is killed at once, so a failed start leaks nothing. */
async function readyOrKill(child: ManagedChild, ready: Promise<LogRecord>): Promise<LogRecord> {
  try {
    return await ready;
  } catch (error) {
    await child.kill("SIGKILL");
    throw error;
  }
}

function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function deepMerge(base: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    const current = result[key];
    result[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return result;
}
