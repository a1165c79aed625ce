// The adb I/O (exec over shell v2, the monitor, the device tracker) with the real client code against an
// in-process stand-in for the adb server that speaks its smart-socket protocol. The real adb server and adbd are
// exercised by test/adb-health.test.ts.
import { createServer, type Server, type Socket } from "node:net";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AdbClient } from "./client.js";
import { AdbExecError } from "./exec.js";
import type { AdbStatus } from "./facts.js";
import { AdbMonitor } from "./monitor.js";
import { SHELL_V2, ShellV2Decoder, encodeShellPacket } from "./protocol.js";
import { AdbFailError, AdbTimeoutError } from "./smart-socket.js";
import { AdbDeviceTracker } from "./tracker.js";

const log = pino({ level: "silent" });

interface FakeDevice {
  /** adbd accepts connections. */
  listening: boolean;
  /** The transport handshake completes (false: stuck offline). */
  online: boolean;
  bootCompleted: string;
}

/** Reads `<4 hex><payload>` requests from a socket, one at a time. */
class RequestReader {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  constructor(private readonly sock: Socket) {
    sock.on("data", (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.waiter?.();
    });
  }
  async next(): Promise<string> {
    for (;;) {
      if (this.buf.length >= 4) {
        const len = parseInt(this.buf.subarray(0, 4).toString("ascii"), 16);
        if (this.buf.length >= 4 + len) {
          const req = this.buf.subarray(4, 4 + len).toString("utf8");
          this.buf = this.buf.subarray(4 + len);
          return req;
        }
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
  /** Hands the bytes that followed the last request to `onData`, then every later chunk. */
  takeOver(onData: (c: Buffer) => void): void {
    this.sock.removeAllListeners("data");
    if (this.buf.length > 0) onData(this.buf);
    this.sock.on("data", onData);
  }
}

const value = (text: string) => Buffer.concat([Buffer.from(Buffer.byteLength(text).toString(16).padStart(4, "0")), Buffer.from(text)]);

class FakeAdbServer {
  readonly devices = new Map<string, FakeDevice>();
  readonly connected = new Set<string>();
  readonly requests: string[] = [];
  /** Shell streams the client closed before the command finished (a timeout). */
  abandonedShells = 0;
  private readonly sockets = new Set<Socket>();
  private readonly trackers = new Set<Socket>();
  private server: Server | null = null;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = createServer((s) => void this.serve(s));
    await new Promise<void>((r) => this.server!.listen(port, "127.0.0.1", r));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Like the adb server dying: every connection drops, connected devices are forgotten. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.connected.clear();
    await new Promise((r) => this.server?.close(r));
  }

  device(serial: string, d: Partial<FakeDevice> = {}): FakeDevice {
    const dev = { listening: true, online: true, bootCompleted: "1", ...d };
    this.devices.set(serial, dev);
    return dev;
  }

  /** What the device list looks like to track-devices clients. */
  listing(): string {
    return [...this.connected].map((s) => `${s}\t${this.devices.get(s)?.online ? "device" : "offline"}\n`).join("");
  }

  notifyTrackers(): void {
    for (const t of this.trackers) t.write(value(this.listing()));
  }

  private async serve(sock: Socket): Promise<void> {
    this.sockets.add(sock);
    sock.on("close", () => {
      this.sockets.delete(sock);
      this.trackers.delete(sock);
    });
    sock.on("error", () => undefined);
    const reader = new RequestReader(sock);
    const req = await reader.next();
    this.requests.push(req);
    const okay = (v?: string) => sock.write(v === undefined ? "OKAY" : Buffer.concat([Buffer.from("OKAY"), value(v)]));
    const fail = (msg: string) => {
      sock.write(Buffer.concat([Buffer.from("FAIL"), value(msg)]));
      sock.end();
    };
    let m: RegExpExecArray | null;
    if (req === "host:version") return void okay("0029");
    if ((m = /^host:connect:(.+)$/.exec(req))) {
      const dev = this.devices.get(m[1]!);
      if (!dev?.listening) return void okay(`failed to connect to '${m[1]}': Connection refused`);
      const already = this.connected.has(m[1]!);
      this.connected.add(m[1]!);
      this.notifyTrackers();
      return void okay(`${already ? "already connected" : "connected"} to ${m[1]}`);
    }
    if ((m = /^host:disconnect:(.+)$/.exec(req))) {
      if (!this.connected.delete(m[1]!)) return fail(`no such device '${m[1]}'`);
      this.notifyTrackers();
      return void okay(`disconnected ${m[1]}`);
    }
    if ((m = /^host-serial:(.+):wait-for-any-device$/.exec(req))) {
      okay();
      const serial = m[1]!;
      while (!sock.destroyed) {
        if (this.connected.has(serial) && this.devices.get(serial)?.online) return void okay();
        await new Promise((r) => setTimeout(r, 10));
      }
      return;
    }
    if (req === "host:track-devices") {
      okay();
      this.trackers.add(sock);
      sock.write(value(this.listing()));
      return;
    }
    if ((m = /^host:transport:(.+)$/.exec(req))) {
      const serial = m[1]!;
      if (!this.connected.has(serial)) return fail(`device '${serial}' not found`);
      if (!this.devices.get(serial)?.online) return fail("device offline");
      okay();
      const service = await reader.next();
      this.requests.push(service);
      const sh = /^shell,v2,raw:(.*)$/s.exec(service);
      if (!sh) return fail(`unknown service ${service}`);
      okay();
      return this.shell(sock, reader, sh[1]!, this.devices.get(serial)!);
    }
    fail(`unknown request ${req}`);
  }

  /** A few scripted commands instead of a real shell. */
  private shell(sock: Socket, reader: RequestReader, cmd: string, dev: FakeDevice): void {
    const out = (id: number, text: string | Buffer) => sock.write(encodeShellPacket(id, Buffer.isBuffer(text) ? text : Buffer.from(text)));
    const exit = (code: number) => {
      out(SHELL_V2.exit, Buffer.from([code]));
      sock.end();
    };
    const stdin: Buffer[] = [];
    let exited = false;
    const decoder = new ShellV2Decoder();
    reader.takeOver((c) => {
      for (const p of decoder.push(c)) {
        if (p.id === SHELL_V2.stdin) stdin.push(p.data);
        if (p.id === SHELL_V2.closeStdin && cmd === "cat") {
          out(SHELL_V2.stdout, Buffer.concat(stdin));
          exited = true;
          exit(0);
        }
      }
    });
    sock.on("close", () => {
      if (!exited) this.abandonedShells++;
    });
    switch (cmd) {
      case "getprop sys.boot_completed":
        out(SHELL_V2.stdout, `${dev.bootCompleted}\n`);
        exited = true;
        return exit(0);
      case "fail3":
        out(SHELL_V2.stdout, "out\n");
        out(SHELL_V2.stderr, "err\n");
        exited = true;
        return exit(3);
      case "big":
        for (let i = 0; i < 3; i++) out(SHELL_V2.stdout, Buffer.alloc(1000, 65 + i));
        exited = true;
        return exit(0);
      case "break":
        out(SHELL_V2.stdout, "partial");
        sock.destroy();
        return;
      default:
        if (cmd.startsWith("echo ")) {
          out(SHELL_V2.stdout, `${cmd.slice(5)}\n`);
          exited = true;
          return exit(0);
        }
      // "cat" answers on closeStdin; "sleep" never answers
    }
  }
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

let fake: FakeAdbServer;
let client: AdbClient;
const SERIAL = "127.0.0.1:20001";

beforeEach(async () => {
  fake = new FakeAdbServer();
  await fake.start();
  // `false` as bin: a refused connection would "start" nothing, never a real adb server.
  client = new AdbClient({ serverHost: "127.0.0.1", serverPort: fake.port, bin: "false" });
});
afterEach(async () => {
  await fake.stop();
});

describe("exec over shell protocol v2", () => {
  beforeEach(() => {
    fake.device(SERIAL);
    fake.connected.add(SERIAL);
  });

  it("returns the exit code with stdout and stderr kept apart", async () => {
    const r = await client.exec(SERIAL, "fail3", { timeoutMs: 2000 });
    expect(r).toMatchObject({ exitCode: 3, timedOut: false, truncated: false });
    expect(r.stdout.toString()).toBe("out\n");
    expect(r.stderr.toString()).toBe("err\n");
    expect(fake.requests).toContain("shell,v2,raw:fail3");
  });

  it("quotes an argv for the device shell", async () => {
    const r = await client.exec(SERIAL, ["echo", "a b"], { timeoutMs: 2000 });
    expect(r.stdout.toString()).toBe("'a b'\n");
    expect(fake.requests).toContain("shell,v2,raw:echo 'a b'");
  });

  it("sends stdin in packets and closes it", async () => {
    const input = Buffer.alloc(10_000, "x");
    const r = await client.exec(SERIAL, "cat", { timeoutMs: 2000, stdin: input });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.equals(input)).toBe(true);
  });

  it("keeps at most maxOutputBytes and says so", async () => {
    const r = await client.exec(SERIAL, "big", { timeoutMs: 2000, maxOutputBytes: 1500 });
    expect(r).toMatchObject({ exitCode: 0, truncated: true });
    expect(r.stdout.toString()).toBe("A".repeat(1000) + "B".repeat(500));
  });

  it("closes the stream when the timeout runs out (adbd then ends the command)", async () => {
    const started = Date.now();
    const r = await client.exec(SERIAL, "sleep", { timeoutMs: 200 });
    expect(r).toMatchObject({ exitCode: null, timedOut: true });
    expect(Date.now() - started).toBeLessThan(1500);
    await until(() => fake.abandonedShells === 1);
  });

  it("rejects when the stream breaks without an exit status", async () => {
    await expect(client.exec(SERIAL, "break", { timeoutMs: 2000 })).rejects.toBeInstanceOf(AdbExecError);
  });

  it("rejects with the adb server's reason for an unknown or offline device", async () => {
    await expect(client.exec("127.0.0.1:1", "echo x", { timeoutMs: 2000 })).rejects.toThrow(new AdbFailError("device '127.0.0.1:1' not found"));
    fake.devices.get(SERIAL)!.online = false;
    await expect(client.exec(SERIAL, "echo x", { timeoutMs: 2000 })).rejects.toThrow("device offline");
  });

  it("times out waiting for a transport that never comes online", async () => {
    fake.devices.get(SERIAL)!.online = false;
    await expect(client.waitForDevice(SERIAL, 150)).rejects.toBeInstanceOf(AdbTimeoutError);
    fake.devices.get(SERIAL)!.online = true;
    await client.waitForDevice(SERIAL, 1000);
  });
});

describe("AdbMonitor", () => {
  const PORT = 20001;
  const RUN = 1_700_000_000_000;
  let monitor: AdbMonitor;
  let changes: string[];
  const status = (): AdbStatus | undefined => monitor.facts("d1")?.status;

  beforeEach(() => {
    changes = [];
    monitor = new AdbMonitor({
      client,
      healthIntervalMs: 100,
      probeIntervalMs: 20,
      maxProbeIntervalMs: 40,
      commandTimeoutMs: 300,
      maxReconnects: 2,
      reconnectBackoffMs: 30,
      onChange: (id) => changes.push(`${id}:${monitor.facts(id)?.status}`),
      log,
    });
  });
  afterEach(() => monitor.stop());

  it("probes a booting device until adbd answers and sys.boot_completed is 1", async () => {
    const dev = fake.device(SERIAL, { listening: false, bootCompleted: "" });
    monitor.watch("d1", "boot", PORT, RUN);
    expect(monitor.facts("d1")).toMatchObject({ run: RUN, port: PORT, status: "probing" });
    await until(() => /does not answer/.test(monitor.facts("d1")?.error ?? ""));
    dev.listening = true;
    await until(() => /boot not completed/.test(monitor.facts("d1")?.error ?? ""));
    expect(status()).toBe("probing");
    dev.bootCompleted = "1";
    await until(() => status() === "ready");
    expect(changes).toEqual(["d1:ready"]);
    expect(monitor.facts("d1")).toMatchObject({ run: RUN, port: PORT, error: null });
  });

  it("reports lost when a health check fails, then ready when a reconnect succeeds", async () => {
    const dev = fake.device(SERIAL);
    monitor.watch("d1", "health", PORT, RUN);
    await until(() => status() === "ready");
    dev.online = false; // transport stuck offline, like an adbd that went away
    await until(() => status() === "lost");
    dev.online = true;
    await until(() => status() === "ready");
    expect(changes).toEqual(["d1:ready", "d1:lost", "d1:ready"]);
  });

  it("reports unreachable after maxReconnects failed reconnects, and stops checking", async () => {
    const dev = fake.device(SERIAL);
    monitor.watch("d1", "health", PORT, RUN);
    await until(() => status() === "ready");
    dev.listening = false;
    dev.online = false;
    await until(() => status() === "unreachable");
    expect(monitor.facts("d1")!.error).toMatch(/^no adb connection after 2 reconnect attempt\(s\): adbd does not answer/);
    const n = fake.requests.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.requests.length).toBe(n);
  });

  it("starts new facts for a new run, keeps facts when asked again for the same, and forgets on delete", async () => {
    fake.device(SERIAL);
    monitor.watch("d1", "boot", PORT, RUN);
    await until(() => status() === "ready");
    monitor.watch("d1", "health", PORT, RUN);
    expect(status()).toBe("ready");
    monitor.watch("d1", "boot", PORT, RUN + 5000); // the container restarted
    expect(monitor.facts("d1")).toMatchObject({ run: RUN + 5000, status: "probing" });
    await until(() => status() === "ready");
    monitor.watch("d1", "none", null, null);
    await until(() => !fake.connected.has(SERIAL)); // a device that is not watched is disconnected
    expect(status()).toBe("ready"); // facts stay until forgotten
    monitor.forget("d1");
    expect(monitor.facts("d1")).toBeNull();
  });

  it("checks a device at once when the tracker reports it gone", async () => {
    const slow = new AdbMonitor({ client, healthIntervalMs: 60_000, probeIntervalMs: 20, commandTimeoutMs: 200, maxReconnects: 0, reconnectBackoffMs: 0, onChange: () => undefined, log });
    try {
      const dev = fake.device(SERIAL);
      slow.watch("d1", "health", PORT, RUN);
      await until(() => slow.facts("d1")?.status === "ready");
      dev.online = false;
      slow.checkSerial(SERIAL);
      await until(() => slow.facts("d1")?.status === "unreachable");
    } finally {
      slow.stop();
    }
  });
});

describe("AdbDeviceTracker", () => {
  it("reports devices going offline, and re-creates itself when the adb server restarts", async () => {
    const gone: string[] = [];
    let back = 0;
    const tracker = new AdbDeviceTracker(client, { onDeviceGone: (s) => gone.push(s), onServerBack: () => back++ }, log, { minMs: 20, maxMs: 50 });
    const dev = fake.device(SERIAL);
    tracker.start();
    await until(() => fake.requests.includes("host:track-devices"));
    fake.connected.add(SERIAL);
    fake.notifyTrackers();
    dev.online = false;
    fake.notifyTrackers();
    await until(() => gone.includes(SERIAL));
    // the adb server dies and comes back on the same port
    const port = fake.port;
    await fake.stop();
    fake = new FakeAdbServer();
    await fake.start(port);
    await until(() => back === 1);
    await tracker.stop();
  });
});
