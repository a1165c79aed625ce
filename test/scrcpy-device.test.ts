// The test device's scrcpy server emulator (app_process) with the real adb server: push the stand-in server
// file, `adb forward` to localabstract:scrcpy_<scid>, start it with `adb shell CLASSPATH=… app_process …`, and
// speak the socket protocol from Node in both framings (3.x and 4.x): device and codec meta, session packets,
// config and key frame flags, PTS, pacing, decodable H.264, control messages recorded byte for byte, clipboard,
// RESET_VIDEO and ROTATE_DEVICE, errors like the real server's, and no process left behind. Also the
// screenrecord fallback (raw H.264 on stdout, paced, time limit).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_DEVICE_IMAGE } from "./support/device-image.js";
import { docker, execInContainer, MANAGED_LABEL } from "./support/docker.js";
import { freePort } from "./support/ports.js";
import { run } from "./support/run.js";
import { writeScrcpyServerStandIn } from "./support/scrcpy-server.js";
import { nalTypes, readMedia, readPacket, SocketReader, type Packet } from "./support/scrcpy-socket.js";
import { sleep, waitFor } from "./support/wait.js";

const suffix = randomBytes(4).toString("hex");
const name = `cloudphone-scrcpy-test-${suffix}`;
const volumeName = `cloudphone-scrcpy-test-data-${suffix}`;
const labels = { [MANAGED_LABEL]: "true", "io.cloudphone.test": "scrcpy" };
const work = mkdtempSync(join(tmpdir(), "cloudphone-scrcpy-test-"));
const JAR = "/data/local/tmp/scrcpy-server.jar";
const V3 = "3.3.4";
const V4 = "4.1";
let serial = "";
let containerId = "";

const adb = (args: string[], options?: { timeoutMs?: number; input?: Buffer }) => run("adb", ["-s", serial, ...args], options);
const deviceFile = async (path: string): Promise<Buffer> => (await adb(["exec-out", `cat ${path} 2>/dev/null`])).stdout;
const appProcesses = async (): Promise<string[]> =>
  (await execInContainer(containerId, ["ps", "-o", "pid,args"])).stdout.split("\n").filter((line) => line.includes("app_process"));

async function pushServer(version: string): Promise<void> {
  const push = await adb(["push", writeScrcpyServerStandIn(version, join(work, `scrcpy-server-${version}.jar`)), JAR]);
  expect(push.code, push.stderr).toBe(0);
}

interface Server {
  child: ChildProcess;
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Starts the server the way scrcpy's client does (adb shell, CLASSPATH, app_process, version, key=value). */
function startServer(version: string, options: string[]): Server {
  const child = spawn("adb", ["-s", serial, "shell", `CLASSPATH=${JAR}`, "app_process", "/", "com.genymobile.scrcpy.Server", version, ...options], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on("data", (chunk: Buffer) => out.push(chunk));
  child.stderr?.on("data", (chunk: Buffer) => err.push(chunk));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })),
  );
  return { child, exited };
}

async function forward(scid: string): Promise<number> {
  const result = await adb(["forward", "tcp:0", `localabstract:scrcpy_${scid}`]);
  expect(result.code, result.stderr).toBe(0);
  return Number(result.stdout.toString().trim());
}

async function connectSocket(port: number): Promise<SocketReader> {
  const socket = connect({ host: "127.0.0.1", port });
  socket.setNoDelay(true);
  const reader = new SocketReader(socket);
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  return reader;
}

/** The first socket: an adb forward accepts before the server listens, so retry until the dummy byte comes. */
async function connectFirst(port: number): Promise<SocketReader> {
  return waitFor(
    async () => {
      const reader = await connectSocket(port);
      try {
        expect([...(await reader.read(1, 2000))]).toEqual([0]);
        return reader;
      } catch (error) {
        reader.socket.destroy();
        throw error;
      }
    },
    { timeoutMs: 10_000, intervalMs: 100, message: "dummy byte on the first socket" },
  );
}

/** ffmpeg decodes the Annex-B bytes without an error; returns ffprobe's view of the stream and frame count. */
async function decode(h264: Buffer, label: string): Promise<{ width: number; height: number; profile: string; frames: number }> {
  const file = join(work, `${label}.h264`);
  writeFileSync(file, h264);
  const ffmpeg = await run("ffmpeg", ["-v", "error", "-f", "h264", "-i", file, "-f", "null", "-"]);
  expect(ffmpeg.code, ffmpeg.stderr).toBe(0);
  expect(ffmpeg.stderr).toBe("");
  const probe = await run("ffprobe", ["-v", "error", "-count_frames", "-show_entries", "stream=width,height,profile,nb_read_frames", "-of", "json", "-f", "h264", file]);
  expect(probe.code, probe.stderr).toBe(0);
  const stream = (JSON.parse(probe.stdout.toString()) as { streams: { width: number; height: number; profile: string; nb_read_frames: string }[] }).streams[0]!;
  return { width: stream.width, height: stream.height, profile: stream.profile, frames: Number(stream.nb_read_frames) };
}

const touchDown = Buffer.from("0200fffffffffffffffe00000064000000c802d00500ffff0000000000000000", "hex");

function setClipboard(sequence: bigint, paste: boolean, text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  const head = Buffer.alloc(14);
  head[0] = 9;
  head.writeBigUInt64BE(sequence, 1);
  head[9] = paste ? 1 : 0;
  head.writeUInt32BE(bytes.length, 10);
  return Buffer.concat([head, bytes]);
}

beforeAll(async () => {
  await run("adb", ["start-server"]);
  const port = await freePort();
  serial = `127.0.0.1:${port}`;
  await docker.createVolume({ Name: volumeName, Labels: labels });
  const container = await docker.createContainer({
    name,
    Image: TEST_DEVICE_IMAGE,
    Cmd: [`androidboot.redroid_adb_port=${port}`],
    Labels: labels,
    HostConfig: { Binds: [`${volumeName}:/data`], NetworkMode: "host", RestartPolicy: { Name: "no" } },
  });
  containerId = container.id;
  await container.start();
  await waitFor(
    async () => {
      if (!(await run("adb", ["connect", serial])).stdout.toString().includes("connected to")) return false;
      const probe = await adb(["shell", "echo ready"], { timeoutMs: 5000 });
      return probe.code === 0 && probe.stdout.toString() === "ready\n";
    },
    { timeoutMs: 15_000, intervalMs: 200, message: `adb connect ${serial}` },
  );
});

afterAll(async () => {
  if (serial) {
    await run("adb", ["-s", serial, "forward", "--remove-all"]);
    await run("adb", ["disconnect", serial]);
  }
  for (const info of await docker.listContainers({ all: true, filters: { label: ["io.cloudphone.test=scrcpy"] } })) {
    await docker.getContainer(info.Id).remove({ force: true });
  }
  await docker.getVolume(volumeName).remove({ force: true }).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

describe("scrcpy server emulator (app_process) through the real adb server", () => {
  it.each([
    { version: V3, v4: false },
    { version: V4, v4: true },
  ])("streams and controls with the $version framing", async ({ version, v4 }) => {
    await pushServer(version);
    const scid = randomBytes(4).toString("hex").replace(/^[89a-f]/, "1"); // 31-bit, like the client's
    const port = await forward(scid);
    const server = startServer(version, [`scid=${scid}`, "log_level=info", "tunnel_forward=true", "audio=false", "control=true", "video_codec=h264", "max_size=1280", "max_fps=30", "cleanup=true"]);
    const video = await connectFirst(port);
    const control = await connectSocket(port);

    // Device meta (64 bytes, NUL-padded), then the codec meta of the framing.
    const deviceName = await video.read(64);
    expect(deviceName.subarray(0, deviceName.indexOf(0)).toString()).toBe("cloudphone-test-device");
    if (v4) {
      expect((await video.read(4)).readUInt32BE(0)).toBe(0x68323634);
      expect(await readPacket(video, true)).toEqual({ kind: "session", width: 720, height: 1280, resized: false });
    } else {
      const meta = await video.read(12);
      expect([meta.readUInt32BE(0), meta.readUInt32BE(4), meta.readUInt32BE(8)]).toEqual([0x68323634, 720, 1280]);
    }

    // A config packet (SPS + PPS, PTS field 0) first, then an IDR, then frames paced at the source rate.
    const config = await readMedia(video, v4);
    expect(config).toMatchObject({ config: true, key: false, pts: 0n });
    expect(nalTypes(config.data)).toEqual([7, 8]);
    const frames = [await readMedia(video, v4)];
    expect(frames[0]).toMatchObject({ config: false, key: true });
    expect(nalTypes(frames[0]!.data)).toEqual([5]);
    const started = frames[0]!.at;
    while (performance.now() - started < 2000) frames.push(await readMedia(video, v4));
    const inWindow = frames.filter((frame) => frame.at - started < 2000);
    expect(inWindow.length).toBeGreaterThanOrEqual(50); // 30 fps for 2 s, give or take scheduling
    expect(inWindow.length).toBeLessThanOrEqual(66);
    for (let i = 1; i < frames.length; i++) {
      expect(frames[i]!.config).toBe(false);
      expect(frames[i]!.pts).toBeGreaterThan(frames[i - 1]!.pts);
    }
    const span = Number(frames.at(-1)!.pts - frames[0]!.pts);
    expect(span / (frames.length - 1)).toBeCloseTo(33_333, -2); // µs per frame
    // A 1 s GOP: key frames at 0, 30, 60 (the 2 s clip loops on an IDR).
    expect(frames.flatMap((frame, i) => (frame.key ? [i] : []))).toEqual(frames.length > 60 ? [0, 30, 60] : [0, 30]);
    const decoded = await decode(Buffer.concat([config.data, ...frames.map((frame) => frame.data)]), `stream-${version}`);
    expect(decoded).toEqual({ width: 720, height: 1280, profile: "Constrained Baseline", frames: frames.length });

    // A touch DOWN at (100, 200) on the 720x1280 frame reaches the device byte for byte and parsed.
    control.socket.write(touchDown);
    const bin = `/data/scrcpy/control-${scid}.bin`;
    await waitFor(async () => (await deviceFile(bin)).equals(touchDown), { timeoutMs: 3000, message: "touch recorded" });
    const logLine = (await deviceFile(`/data/scrcpy/control-${scid}.log`)).toString().trim();
    expect(logLine).toMatch(/^\d{13} INJECT_TOUCH_EVENT action=0 pointer_id=-2 x=100 y=200 width=720 height=1280 pressure=65535 action_button=0 buttons=0$/);

    // SET_CLIPBOARD with a sequence is acknowledged; GET_CLIPBOARD returns the text.
    const text = `héllo ${suffix}`;
    control.socket.write(setClipboard(42n, false, text));
    const ack = await control.read(9);
    expect(ack[0]).toBe(1);
    expect(ack.readBigUInt64BE(1)).toBe(42n);
    expect((await deviceFile("/data/scrcpy/clipboard")).toString()).toBe(text);
    control.socket.write(Buffer.from([8, 0]));
    const clipHead = await control.read(5);
    expect(clipHead[0]).toBe(0);
    expect((await control.read(clipHead.readUInt32BE(1))).toString()).toBe(text);
    control.socket.write(setClipboard(0n, true, "no ack")); // sequence 0: no answer
    control.socket.write(Buffer.from([8, 0]));
    const second = await control.read(5);
    expect(second[0]).toBe(0); // the next device message is the clipboard, not an ack
    expect((await control.read(second.readUInt32BE(1))).toString()).toBe("no ack");

    // RESET_VIDEO: (4.x: a session packet,) a config packet and an IDR within 100 ms.
    const drainUntil = async (predicate: (packet: Packet) => boolean): Promise<Packet[]> => {
      const seen: Packet[] = [];
      for (;;) {
        const packet = await readPacket(video, v4);
        seen.push(packet);
        if (predicate(packet)) return seen;
      }
    };
    const resetAt = performance.now();
    control.socket.write(Buffer.from([17]));
    const afterReset = await drainUntil((packet) => packet.kind === "session" || (packet.kind === "media" && packet.config));
    if (v4) {
      expect(afterReset.at(-1)).toEqual({ kind: "session", width: 720, height: 1280, resized: false });
      expect(await readMedia(video, v4)).toMatchObject({ config: true });
    }
    const idr = await readMedia(video, v4);
    expect(idr.key).toBe(true);
    expect(idr.at - resetAt).toBeLessThan(100);
    const lastBefore = afterReset.filter((p): p is Extract<Packet, { kind: "media" }> => p.kind === "media" && !p.config).at(-1) ?? frames.at(-1)!;
    expect(idr.pts).toBeGreaterThan(lastBefore.pts);

    // ROTATE_DEVICE: a new capture session in landscape (4.x announces the size in its session packet).
    control.socket.write(Buffer.from([11]));
    const rotation = await drainUntil((packet) => (v4 ? packet.kind === "session" : packet.kind === "media" && packet.config));
    if (v4) {
      expect(rotation.at(-1)).toEqual({ kind: "session", width: 1280, height: 720, resized: false });
      expect(await readMedia(video, v4)).toMatchObject({ config: true });
    }
    expect(await readMedia(video, v4)).toMatchObject({ config: false, key: true });
    const all = await deviceFile(bin);
    expect(all.subarray(-2)).toEqual(Buffer.from([17, 11]));
    const logs = (await deviceFile(`/data/scrcpy/control-${scid}.log`)).toString().trim().split("\n");
    expect(logs.map((line) => line.split(" ")[1])).toEqual(["INJECT_TOUCH_EVENT", "SET_CLIPBOARD", "GET_CLIPBOARD", "SET_CLIPBOARD", "GET_CLIPBOARD", "RESET_VIDEO", "ROTATE_DEVICE"]);
    expect(logs[1]).toMatch(new RegExp(` SET_CLIPBOARD sequence=42 paste=0 text="héllo ${suffix}"$`));

    // Closing the sockets ends the server: adb shell returns and no app_process remains.
    video.socket.destroy();
    control.socket.destroy();
    const exit = await Promise.race([server.exited, sleep(5000).then(() => undefined)]);
    expect(exit, "server exit after the sockets closed").toBeDefined();
    expect(exit!.stdout).toContain("[server] INFO: Device: [cloudphone] cloudphone cloudphone-test-device (Android 13)");
    await waitFor(async () => (await appProcesses()).length === 0, { timeoutMs: 3000, message: "no app_process left" });
    await adb(["forward", "--remove", `tcp:${port}`]);
  });

  it("rotated stream decodes at 1280x720 (3.x config after ROTATE_DEVICE)", async () => {
    await pushServer(V3);
    const scid = "00c0ffee";
    const port = await forward(scid);
    const server = startServer(V3, [`scid=${scid}`, "tunnel_forward=true", "audio=false", "send_device_meta=false"]);
    const video = await connectFirst(port);
    const control = await connectSocket(port);
    await video.read(12); // codec meta
    await readMedia(video, false);
    await readMedia(video, false);
    control.socket.write(Buffer.from([11]));
    let config = await readMedia(video, false);
    while (!config.config) config = await readMedia(video, false);
    const packets = [config.data];
    const first = await readMedia(video, false);
    expect(first.key).toBe(true);
    packets.push(first.data);
    for (let i = 0; i < 10; i++) packets.push((await readMedia(video, false)).data);
    expect(await decode(Buffer.concat(packets), "rotated")).toMatchObject({ width: 1280, height: 720, frames: 11 });
    // A positional event for the old size is recorded but marked as ignored (the real server drops it).
    control.socket.write(touchDown);
    await waitFor(async () => (await deviceFile(`/data/scrcpy/control-${scid}.log`)).toString().includes("ignored=size"), {
      timeoutMs: 3000,
      message: "stale-size touch marked ignored",
    });
    video.socket.destroy();
    control.socket.destroy();
    expect((await server.exited).code).toBe(0);
  });

  it("refuses a version mismatch, a missing server file and unsupported codecs like the real server; lists encoders", async () => {
    await pushServer(V3);
    const mismatch = await startServer("3.3.3", ["scid=12345678", "tunnel_forward=true"]).exited;
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain("[server] ERROR: The server version (3.3.4) does not match the client (3.3.3)");
    const codec = await startServer(V3, ["video_codec=vp7"]).exited;
    expect(codec.code).toBe(1);
    expect(codec.stderr).toContain("Video codec vp7 not supported");
    const h265 = await startServer(V3, ["video_codec=h265"]).exited;
    expect(h265.code).toBe(1);
    expect(h265.stderr).toContain("Could not create default video encoder for h265");
    const list = await startServer(V3, ["list_encoders=true", "log_level=info"]).exited;
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("--video-codec=h264 --video-encoder=c2.android.avc.encoder");
    expect((await adb(["shell", `rm ${JAR}`])).code).toBe(0);
    const missing = await startServer(V3, ["scid=12345678"]).exited;
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('ClassNotFoundException: Didn\'t find class "com.genymobile.scrcpy.Server"');
    expect(await appProcesses()).toEqual([]);
  });

  it("records every start in sessions.log; garbage on the control socket, SIGTERM and a killed adb client end the server at once", async () => {
    await pushServer(V4);
    const before = (await deviceFile("/data/scrcpy/sessions.log")).toString().split("\n").filter(Boolean).length;
    // Garbage (type 200) closes the control socket and stops the server.
    const scid = "0000abcd";
    const port = await forward(scid);
    const server = startServer(V4, [`scid=${scid}`, "tunnel_forward=true", "audio=false"]);
    const video = await connectFirst(port);
    const control = await connectSocket(port);
    control.socket.write(Buffer.from([200, 1, 2, 3]));
    await control.closed();
    await video.closed();
    expect((await server.exited).stderr).toContain("[server] ERROR:");
    expect((await deviceFile(`/data/scrcpy/control-${scid}.bin`)).length).toBe(0);

    // SIGTERM while it waits for a client: gone promptly.
    const waiting = startServer(V4, ["scid=0000abce", "tunnel_forward=true", "audio=false"]);
    const [line] = await waitFor(async () => {
      const found = await appProcesses();
      return found.length === 1 ? found : undefined;
    }, { message: "waiting app_process" });
    const pid = line!.trim().split(/\s+/)[0]!;
    const killedAt = Date.now();
    expect((await adb(["shell", `kill -TERM ${pid}`])).code).toBe(0);
    await waiting.exited;
    expect(Date.now() - killedAt).toBeLessThan(2000);
    expect(await appProcesses()).toEqual([]);

    // The adb client killed (an agent crash): adbd hangs up the shell and the server goes with it.
    const orphan = startServer(V4, ["scid=0000abcf", "tunnel_forward=true", "audio=false"]);
    await waitFor(async () => (await appProcesses()).length === 1, { message: "second waiting app_process" });
    orphan.child.kill("SIGKILL");
    await waitFor(async () => (await appProcesses()).length === 0, { timeoutMs: 5000, message: "app_process gone with its adb client" });

    const after = (await deviceFile("/data/scrcpy/sessions.log")).toString().split("\n").filter(Boolean);
    expect(after.length - before).toBe(3);
    expect(after.at(-2)).toMatch(/^\d{13} start pid=\d+ scid=0000abce version=4\.1 framing=v4 socket=scrcpy_0000abce video=1 control=1$/);
  });

  it("audio=true: a third socket (video, audio, control) whose stream is disabled (codec 0)", async () => {
    await pushServer(V3);
    const scid = "0000beef";
    const port = await forward(scid);
    const server = startServer(V3, [`scid=${scid}`, "tunnel_forward=true", "send_device_meta=false"]);
    const video = await connectFirst(port);
    const audio = await connectSocket(port);
    const control = await connectSocket(port);
    expect([...(await audio.read(4))]).toEqual([0, 0, 0, 0]);
    expect((await video.read(12)).readUInt32BE(0)).toBe(0x68323634);
    expect((await readMedia(video, false)).config).toBe(true);
    for (const socket of [video, audio, control]) socket.socket.destroy();
    expect((await server.exited).code).toBe(0);
  });

  it("raw_stream=true: plain Annex-B H.264 (no dummy byte, no meta), decodable", async () => {
    await pushServer(V4);
    const scid = "0000cafe";
    const port = await forward(scid);
    const server = startServer(V4, [`scid=${scid}`, "tunnel_forward=true", "audio=false", "control=false", "raw_stream=true"]);
    const { video, head } = await waitFor(async () => {
      const reader = await connectSocket(port);
      try {
        return { video: reader, head: await reader.read(4, 2000) };
      } catch (error) {
        reader.socket.destroy();
        throw error;
      }
    }, { timeoutMs: 10_000, message: "raw stream" });
    await sleep(1000);
    const raw = Buffer.concat([head, await video.read(200_000, 5000)]);
    expect(nalTypes(raw).slice(0, 3)).toEqual([7, 8, 5]);
    const cut = raw.lastIndexOf(Buffer.from([0, 0, 0, 1])); // drop the partial last NAL
    expect((await decode(raw.subarray(0, cut), "raw")).width).toBe(720);
    video.socket.destroy();
    expect((await server.exited).code).toBe(0);
  });

  it("screenrecord fallback: raw H.264 on stdout at the source rate; the time limit is enforced and validated", async () => {
    const started = Date.now();
    const record = await adb(["exec-out", "screenrecord --output-format=h264 --size 720x1280 --bit-rate 4000000 --time-limit 2 -"], { timeoutMs: 10_000 });
    const took = Date.now() - started;
    expect(record.code).toBe(0);
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(4000);
    const decoded = await decode(record.stdout, "screenrecord");
    expect(decoded).toMatchObject({ width: 720, height: 1280, profile: "Constrained Baseline" });
    expect(decoded.frames).toBeGreaterThanOrEqual(57); // 2 s at 30 fps
    expect(decoded.frames).toBeLessThanOrEqual(61);
    const tooLong = await adb(["shell", "screenrecord --output-format=h264 --time-limit 181 -"]);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain("Time limit 181s outside acceptable range [1,180]");
  });
});
