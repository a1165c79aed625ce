import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { LogcatFilter } from "@cloudphone/shared-protocol";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { LogcatSession } from "./logcat-session.js";
import { SHELL_V2, ShellV2Decoder, encodeShellPacket, type ShellPacket } from "./protocol.js";
import { ShellSession } from "./shell-session.js";

// The shell and logcat relays over real sockets: a TCP pair stands in for the adb stream (the far end writes shell v2 packets
// as adbd does), a real WebSocket pair for the tunnel and the viewer.

const log = pino({ level: "silent" });
const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

async function tcpPair(): Promise<{ device: Socket; adb: Socket }> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const device = new Promise<Socket>((r) => server.once("connection", r));
  const adb = connect((server.address() as AddressInfo).port, "127.0.0.1");
  adb.pause();
  closers.push(() => server.close());
  return { device: await device, adb };
}

async function wsPair(): Promise<{ tunnel: WebSocket; viewer: WebSocket }> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise<void>((r) => wss.once("listening", r));
  const tunnel = new Promise<WebSocket>((r) => wss.once("connection", r));
  const viewer = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await new Promise<void>((r) => viewer.once("open", () => r()));
  closers.push(() => wss.close());
  return { tunnel: await tunnel, viewer };
}

function collect(viewer: WebSocket) {
  const frames: string[] = [];
  viewer.on("message", (d: Buffer, isBinary: boolean) => {
    expect(isBinary).toBe(false);
    frames.push(d.toString("utf8"));
  });
  const closed = new Promise<number>((r) => viewer.once("close", (code) => r(code)));
  const lines = () => frames.filter((f) => !f.startsWith("{")).flatMap((f) => f.slice(0, -1).split("\n"));
  const controls = () => frames.filter((f) => f.startsWith("{")).map((f) => JSON.parse(f) as { type: string; lines?: number; code?: number });
  return { frames, closed, lines, controls };
}

const line = (i: number) => `01-01 00:00:00.000  100  100 I Tag: line ${i} ${"x".repeat(40)}`;

describe("LogcatSession", () => {
  it("relays whole lines with `contains` applied, then the exit status, and closes 1000", async () => {
    const { device, adb } = await tcpPair();
    const { tunnel, viewer } = await wsPair();
    const got = collect(viewer);
    let ended = 0;
    new LogcatSession({ deviceId: "d1", adb, ws: tunnel, filter: LogcatFilter.parse({ contains: "keep" }), maxBufferedBytes: 1 << 20, log, onEnd: () => ended++ });
    const text = Buffer.from("a keep 1\nb drop\nc ke");
    device.write(encodeShellPacket(SHELL_V2.stdout, text));
    device.write(encodeShellPacket(SHELL_V2.stdout, Buffer.from("ep 2\r\nd keep 3")));
    device.write(encodeShellPacket(SHELL_V2.stderr, Buffer.from("ignored on success")));
    device.write(encodeShellPacket(SHELL_V2.exit, Buffer.from([0])));
    expect(await got.closed).toBe(1000);
    expect(got.lines()).toEqual(["a keep 1", "c keep 2", "d keep 3"]);
    expect(got.controls()).toEqual([{ type: "exit", code: 0 }]);
    expect(ended).toBe(1);
  });

  it("drops lines for a viewer that does not read and says how many, instead of buffering them", async () => {
    const { device, adb } = await tcpPair();
    const { tunnel, viewer } = await wsPair();
    const got = collect(viewer);
    const LIMIT = 64 * 1024;
    new LogcatSession({ deviceId: "d1", adb, ws: tunnel, filter: LogcatFilter.parse({}), maxBufferedBytes: LIMIT, log, onEnd: () => undefined });
    viewer.pause(); // a stalled browser: nothing is read from the socket
    const TOTAL = 200_000;
    let maxQueued = 0;
    const watch = setInterval(() => (maxQueued = Math.max(maxQueued, tunnel.bufferedAmount)), 5);
    for (let i = 0; i < TOTAL; i += 1000) {
      const chunk = Array.from({ length: 1000 }, (_, k) => line(i + k)).join("\n") + "\n";
      if (!device.write(encodeShellPacket(SHELL_V2.stdout, Buffer.from(chunk)))) await new Promise((r) => device.once("drain", r));
    }
    await new Promise((r) => setTimeout(r, 100));
    clearInterval(watch);
    device.write(encodeShellPacket(SHELL_V2.exit, Buffer.from([0])));
    viewer.resume();
    expect(await got.closed).toBe(1000);
    const dropped = got.controls().filter((c) => c.type === "dropped").reduce((n, c) => n + c.lines!, 0);
    expect(dropped).toBeGreaterThan(0);
    expect(got.lines().length + dropped).toBe(TOTAL); // every line either arrived or was counted
    expect(got.controls().at(-1)).toEqual({ type: "exit", code: 0 });
    // The agent held about the limit (plus one frame), not the ~12 MB of log.
    expect(maxQueued).toBeLessThan(LIMIT + 256 * 1024);
    // What arrived is in order and whole.
    const nums = got.lines().map((l) => Number(/line (\d+) /.exec(l)![1]));
    expect(nums.every((n, i) => i === 0 || n > nums[i - 1]!)).toBe(true);
  });

  it("closes the device stream when the viewer goes away", async () => {
    const { device, adb } = await tcpPair();
    const { tunnel, viewer } = await wsPair();
    let ended = 0;
    new LogcatSession({ deviceId: "d1", adb, ws: tunnel, filter: LogcatFilter.parse({}), maxBufferedBytes: 1 << 20, log, onEnd: () => ended++ });
    const deviceClosed = new Promise<void>((r) => device.once("close", () => r()));
    device.resume();
    viewer.close(1000);
    await deviceClosed;
    expect(ended).toBe(1);
  });
});

describe("ShellSession", () => {
  /** Packets the fake adbd receives. */
  function received(device: Socket): { packets: ShellPacket[] } {
    const out = { packets: [] as ShellPacket[] };
    const dec = new ShellV2Decoder();
    device.on("data", (c: Buffer) => out.packets.push(...dec.push(c)));
    return out;
  }

  it("relays input, resizes and output both ways, then the exit status", async () => {
    const { device, adb } = await tcpPair();
    const { tunnel, viewer } = await wsPair();
    const fromViewer = received(device);
    const bytes: Buffer[] = [];
    const texts: string[] = [];
    viewer.on("message", (d: Buffer, isBinary: boolean) => (isBinary ? bytes.push(d) : texts.push(d.toString())));
    const closed = new Promise<number>((r) => viewer.once("close", (code) => r(code)));
    let ended = 0;
    new ShellSession({ deviceId: "d1", adb, ws: tunnel, idleTimeoutMs: 60_000, highWaterBytes: 1 << 20, log, onEnd: () => ended++ });

    viewer.send(Buffer.from("ls\n"), { binary: true });
    viewer.send(JSON.stringify({ type: "resize", cols: 132, rows: 43 }));
    viewer.send("not json");
    viewer.send(Buffer.alloc(10_000, 0x61), { binary: true }); // more than one stdin packet
    await waitUntil(() => fromViewer.packets.filter((p) => p.id === SHELL_V2.stdin).reduce((n, p) => n + p.data.length, 0) === 10_003);
    const ids = fromViewer.packets.map((p) => p.id);
    expect(ids[0]).toBe(SHELL_V2.stdin);
    expect(fromViewer.packets[0]!.data.toString()).toBe("ls\n");
    const resize = fromViewer.packets.find((p) => p.id === SHELL_V2.windowSizeChange)!;
    expect(resize.data.toString()).toBe("43x132,0x0"); // rows first, as AOSP's adb sends it
    expect(Math.max(...fromViewer.packets.filter((p) => p.id === SHELL_V2.stdin).map((p) => p.data.length))).toBeLessThanOrEqual(4091);
    await waitUntil(() => texts.length === 1);
    expect(JSON.parse(texts[0]!)).toMatchObject({ type: "error" });

    device.write(encodeShellPacket(SHELL_V2.stdout, Buffer.from("out ")));
    device.write(encodeShellPacket(SHELL_V2.stderr, Buffer.from("err")));
    device.write(encodeShellPacket(SHELL_V2.exit, Buffer.from([7])));
    expect(await closed).toBe(1000);
    expect(Buffer.concat(bytes).toString()).toBe("out err");
    expect(JSON.parse(texts[1]!)).toEqual({ type: "exit", code: 7 });
    expect(ended).toBe(1);
  });

  it("closes an idle session with 4408 and hangs up the device stream", async () => {
    const { device, adb } = await tcpPair();
    const { tunnel, viewer } = await wsPair();
    const closed = new Promise<number>((r) => viewer.once("close", (code) => r(code)));
    const deviceClosed = new Promise<void>((r) => device.once("close", () => r()));
    device.resume();
    const started = Date.now();
    new ShellSession({ deviceId: "d1", adb, ws: tunnel, idleTimeoutMs: 300, highWaterBytes: 1 << 20, log, onEnd: () => undefined });
    // Traffic keeps it alive.
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150));
      viewer.send(Buffer.from(" "), { binary: true });
    }
    expect(await closed).toBe(4408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600 + 300);
    await deviceClosed;
  });

  it("closes 1011 when the device stream breaks without an exit status", async () => {
    const { device, adb } = await tcpPair();
    const { tunnel, viewer } = await wsPair();
    const closed = new Promise<number>((r) => viewer.once("close", (code) => r(code)));
    new ShellSession({ deviceId: "d1", adb, ws: tunnel, idleTimeoutMs: 60_000, highWaterBytes: 1 << 20, log, onEnd: () => undefined });
    device.destroy();
    expect(await closed).toBe(1011);
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
