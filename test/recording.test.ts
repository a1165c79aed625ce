// Screen recording sessions (issue 4: A3), end to end: the real control plane, the real agent, the real adb server
// and the test device's screenrecord. Start → a second start is 409 → stop by id → the file downloads through an
// upload tunnel and ffprobe reads H.264 in MP4; the maximum duration ends a session by itself; `kill -9` of the agent
// mid-recording → after restart the session is failed (`agent_restarted`) in the API and the event stream, and
// neither the device nor the host keeps a process or file of it; another user's device is 404.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api } from "./support/api.js";
import { execInContainer } from "./support/docker.js";
import { startAgent, startControlPlane, type AgentHandle, type ControlPlaneHandle } from "./support/processes.js";
import { callAs, registerUser, type TestUser } from "./support/users.js";
import { sleep, waitFor } from "./support/wait.js";

const execFileAsync = promisify(execFile);

interface Recording {
  id: string;
  deviceId: string;
  status: "recording" | "completed" | "failed";
  startedAt: number;
  endedAt: number | null;
  maxDurationMs: number;
  bytes: number | null;
  reason: string | null;
}

let cp: ControlPlaneHandle;
let agent: AgentHandle;
let alice: TestUser;
let bob: TestUser;
let deviceId = "";
const tmp = mkdtempSync(join(tmpdir(), "cloudphone-rec-test-"));

const createRunningDevice = (ownerId: string): Promise<string> => api(cp).createRunningDevice(ownerId);

beforeAll(async () => {
  cp = await startControlPlane();
  agent = await startAgent({ controlPlane: cp, token: await api(cp).createEnrollmentToken(), config: { runtime: { privileged: false }, reconcileIntervalMs: 1000 } });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
  alice = await registerUser(cp.httpUrl, "alice");
  bob = await registerUser(cp.httpUrl, "bob");
  deviceId = await createRunningDevice(alice.id);
});
afterAll(async () => {
  await agent?.stop();
  await cp?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const container = () => `cloudphone-${deviceId}`;
const as = <T>(user: TestUser, method: string, path: string, body?: unknown) => callAs<T>(cp.httpUrl, user.token, method, path, body);
const start = (maxDurationMs: number) => as<Recording>(alice, "POST", `/api/devices/${deviceId}/recordings`, { maxDurationMs });
const list = () => as<{ recordings: Recording[]; live: boolean }>(alice, "GET", `/api/devices/${deviceId}/recordings`);

/** Command lines of screenrecord processes on the device ("" when there are none). */
async function deviceRecorders(): Promise<string> {
  const r = await execInContainer(container(), ["ps", "-o", "pid,args"]);
  return r.stdout.split("\n").filter((l) => l.includes("screenrecord")).join("\n");
}
async function deviceTempFiles(): Promise<string[]> {
  const r = await execInContainer(container(), ["ls", "/data/local/tmp"]);
  return r.stdout.split(/\s+/).filter((f) => f.startsWith("cloudphone-rec-"));
}
const hostFiles = () => readdirSync(join(agent.dataDir, "recordings"));

async function ffprobe(file: string): Promise<{ codec: string; format: string; duration: number }> {
  const { stdout } = await execFileAsync("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name:format=format_name,duration", "-of", "json", file]);
  const j = JSON.parse(stdout) as { streams: { codec_name: string }[]; format: { format_name: string; duration: string } };
  return { codec: j.streams[0]!.codec_name, format: j.format.format_name, duration: Number(j.format.duration) };
}

describe("recording sessions", () => {
  it("start, a second start is 409, stop by id, the file is H.264 in MP4", async () => {
    const first = await start(60_000);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ deviceId, status: "recording", maxDurationMs: 60_000, endedAt: null, bytes: null });
    const second = await start(60_000);
    expect(second.status).toBe(409);
    expect((second.body as unknown as { error: { code: string } }).error.code).toBe("recording_active");

    // Listing shows the active session, per device and across the caller's devices.
    const listed = await list();
    expect(listed.body.live).toBe(true);
    expect(listed.body.recordings.find((r) => r.id === first.body.id)?.status).toBe("recording");
    const active = await as<{ recordings: Recording[] }>(alice, "GET", "/api/recordings?status=recording");
    expect(active.body.recordings.map((r) => r.id)).toContain(first.body.id);
    expect((await as<{ recordings: Recording[] }>(bob, "GET", "/api/recordings?status=recording")).body.recordings).toEqual([]);
    expect(await deviceRecorders()).toContain(`cloudphone-rec-${first.body.id}.mp4`);

    await sleep(2500);
    const stopped = await as<Recording>(alice, "POST", `/api/devices/${deviceId}/recordings/${first.body.id}/stop`);
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ id: first.body.id, status: "completed", reason: "stopped" });
    expect(stopped.body.bytes).toBeGreaterThan(0);
    // Idempotent; an unknown id is 404.
    expect((await as<Recording>(alice, "POST", `/api/devices/${deviceId}/recordings/${first.body.id}/stop`)).body).toEqual(stopped.body);
    expect((await as(alice, "POST", `/api/devices/${deviceId}/recordings/nosuchrecording/stop`)).status).toBe(404);

    const res = await fetch(`${cp.httpUrl}/api/devices/${deviceId}/recordings/${first.body.id}/file`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.length).toBe(stopped.body.bytes);
    const file = join(tmp, "stopped.mp4");
    writeFileSync(file, bytes);
    const probe = await ffprobe(file);
    expect(probe.codec).toBe("h264");
    expect(probe.format).toContain("mp4");
    expect(probe.duration).toBeGreaterThan(0);

    // Nothing left on the device.
    expect(await deviceRecorders()).toBe("");
    expect(await deviceTempFiles()).toEqual([]);
    expect(hostFiles()).toEqual([`${first.body.id}.mp4`]);
  });

  it("a session ends by itself at its maximum duration", async () => {
    const r = await start(2000);
    expect(r.status).toBe(201);
    const ended = await waitFor(async () => (await list()).body.recordings.find((x) => x.id === r.body.id && x.status !== "recording"), {
      timeoutMs: 15_000,
      message: "the session ended by itself",
    });
    expect(ended).toMatchObject({ status: "completed", reason: "max_duration" });
    expect(ended.bytes).toBeGreaterThan(0);
    // The device's own --time-limit and the agent's timer both end it at 2 s; clocks may round a millisecond early.
    expect(ended.endedAt! - ended.startedAt).toBeGreaterThanOrEqual(1950);
    expect(ended.endedAt! - ended.startedAt).toBeLessThan(10_000);
    const events = (await api(cp).listEvents({ deviceId })).events.filter((e) => (e.data as { recordingId?: string }).recordingId === r.body.id);
    expect(events.map((e) => e.name)).toEqual(["recording.started", "recording.completed"]);
    expect(await deviceRecorders()).toBe("");
    expect(await deviceTempFiles()).toEqual([]);
  });

  it("kill -9 of the agent mid-recording: the session fails on restart and nothing is left", async () => {
    const r = await start(120_000);
    expect(r.status).toBe(201);
    await sleep(1500);
    expect(await deviceRecorders()).toContain(r.body.id);
    await agent.kill9();
    // A partial pull left on the host by the dead agent must go too.
    writeFileSync(join(agent.dataDir, "recordings", `${r.body.id}.mp4.part`), "partial");
    await agent.restart();

    const failed = await waitFor(
      async () => (await as<{ recordings: Recording[] }>(alice, "GET", "/api/recordings")).body.recordings.find((x) => x.id === r.body.id && x.status === "failed"),
      { timeoutMs: 30_000, message: "the interrupted session is failed in the API" },
    );
    expect(failed.reason).toBe("agent_restarted");
    const events = await waitFor(async () => {
      const evs = (await api(cp).listEvents({ deviceId })).events.filter((e) => (e.data as { recordingId?: string }).recordingId === r.body.id);
      return evs.length === 2 ? evs : undefined;
    }, { message: "recording.failed in the event stream" });
    expect(events.map((e) => e.name)).toEqual(["recording.started", "recording.failed"]);
    expect(events[1]!.data).toMatchObject({ reason: "agent_restarted" });

    await waitFor(async () => ((await deviceRecorders()) === "" && (await deviceTempFiles()).length === 0 ? true : undefined), {
      timeoutMs: 30_000,
      message: "no screenrecord process and no temp file on the device",
    });
    expect(hostFiles().filter((f) => f.includes(r.body.id))).toEqual([]);
    // Removed by the agent's recovery (screenrecord, hung up by adbd, had finished the file on the device).
    expect(agent.logs().some((l) => l.includes("recording leftovers removed from the device") && l.includes(r.body.id))).toBe(true);
    // A new session can start on the device afterwards, and the download of a failed one is 404.
    expect((await as(alice, "GET", `/api/devices/${deviceId}/recordings/${r.body.id}/file`)).status).toBe(404);
    const again = await waitFor(async () => {
      const s = await start(5000);
      return s.status === 201 ? s : undefined;
    }, { message: "start after the restart" });
    const stopped = await as<Recording>(alice, "POST", `/api/devices/${deviceId}/recordings/${again.body.id}/stop`);
    expect(stopped.body.status).toBe("completed");
  });

  it("another user's device answers 404 on every recording route", async () => {
    const recs = (await list()).body.recordings;
    const rid = recs[0]!.id;
    for (const [method, path, body] of [
      ["POST", `/api/devices/${deviceId}/recordings`, { maxDurationMs: 5000 }],
      ["POST", `/api/devices/${deviceId}/recordings/${rid}/stop`, undefined],
      ["GET", `/api/devices/${deviceId}/recordings`, undefined],
      ["GET", `/api/devices/${deviceId}/recordings/${rid}/file`, undefined],
    ] as const) {
      const res = await as<{ error: { code: string } }>(bob, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe("device_not_found");
    }
    expect((await as<{ recordings: Recording[] }>(bob, "GET", "/api/recordings")).body.recordings).toEqual([]);
  });

  it("stopping the device ends its session (device_stopped); its leftovers go once it runs again", async () => {
    const r = await start(120_000);
    expect(r.status).toBe(201);
    await sleep(1000);
    expect((await api(cp).deviceAction(deviceId, "stop")).status).toBeLessThan(300);
    const ended = await waitFor(async () => (await list()).body.recordings.find((x) => x.id === r.body.id && x.status !== "recording"), {
      timeoutMs: 30_000,
      message: "the session ended with the device",
    });
    expect(ended).toMatchObject({ status: "failed", reason: "device_stopped", bytes: null });
    expect((await as<Recording>(alice, "POST", `/api/devices/${deviceId}/recordings/${r.body.id}/stop`)).body.status).toBe("failed");
    expect((await api(cp).deviceAction(deviceId, "start")).status).toBeLessThan(300);
    await waitFor(async () => ((await api(cp).getDevice(deviceId)).body.state === "running" ? true : undefined), { timeoutMs: 60_000, message: "running again" });
    await waitFor(async () => ((await deviceRecorders()) === "" && (await deviceTempFiles()).length === 0 ? true : undefined), {
      timeoutMs: 30_000,
      message: "no screenrecord process and no temp file on the restarted device",
    });
    expect(hostFiles().filter((f) => f.includes(r.body.id))).toEqual([]);
  });
});
