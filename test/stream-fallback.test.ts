// Live screen (issue 5) beyond the pinned scrcpy 4.x path, end to end with the real control plane, agents and test
// devices, werift viewers in this process:
// - `stream.source=screenrecord`, and `auto` when the scrcpy server file is missing: WHEP 201, H.264 that ffmpeg
//   decodes without an error at > 20 fps, the first `control` message saying `input: false` (the viewer knows up
//   front), input refused with a precise `error` (no control channel), and the
//   `screenrecord` process gone from the device once the viewer leaves;
// - `stream.scrcpyVersion=3.3.4` (2.x/3.x framing) with that version's server stand-in: video decodes and a touch
//   reaches the device byte for byte.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api } from "./support/api.js";
import { execInContainer } from "./support/docker.js";
import { startAgent, startControlPlane, type AgentHandle, type ControlPlaneHandle } from "./support/processes.js";
import { writeScrcpyServerStandIn } from "./support/scrcpy-server.js";
import { registerUser, type TestUser } from "./support/users.js";
import { sleep, waitFor } from "./support/wait.js";
import { WhepViewer } from "./support/whep-viewer.js";

const execFileAsync = promisify(execFile);
const V3 = "3.3.4";

let cp: ControlPlaneHandle;
let alice: TestUser;
const tmp = mkdtempSync(join(tmpdir(), "cloudphone-stream-fallback-test-"));
const viewers: WhepViewer[] = [];
interface Phone {
  agent: AgentHandle;
  deviceId: string;
}
const phones: Record<"screenrecord" | "auto" | "v3", Phone> = {} as Record<"screenrecord" | "auto" | "v3", Phone>;

async function startPhone(stream: Record<string, unknown>): Promise<Phone> {
  const agent = await startAgent({
    controlPlane: cp,
    token: await api(cp).createEnrollmentToken(),
    config: { runtime: { privileged: false }, reconcileIntervalMs: 1000, stream: { additionalHostAddresses: ["127.0.0.1"], ...stream } },
  });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
  const deviceId = await api(cp).createRunningDevice(alice.id, { hostId: agent.hostId });
  return { agent, deviceId };
}

beforeAll(async () => {
  cp = await startControlPlane();
  alice = await registerUser(cp.httpUrl, "alice");
  const [screenrecord, auto, v3] = await Promise.all([
    startPhone({ source: "screenrecord" }),
    startPhone({ source: "auto", scrcpyServerPath: join(tmp, "no-such-scrcpy-server") }),
    startPhone({ source: "scrcpy", scrcpyVersion: V3, scrcpyServerPath: writeScrcpyServerStandIn(V3, join(tmp, "scrcpy-server-v3")) }),
  ]);
  Object.assign(phones, { screenrecord, auto, v3 });
}, 180_000);
afterAll(async () => {
  for (const v of viewers) await v.close();
  for (const p of Object.values(phones)) await p.agent.stop();
  await cp?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const auth = () => ({ authorization: `Bearer ${alice.token}` });
const container = (p: Phone) => `cloudphone-${p.deviceId}`;

async function join_(p: Phone): Promise<WhepViewer> {
  const v = new WhepViewer();
  viewers.push(v);
  const status = await v.connect(`${cp.httpUrl}/api/devices/${p.deviceId}/whep`, auth());
  expect(status, v.errorBody).toBe(201);
  await v.channelOpen();
  v.startPinging();
  return v;
}

async function leave(v: WhepViewer): Promise<void> {
  const res = await fetch(`${cp.httpUrl}${v.location}`, { method: "DELETE", headers: auth() });
  expect(res.status).toBe(204);
  await v.close();
}

async function processes(p: Phone, name: string): Promise<string[]> {
  const r = await execInContainer(container(p), ["ps", "-o", "pid,args"]);
  return r.stdout.split("\n").filter((l) => l.includes(name));
}

/** Frames at the source's rate, decoded by ffmpeg without a single error, at the device's 720x1280. */
async function expectDecodableVideo(v: WhepViewer, name: string, minFps: number): Promise<void> {
  await waitFor(() => v.frames >= 10, { timeoutMs: 15_000, message: "first frames" });
  await sleep(3000);
  expect(v.fps(3000)).toBeGreaterThan(minFps);
  const file = join(tmp, `${name}.h264`);
  const received = v.accessUnits.slice(); // frames keep arriving while ffmpeg runs
  writeFileSync(file, Buffer.concat(received));
  const { stderr } = await execFileAsync("ffmpeg", ["-v", "error", "-f", "h264", "-i", file, "-f", "null", "-"]);
  expect(stderr).toBe("");
  const probe = await execFileAsync("ffprobe", ["-v", "error", "-count_frames", "-show_entries", "stream=width,height,nb_read_frames", "-of", "json", file]);
  const st = (JSON.parse(probe.stdout) as { streams: { width: number; height: number; nb_read_frames: string }[] }).streams[0]!;
  expect([st.width, st.height]).toEqual([720, 1280]);
  // Every access unit from the first IDR on is a picture (a viewer may join mid-GOP; those frames cannot decode).
  const fromIdr = received.length - received.findIndex(hasIdr);
  expect(Number(st.nb_read_frames)).toBe(fromIdr);
}

/** Whether an Annex-B access unit (4-byte start codes) holds an IDR slice. */
function hasIdr(au: Buffer): boolean {
  for (let i = 0; i + 4 < au.length; i++) if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1 && (au[i + 3]! & 0x1f) === 5) return true;
  return false;
}

async function screenrecordFallback(p: Phone, name: string): Promise<void> {
  const v = await join_(p);
  // The viewer is told up front that this stream takes no input (before it tries any).
  await waitFor(() => v.messages.find((m) => m.t === "control"), { timeoutMs: 5000, message: "control message" });
  expect(v.messages.find((m) => m.t === "control")).toMatchObject({ t: "control", input: false });
  await expectDecodableVideo(v, name, 20);
  expect(await processes(p, "screenrecord")).toHaveLength(1);
  expect(await processes(p, "app_process")).toHaveLength(0);
  // No control channel in this mode: every input message is refused, precisely, and the session lives on.
  // (Errors are sent at most once a second per viewer, so one message per second here.)
  const errors = () => v.messages.filter((m) => m.t === "error");
  v.send({ t: "touch", action: "down", id: 0, x: 0.5, y: 0.5 });
  await waitFor(() => errors().length === 1 || undefined, { timeoutMs: 5000, message: "touch refused" });
  await sleep(1100);
  v.send({ t: "key", action: "down", keycode: 66 });
  await waitFor(() => errors().length === 2 || undefined, { timeoutMs: 5000, message: "key refused" });
  expect(errors()).toEqual([
    { t: "error", code: "invalid", message: expect.stringMatching(/^input is not available: the device streams with screenrecord \(no scrcpy control channel\); 'touch'/) },
    { t: "error", code: "invalid", message: expect.stringMatching(/^input is not available: .*; 'key' was dropped$/) },
  ]);
  // A second viewer (not in control) is told the same, not view_only: nobody can take control of this capture.
  const w = await join_(p);
  await waitFor(() => w.messages.find((m) => m.t === "control"), { timeoutMs: 5000, message: "second viewer's control message" });
  expect(w.messages.find((m) => m.t === "control")).toMatchObject({ t: "control", holder: false, input: false });
  w.send({ t: "key", action: "down", keycode: 4 });
  await waitFor(() => w.messages.find((m) => m.t === "error"), { timeoutMs: 5000, message: "second viewer's input refused" });
  expect(w.messages.find((m) => m.t === "error")).toMatchObject({ code: "invalid", message: expect.stringContaining("no scrcpy control channel") });
  await leave(w);
  expect(v.messages.filter((m) => m.t === "control").every((m) => m.input === false)).toBe(true);
  const framesBefore = v.frames;
  await sleep(500);
  expect(v.frames).toBeGreaterThan(framesBefore);
  await leave(v);
  await waitFor(async () => ((await processes(p, "screenrecord")).length === 0 ? true : undefined), { timeoutMs: 5000, message: "screenrecord gone" });
}

describe("live screen fallbacks and the 3.x framing", () => {
  it("source=screenrecord: decodable video above 20 fps, input refused with a precise error, capture stops on leave", async () => {
    await screenrecordFallback(phones.screenrecord, "screenrecord");
  }, 60_000);

  it("source=auto without the scrcpy server file falls back to screenrecord", async () => {
    await screenrecordFallback(phones.auto, "auto");
    expect(phones.auto.agent.logs().some((l) => l.includes("falling back to screenrecord"))).toBe(true);
    expect((await execInContainer(container(phones.auto), ["sh", "-c", "cat /data/scrcpy/sessions.log 2>/dev/null; true"])).stdout).not.toContain(" start ");
  }, 60_000);

  it("scrcpyVersion 3.3.4: the 3.x framing decodes and a touch arrives byte for byte", async () => {
    const p = phones.v3;
    const v = await join_(p);
    await expectDecodableVideo(v, "v3", 20);
    const sessions = (await execInContainer(container(p), ["cat", "/data/scrcpy/sessions.log"])).stdout.split("\n").filter((l) => l.includes(" start "));
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toContain(`version=${V3} framing=v3`);
    await waitFor(() => v.messages.find((m) => m.t === "control" && m.holder === true), { timeoutMs: 5000, message: "control holder message" });
    v.send({ t: "touch", action: "down", id: 0, x: 0.5, y: 0.25 });
    const touch = Buffer.alloc(32);
    touch[0] = 2; // INJECT_TOUCH_EVENT
    touch[1] = 0; // ACTION_DOWN
    touch.writeBigInt64BE(-2n, 2); // generic finger
    touch.writeInt32BE(360, 10);
    touch.writeInt32BE(320, 14);
    touch.writeUInt16BE(720, 18);
    touch.writeUInt16BE(1280, 20);
    touch.writeUInt16BE(0xffff, 22); // pressure 1.0; action button and buttons 0
    const controlBytes = async () => {
      const r = await execInContainer(container(p), ["sh", "-c", "cat /data/scrcpy/control-*.bin | od -An -v -tx1"]);
      const all = Buffer.from(r.stdout.replace(/\s+/g, ""), "hex");
      // Drop RESET_VIDEO (type 17, one byte: the agent's keyframe requests); keep touch messages (32 bytes).
      const kept: Buffer[] = [];
      for (let o = 0; o < all.length; ) {
        const size = all[o] === 17 ? 1 : all[o] === 2 ? 32 : all.length - o;
        if (all[o] !== 17) kept.push(all.subarray(o, o + size));
        o += size;
      }
      return Buffer.concat(kept);
    };
    await waitFor(async () => ((await controlBytes()).equals(touch) ? true : undefined), { timeoutMs: 5000, message: "touch bytes on the device" });
    await leave(v);
    await waitFor(async () => ((await processes(p, "app_process")).length === 0 ? true : undefined), { timeoutMs: 5000, message: "app_process gone" });
  }, 60_000);
});
