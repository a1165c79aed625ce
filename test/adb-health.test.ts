// Readiness, exec and health of devices through the real adb server and the test device's adbd (issue 4: A1, D3):
// a device is `running` only once adbd answers and the boot completed; exec returns exit codes and stderr; adbd
// killed → device.connection_lost → restart → device.recovered; adbd killed on every restart → device.failed after
// the bound, with metering stopped; the adb server dies → the agent starts a new one and the device stays running.
import { execFile } from "node:child_process";
import { connect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api } from "./support/api.js";
import { ManagedChild } from "./support/child.js";
import { docker, execInContainer } from "./support/docker.js";
import { freePort, startAgent, startControlPlane, type AgentHandle, type ControlPlaneHandle } from "./support/processes.js";
import { sleep, waitFor } from "./support/wait.js";

const BOOT_DELAY_MS = 3000;
const METER_MS = 1000;
let cp: ControlPlaneHandle;
let agent: AgentHandle;

beforeAll(async () => {
  cp = await startControlPlane();
  agent = await startAgent({
    controlPlane: cp,
    token: await api(cp).createEnrollmentToken(),
    config: {
      runtime: { privileged: false, extraBootArgs: [`androidboot.test_boot_delay_ms=${BOOT_DELAY_MS}`] },
      reconcileIntervalMs: 1000,
      metering: { intervalMs: METER_MS },
      recovery: { maxAttempts: 2, backoffMs: 300 },
      adb: { bootTimeoutMs: 8000, healthIntervalMs: 500, commandTimeoutMs: 2000, maxReconnects: 2, reconnectBackoffMs: 300 },
    },
  });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
});
afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
});

interface LocalDevice {
  deviceId: string;
  state: string;
  since: number;
  adb?: { host: string; port: number };
}

async function local(id: string): Promise<LocalDevice | undefined> {
  const body = (await agent.localApi("/v1/devices")) as { devices: LocalDevice[] };
  return body.devices.find((d) => d.deviceId === id);
}

async function eventNames(id: string): Promise<string[]> {
  return (await api(cp).listEvents({ deviceId: id })).events.map((e) => e.name);
}

function exec(id: string, body: unknown) {
  return agent.localApiPost(`/v1/devices/${id}/exec`, body) as Promise<{ status: number; body: Record<string, unknown> }>;
}

/** Reads the agent's own database (WAL: readers do not disturb the running agent). */
function agentDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(join(agent.dataDir, "agent.db"), { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/**
 * The states the agent recorded for a device, in commit order (each change is a retained state message; a message
 * that only changed details repeats the state and is left out here).
 */
function recordedStates(id: string): string[] {
  const all = agentDb((db) =>
    (db.prepare("SELECT payload FROM outbox WHERE topic LIKE ? ORDER BY seq").pluck().all(`%/devices/${id}/state`) as string[]).map(
      (p) => (JSON.parse(p) as { state: string }).state,
    ),
  );
  return all.filter((s, i) => i === 0 || s !== all[i - 1]);
}

async function createRunningDevice(): Promise<string> {
  const res = await api(cp).createDevice({ cpuMillis: 100, memoryMb: 256, diskMb: 256 });
  expect(res.status).toBe(201);
  const id = res.body.id as string;
  await waitFor(async () => (await local(id))?.state === "running", { timeoutMs: 30_000, message: `${id} running` });
  return id;
}

let deviceId = "";

describe("adb readiness and health", () => {
  it("records a device running only after adbd answers and the boot completed", async () => {
    deviceId = await createRunningDevice();
    const dev = (await local(deviceId))!;
    const info = await docker.getContainer(`cloudphone-${deviceId}`).inspect();
    // Host network mode: the device's own adbd port, passed as a boot arg and reported in its state.
    expect(dev.adb?.host).toBe("127.0.0.1");
    expect(dev.adb!.port).toBeGreaterThanOrEqual(20000);
    expect(dev.adb!.port).toBeLessThanOrEqual(20999);
    expect(info.Config.Cmd).toContain(`androidboot.redroid_adb_port=${dev.adb!.port}`);
    // booting (not metered) until sys.boot_completed=1, which the test device sets BOOT_DELAY_MS after start
    const states = recordedStates(deviceId);
    expect(states.indexOf("booting")).toBeGreaterThan(-1);
    expect(states.indexOf("booting")).toBeLessThan(states.indexOf("running"));
    expect(dev.since - Date.parse(info.State.StartedAt)).toBeGreaterThanOrEqual(BOOT_DELAY_MS);
    expect((await api(cp).getDevice(deviceId)).body.state).toBe("running");
    const events = await waitFor(async () => {
      const names = await eventNames(deviceId);
      return names.includes("device.started") ? names : undefined;
    }, { message: "device.started" });
    expect(events).toEqual(["device.created", "device.started"]);
  });

  it("runs commands with their exit codes and separate stdout and stderr", async () => {
    const r = await exec(deviceId, { cmd: "echo out; echo err >&2; exit 7" });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ exitCode: 7, stdout: "out\n", stderr: "err\n", timedOut: false, truncated: false });

    const prop = await exec(deviceId, { cmd: ["getprop", "sys.boot_completed"] });
    expect(prop.body).toMatchObject({ exitCode: 0, stdout: "1\n" });
    const quoted = await exec(deviceId, { cmd: ["echo", "a  b", "it's"] });
    expect(quoted.body).toMatchObject({ exitCode: 0, stdout: "a  b it's\n" });
    const stdin = await exec(deviceId, { cmd: "cat", stdin: "from stdin" });
    expect(stdin.body).toMatchObject({ exitCode: 0, stdout: "from stdin" });
  });

  it("ends a command at its timeout and kills it on the device", async () => {
    const started = Date.now();
    const r = await exec(deviceId, { cmd: "sleep 37", timeoutMs: 500 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ exitCode: null, timedOut: true });
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor(async () => {
      const ps = await execInContainer(`cloudphone-${deviceId}`, ["ps"]);
      return !ps.stdout.includes("sleep 37");
    }, { timeoutMs: 5000, message: "the timed-out command is gone from the device" });
  });

  it("refuses bad exec requests, naming the field", async () => {
    const bad = await exec(deviceId, { cmd: 5 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/cmd/);
    const badTimeout = await exec(deviceId, { cmd: "true", timeoutMs: 0 });
    expect(badTimeout.status).toBe(400);
    expect(JSON.stringify(badTimeout.body)).toMatch(/timeoutMs/);
    expect((await exec("no-such-device", { cmd: "true" })).status).toBe(404);
  });

  it("adbd killed: device.connection_lost, a restart, then device.recovered", async () => {
    const before = (await docker.getContainer(`cloudphone-${deviceId}`).inspect()).State.StartedAt;
    const kill = await execInContainer(`cloudphone-${deviceId}`, ["pkill", "adbd"]);
    expect(kill.exitCode).toBe(0);
    await waitFor(async () => (await local(deviceId))?.state === "error", { timeoutMs: 15_000, message: "connection lost recorded" });
    const events = await waitFor(async () => {
      const names = await eventNames(deviceId);
      return names.includes("device.recovered") ? names : undefined;
    }, { timeoutMs: 60_000, message: "device.recovered" });
    expect(events).toEqual(["device.created", "device.started", "device.connection_lost", "device.recovered"]);
    expect((await local(deviceId))?.state).toBe("running");
    // adbd does not come back by itself: the recovery restarted the container.
    expect((await docker.getContainer(`cloudphone-${deviceId}`).inspect()).State.StartedAt).not.toBe(before);
    expect((await exec(deviceId, { cmd: "echo back" })).body).toMatchObject({ exitCode: 0, stdout: "back\n" });
    // the states on the way: lost connection (error), restart, boot, ready
    const states = recordedStates(deviceId);
    expect(states.slice(states.lastIndexOf("error"))).toEqual(["error", "restarting", "running"]);
  });

  it("adbd dead on every restart: device.failed after the bound, container stopped, metering stopped", async () => {
    const id = await createRunningDevice();
    const name = `cloudphone-${id}`;
    expect((await execInContainer(name, ["touch", "/data/adbd.disabled"])).exitCode).toBe(0);
    expect((await execInContainer(name, ["pkill", "adbd"])).exitCode).toBe(0);

    await waitFor(async () => (await local(id))?.state === "failed", { timeoutMs: 90_000, message: "device failed" });
    const events = await waitFor(async () => {
      const names = await eventNames(id);
      return names.includes("device.failed") ? names : undefined;
    }, { message: "device.failed" });
    // lost → restart 1 (boot times out) → restart 2 (boot times out) → gave up
    expect(events).toEqual(["device.created", "device.started", "device.connection_lost", "device.error", "device.error", "device.failed"]);
    // `failed` is recorded first, then the container is stopped (docker stop may take a moment on a loaded host).
    await waitFor(async () => (await docker.getContainer(name).inspect()).State.Running === false, { timeoutMs: 30_000, message: "container stopped after device.failed" });

    const usage = () =>
      agentDb((db) => ({
        open: db.prepare("SELECT COUNT(*) FROM meter WHERE device_id = ?").pluck().get(id) as number,
        records: db.prepare("SELECT COUNT(*) FROM outbox WHERE topic LIKE '%/usage' AND device_id = ?").pluck().get(id) as number,
      }));
    const atFailure = usage();
    expect(atFailure.open).toBe(0);
    expect(atFailure.records).toBeGreaterThan(0); // the time it was running before adbd died was metered
    await sleep(3 * METER_MS);
    expect(usage()).toEqual(atFailure);
    expect((await api(cp).getDevice(id)).body.state).toBe("failed");
  });
});

// The adb server dies under a running agent (libraries.md §3 pitfall 4: the device tracker dies with it). The agent
// re-creates its tracker, which starts a new server (adb.bin), and re-connects the device: a restarted adb server is
// not a device failure. A second agent with its own adb server on a free port, so the host's shared server (5037)
// is never touched.
describe("adb server restart", () => {
  const run = promisify(execFile);
  let agent2: AgentHandle;
  let adbPort = 0;
  let server: ManagedChild | null = null;

  /** Whether an adb server listens on our port (a plain TCP connect: `adb devices` would start one itself). */
  const serverListens = (): Promise<boolean> =>
    new Promise((resolve) => {
      const s = connect({ host: "127.0.0.1", port: adbPort });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
  const devices = async (): Promise<string> =>
    (await serverListens()) ? (await run("adb", ["-P", String(adbPort), "devices"], { timeout: 5000 })).stdout : "";

  beforeAll(async () => {
    adbPort = await freePort();
    // adb binds loopback by default; `nodaemon` keeps it in the foreground as our child.
    server = new ManagedChild({ name: "adb", command: "adb", args: ["-L", `tcp:${adbPort}`, "nodaemon", "server"], env: process.env }, []);
    await waitFor(serverListens, { message: "own adb server" });
    agent2 = await startAgent({
      controlPlane: cp,
      token: await api(cp).createEnrollmentToken(),
      config: { adb: { serverPort: adbPort, healthIntervalMs: 500, commandTimeoutMs: 2000 }, reconcileIntervalMs: 1000 },
    });
    await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent2.hostId && h.status === "online"), { message: "host 2 online" });
  });
  afterAll(async () => {
    await agent2?.stop();
    await server?.kill("SIGKILL");
    // The server the agent started in its place runs detached: ask it to exit.
    await run("adb", ["-P", String(adbPort), "kill-server"], { timeout: 5000 }).catch(() => undefined);
  });

  it("keeps a ready device running: the agent starts a new server and re-connects the device", async () => {
    const res = await api(cp).createDevice({ cpuMillis: 100, memoryMb: 256, diskMb: 256, hostId: agent2.hostId });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    expect(res.body.hostId).toBe(agent2.hostId);
    await waitFor(async () => (await api(cp).getDevice(id)).body.state === "running", { timeoutMs: 30_000, message: "device running" });
    const listed = (await agent2.localApi("/v1/devices")) as { devices: LocalDevice[] };
    const serial = `127.0.0.1:${listed.devices.find((d) => d.deviceId === id)!.adb!.port}`;
    expect(await devices()).toContain(`${serial}\tdevice`);

    await server!.kill("SIGKILL");
    server = null;
    // A new server (started by the agent) knows the device again, online.
    await waitFor(async () => (await devices()).includes(`${serial}\tdevice`), { timeoutMs: 30_000, message: "device on the new adb server" });
    await sleep(2000); // a few health checks
    const after = (await agent2.localApi("/v1/devices")) as { devices: LocalDevice[] };
    expect(after.devices.find((d) => d.deviceId === id)?.state).toBe("running");
    expect((await eventNames(id))).toEqual(["device.created", "device.started"]); // never broken: no connection_lost
    const r = await agent2.localApiPost(`/v1/devices/${id}/exec`, { cmd: "echo still here" });
    expect(r.body).toMatchObject({ exitCode: 0, stdout: "still here\n" });
    expect(agent2.logs().some((l) => l.includes("adb device tracker re-created"))).toBe(true);
  });
});

