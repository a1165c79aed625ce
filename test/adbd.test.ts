// The test device's adbd speaks the real ADB wire protocol to the real adb server (Debian's adb): connect,
// shell with shell protocol v2 (separate stdout/stderr, exit codes), sync push/pull, app install through
// `cmd package` streaming and through pm, screencap, screenrecord, logcat, and cleanup of processes when a
// client goes away. One device on the host network with its own adb port, as the agent runs them.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestApk } from "./support/apk.js";
import { TEST_DEVICE_IMAGE } from "./support/device-image.js";
import { docker, execInContainer, MANAGED_LABEL } from "./support/docker.js";
import { freePort } from "./support/ports.js";
import { run } from "./support/run.js";
import { waitFor } from "./support/wait.js";

const suffix = randomBytes(4).toString("hex");
const name = `cloudphone-adbd-test-${suffix}`;
const volumeName = `cloudphone-adbd-test-data-${suffix}`;
const labels = { [MANAGED_LABEL]: "true", "io.cloudphone.test": "adbd" };
const BOOT_DELAY_MS = 4000;
const work = mkdtempSync(join(tmpdir(), "cloudphone-adbd-test-"));
let serial = "";
let containerId = "";
let startedAt = 0;

const adb = (args: string[], options?: { input?: string; timeoutMs?: number }) => run("adb", ["-s", serial, ...args], options);
const shell = async (command: string) => {
  const result = await adb(["shell", command]);
  return { code: result.code, stdout: result.stdout.toString(), stderr: result.stderr };
};

async function ffprobe(file: string): Promise<{ codec_name: string; width: number; height: number }> {
  const result = await run("ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "json", file]);
  expect(result.code, result.stderr).toBe(0);
  const streams = (JSON.parse(result.stdout.toString()) as { streams: { codec_name: string; width: number; height: number }[] }).streams;
  expect(streams).toHaveLength(1);
  return streams[0]!;
}

/** One ADB message (24-byte header + payload), as the adb server sends them. */
function packet(command: string, arg0: number, arg1: number, data = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(24);
  const cmd = Buffer.from(command, "latin1").readUInt32LE(0);
  header.writeUInt32LE(cmd, 0);
  header.writeUInt32LE(arg0, 4);
  header.writeUInt32LE(arg1, 8);
  header.writeUInt32LE(data.length, 12);
  header.writeUInt32LE(data.reduce((sum, byte) => sum + byte, 0), 16);
  header.writeUInt32LE((cmd ^ 0xffffffff) >>> 0, 20);
  return Buffer.concat([header, data]);
}

/** A raw TCP client of the device's adbd (no adb server in between). */
async function rawClient(): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = connect({ host: "127.0.0.1", port: Number(serial.split(":")[1]) });
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  return { socket, received: () => Buffer.concat(chunks), closed };
}

async function processes(): Promise<string> {
  const ps = await execInContainer(containerId, ["ps", "-o", "pid,args"]);
  return ps.stdout;
}

beforeAll(async () => {
  await run("adb", ["start-server"]);
  const port = await freePort();
  serial = `127.0.0.1:${port}`;
  await docker.createVolume({ Name: volumeName, Labels: labels });
  const container = await docker.createContainer({
    name,
    Image: TEST_DEVICE_IMAGE,
    Cmd: [`androidboot.redroid_adb_port=${port}`, `androidboot.test_boot_delay_ms=${BOOT_DELAY_MS}`],
    Labels: labels,
    HostConfig: { Binds: [`${volumeName}:/data`], NetworkMode: "host", RestartPolicy: { Name: "no" } },
  });
  containerId = container.id;
  startedAt = Date.now();
  await container.start();
  await waitFor(
    async () => {
      const connect = await run("adb", ["connect", serial]);
      if (!connect.stdout.toString().includes("connected to")) return false;
      const probe = await adb(["shell", "echo ready"], { timeoutMs: 5000 });
      return probe.code === 0 && probe.stdout.toString() === "ready\n";
    },
    { timeoutMs: 15_000, intervalMs: 200, message: `adb connect ${serial}` },
  );
});

afterAll(async () => {
  if (serial) await run("adb", ["disconnect", serial]);
  for (const info of await docker.listContainers({ all: true, filters: { label: ["io.cloudphone.test=adbd"] } })) {
    await docker.getContainer(info.Id).remove({ force: true });
  }
  await docker.getVolume(volumeName).remove({ force: true }).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

describe("test device adbd with the real adb server", () => {
  it("answers before boot completes; sys.boot_completed appears after the boot delay", async () => {
    expect(Date.now() - startedAt).toBeLessThan(BOOT_DELAY_MS - 500);
    expect((await shell("getprop sys.boot_completed")).stdout.trim()).toBe("");
    expect((await shell("getprop ro.boot.test_boot_delay_ms")).stdout.trim()).toBe(String(BOOT_DELAY_MS));
    await waitFor(async () => (await shell("getprop sys.boot_completed")).stdout.trim() === "1", {
      timeoutMs: BOOT_DELAY_MS + 5000,
      message: "sys.boot_completed=1",
    });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(BOOT_DELAY_MS);
    const devices = await run("adb", ["devices", "-l"]);
    expect(devices.stdout.toString()).toMatch(new RegExp(`${serial.replace(/\./g, "\\.")}\\s+device .*model:cloudphone_test_device`));
  });

  it("shell: stdout and stderr apart and exit codes (protocol v2), stdin, and v1 without exit codes", async () => {
    expect(await shell("echo hi")).toEqual({ code: 0, stdout: "hi\n", stderr: "" });
    expect(await shell("echo out; echo err >&2; exit 3")).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
    expect((await shell("kill -9 $$")).code).toBe(137);
    const cat = await adb(["shell", "cat; echo done"], { input: "from stdin\n" });
    expect(cat.stdout.toString()).toBe("from stdin\ndone\n");
    // -x: the v1 "shell:" service, one merged stream and no exit code (what adbkit's shell() uses).
    const v1 = await adb(["shell", "-x", "echo out; echo err >&2; exit 3"]);
    expect(v1.code).toBe(0);
    expect(v1.stdout.toString()).toBe("out\nerr\n");
    const exec = await adb(["exec-out", "printf 'a\\0b'"]);
    expect([...exec.stdout]).toEqual([0x61, 0, 0x62]);
    // Many streams at once on the one connection the adb server keeps.
    const codes = await Promise.all([...Array(8).keys()].map((i) => shell(`sleep 0.$i; echo $((${i} * 2)); exit ${i}`)));
    expect(codes).toEqual([...Array(8).keys()].map((i) => ({ code: i, stdout: `${i * 2}\n`, stderr: "" })));
  });

  it("survives clients that send garbage, lie about sizes, or flood and vanish without acknowledging", async () => {
    const garbage = await rawClient();
    garbage.socket.write(randomBytes(64));
    await garbage.closed; // bad magic: the connection is dropped, the daemon lives
    const liar = await rawClient();
    liar.socket.write(packet("CNXN", 0x01000001, 256 * 1024).subarray(0, 12));
    liar.socket.write(Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0xbc, 0xb1, 0xa7, 0xb1])); // 2 GiB payload
    await liar.closed;
    const flooder = await rawClient();
    flooder.socket.write(packet("CNXN", 0x01000001, 256 * 1024, Buffer.from("host::\0")));
    flooder.socket.write(packet("OPEN", 1, 0, Buffer.from("shell,v2,raw:yes\0")));
    await waitFor(() => flooder.received().includes(Buffer.from("WRTE")), { message: "first WRTE of yes" });
    // Flow control: without an OKAY from the client, nothing more than one WRTE is sent.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(flooder.received().length).toBeLessThan(24 + 200 + 2 * (24 + 256 * 1024));
    expect(await processes()).toMatch(/\byes\b/);
    flooder.socket.destroy();
    await waitFor(async () => !/\byes\b/.test(await processes()), { timeoutMs: 5000, message: "yes gone with its client" });
    expect(await shell("echo still here")).toEqual({ code: 0, stdout: "still here\n", stderr: "" });
  });

  it("push and pull a 5 MB random file byte for byte; ls lists it; a missing file fails", async () => {
    const original = randomBytes(5 * 1024 * 1024);
    const local = join(work, "random.bin");
    writeFileSync(local, original);
    const push = await adb(["push", local, "/data/local/tmp/sub/random.bin"]);
    expect(push.code, push.stderr).toBe(0);
    const ls = await shell("ls -l /data/local/tmp/sub");
    expect(ls.stdout).toMatch(/5242880 .*random\.bin/);
    const back = join(work, "random.back");
    const pull = await adb(["pull", "/data/local/tmp/sub/random.bin", back]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(readFileSync(back).equals(original)).toBe(true);
    // No temporary files are left next to the pushed one.
    expect((await shell("ls -a /data/local/tmp/sub")).stdout.split("\n").filter((f) => f.includes("adbd-push"))).toEqual([]);
    const missing = await adb(["pull", "/data/local/tmp/nope.bin", join(work, "nope")]);
    expect(missing.code).not.toBe(0);
    // adb 29 prints this error on stdout.
    expect(missing.stdout.toString() + missing.stderr).toContain("remote object '/data/local/tmp/nope.bin' does not exist");
  });

  it("installs a real APK (streamed and through pm), lists it, uninstalls it; refuses a non-APK", async () => {
    const packageName = `io.cloudphone.adbdtest${suffix}`;
    const apk = buildTestApk({ packageName, versionCode: 3, versionName: "1.0.3" });
    const install = await adb(["install", apk], { timeoutMs: 60_000 });
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout.toString()).toContain("Success");
    expect((await shell("pm list packages")).stdout.split("\n")).toContain(`package:${packageName}`);
    expect((await shell(`pm list packages --show-versioncode ${packageName}`)).stdout.trim()).toBe(
      `package:${packageName} versionCode:3`,
    );
    expect((await shell(`pm path ${packageName}`)).stdout.trim()).toBe(`package:/data/app/${packageName}-1/base.apk`);

    const uninstall = await adb(["uninstall", packageName]);
    expect(uninstall.code).toBe(0);
    expect(uninstall.stdout.toString().trim()).toBe("Success");
    expect((await shell("pm list packages")).stdout).not.toContain(packageName);
    const again = await shell(`pm uninstall ${packageName}`);
    expect(again).toMatchObject({ code: 1, stdout: "Failure [DELETE_FAILED_INTERNAL_ERROR]\n" });

    // The push-then-pm route (adbkit's install) and a replacement with a newer version.
    const v4 = buildTestApk({ packageName, versionCode: 4, versionName: "1.0.4" });
    expect((await adb(["push", v4, "/data/local/tmp/app.apk"])).code).toBe(0);
    expect(await shell("pm install -r /data/local/tmp/app.apk")).toMatchObject({ code: 0, stdout: "Success\n" });
    expect(await shell(`pm install /data/local/tmp/app.apk`)).toMatchObject({ code: 0, stdout: "Success\n" });
    expect((await shell(`pm list packages --show-versioncode ${packageName}`)).stdout.trim()).toBe(
      `package:${packageName} versionCode:4`,
    );

    const fake = join(work, "fake.apk");
    writeFileSync(fake, "this is not a zip\n");
    const bad = await adb(["install", fake]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("Failure [INSTALL_PARSE_FAILED_NOT_APK");
  });

  it("screencap -p is a real PNG", async () => {
    const shot = await adb(["exec-out", "screencap -p"]);
    expect(shot.code).toBe(0);
    expect(shot.stdout.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const file = join(work, "shot.png");
    writeFileSync(file, shot.stdout);
    expect(await ffprobe(file)).toEqual({ codec_name: "png", width: 720, height: 1280 });
  });

  it("screenrecord stops at the time limit with a finished H.264 MP4", async () => {
    const started = Date.now();
    const record = await shell("screenrecord --time-limit 2 /data/local/tmp/a.mp4");
    expect(record.code, record.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    const file = join(work, "a.mp4");
    expect((await adb(["pull", "/data/local/tmp/a.mp4", file])).code).toBe(0);
    expect(await ffprobe(file)).toEqual({ codec_name: "h264", width: 720, height: 1280 });
    const duration = await run("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file]);
    expect(Number(duration.stdout.toString())).toBeCloseTo(2, 1);
  });

  it("logcat -d prints the device log and filters by tag and priority", async () => {
    const all = (await adb(["logcat", "-d"])).stdout.toString();
    expect(all).toMatch(/ I Heartbeat: beat \d+/);
    expect((await shell("log -p w -t E1Probe hello from the test")).code).toBe(0);
    const filtered = (await adb(["logcat", "-d", "-v", "brief", "E1Probe:W", "*:S"])).stdout.toString().trim().split("\n");
    expect(filtered).toHaveLength(1);
    expect(filtered[0]).toMatch(/^W\/E1Probe\s*\(\s*\d+\): hello from the test$/);
    expect((await adb(["logcat", "-d", "E1Probe:E", "*:S"])).stdout.toString()).toBe("");
  });

  it("forwards to device sockets (tcp: and localabstract:, as adb forward and openLocal use them)", async () => {
    /** Sends a line through `adb forward tcp:0 <remote>` and returns what came back. */
    const echoThrough = async (remote: string): Promise<string> => {
      const forward = await run("adb", ["-s", serial, "forward", "tcp:0", remote]);
      expect(forward.code, forward.stderr).toBe(0);
      const local = Number(forward.stdout.toString().trim());
      try {
        const socket = connect({ host: "127.0.0.1", port: local });
        const chunks: Buffer[] = [];
        socket.on("data", (chunk: Buffer) => chunks.push(chunk));
        await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
        socket.write(`through ${remote}\n`);
        await waitFor(() => Buffer.concat(chunks).includes(0x0a), { timeoutMs: 5000, message: `echo through ${remote}` });
        socket.destroy();
        return Buffer.concat(chunks).toString();
      } finally {
        await run("adb", ["-s", serial, "forward", "--remove", `tcp:${local}`]);
      }
    };
    // A TCP echo server on the device (host network: the device's loopback is the host's).
    const devicePort = await freePort();
    await docker.getContainer(containerId).exec({ Cmd: ["nc", "-l", "-p", String(devicePort), "-e", "cat"] }).then((e) => e.start({ Detach: true }));
    await waitFor(async () => (await processes()).includes(`nc -l -p ${devicePort}`), { message: "nc listening on the device" });
    expect(await echoThrough(`tcp:${devicePort}`)).toBe(`through tcp:${devicePort}\n`);
    // An abstract unix socket (shared with the device through the host network namespace); python binds it by exact name.
    const abstractName = `cloudphone-adbd-test-${suffix}`;
    const server = spawn("python3", ["-c", [
      "import socket,sys",
      "s=socket.socket(socket.AF_UNIX); s.bind('\\0'+sys.argv[1]); s.listen(1); print('ready', flush=True)",
      "c,_=s.accept(); c.sendall(c.recv(4096)); c.close()",
    ].join("\n"), abstractName], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => server.stdout.once("data", () => resolve()));
    try {
      expect(await echoThrough(`localabstract:${abstractName}`)).toBe(`through localabstract:${abstractName}\n`);
    } finally {
      server.kill();
    }
    // Nothing listening: the OPEN is refused and the daemon carries on.
    const refused = await run("adb", ["-s", serial, "forward", "tcp:0", "localabstract:nothing-listens-here"]);
    expect(refused.code).toBe(0);
    expect(await shell("echo ok")).toMatchObject({ code: 0, stdout: "ok\n" });
    await run("adb", ["-s", serial, "forward", "--remove-all"]);
  });

  it("a client dropping mid-stream leaves no process behind", async () => {
    const client = spawn("adb", ["-s", serial, "shell", "sleep 300; echo never"], { stdio: "ignore" });
    await waitFor(async () => (await processes()).includes("sleep 300"), { message: "sleep 300 running on the device" });
    client.kill("SIGKILL");
    await waitFor(async () => !(await processes()).includes("sleep 300"), {
      timeoutMs: 5000,
      message: "sleep 300 gone after its client died",
    });
    const follower = spawn("adb", ["-s", serial, "logcat"], { stdio: "ignore" });
    await waitFor(async () => (await processes()).includes("tail"), { message: "logcat following on the device" });
    follower.kill("SIGKILL");
    await waitFor(async () => !/tail|awk|logcat/.test(await processes()), { timeoutMs: 5000, message: "logcat processes gone" });
  });

  it("killed adbd fails adb shell; with /data/adbd.disabled adbd does not start again", async () => {
    expect((await execInContainer(containerId, ["touch", "/data/adbd.disabled"])).exitCode).toBe(0);
    expect((await execInContainer(containerId, ["pkill", "adbd"])).exitCode).toBe(0);
    await waitFor(async () => (await adb(["shell", "echo hi"], { timeoutMs: 5000 })).code !== 0, {
      timeoutMs: 5000,
      message: "adb shell failing",
    });
    await docker.getContainer(containerId).restart({ t: 2 });
    await waitFor(async () => (await execInContainer(containerId, ["getprop", "sys.boot_completed"])).stdout.trim() === "1", {
      timeoutMs: BOOT_DELAY_MS + 5000,
      message: "device booted again",
    });
    expect((await execInContainer(containerId, ["pgrep", "adbd"])).exitCode).toBe(1);
    expect((await adb(["shell", "echo hi"], { timeoutMs: 5000 })).code).not.toBe(0);
  });
});
