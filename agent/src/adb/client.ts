import type { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import type * as AdbKit from "@devicefarmer/adbkit";
import { execShellV2, type ExecOptions, type ExecResult } from "./exec.js";
import { waitForDevice, type AdbServerAddress } from "./smart-socket.js";

// adbkit is CommonJS with an `__esModule` default export, which ESM loaders resolve differently (Node: the
// exports object; bundlers: its `default`); require() always gives the exports object.
const { Adb } = createRequire(import.meta.url)("@devicefarmer/adbkit") as typeof AdbKit;

/** Devices' adbd endpoints are on this host's loopback (bridge: published there; host network: adbd binds all). */
export const DEVICE_HOST = "127.0.0.1";

export interface AdbClientConfig {
  serverHost: string;
  serverPort: number;
  /** The adb binary, run as `adb -P <port> start-server` when the server refuses connections. */
  bin: string;
}

/** The device list the adb server pushes (adbkit's Tracker): add / remove / change / end / error. */
export interface DeviceTracker extends EventEmitter {
  end(): unknown;
}

export interface TrackedDevice {
  id: string;
  type: string;
}

function withTimeout<T>(p: PromiseLike<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    Promise.resolve(p).then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function refused(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === "ECONNREFUSED";
}

/**
 * The agent's client of the adb server. adbkit for the server-level requests (connect, disconnect, version, the
 * device tracker; it starts the server with `bin` when refused); the raw smart-socket client for exec and
 * wait-for-device, which need timeouts that close their connection. The adb server is meant to run supervised
 * (systemd); starting it on demand covers a server that died or never ran.
 */
export class AdbClient {
  readonly server: AdbServerAddress;
  private readonly kit;

  constructor(cfg: AdbClientConfig) {
    this.server = { host: cfg.serverHost, port: cfg.serverPort };
    this.kit = Adb.createClient({ host: cfg.serverHost, port: cfg.serverPort, bin: cfg.bin });
  }

  serial(port: number): string {
    return `${DEVICE_HOST}:${port}`;
  }

  /** The adb server's protocol version; starts the server when it is not running. */
  version(timeoutMs = 10_000): Promise<number> {
    return withTimeout(this.kit.version(), timeoutMs, "adb server version");
  }

  /** `adb connect 127.0.0.1:<port>` ("already connected" counts as success). */
  async connect(port: number, timeoutMs: number): Promise<void> {
    await withTimeout(this.kit.connect(DEVICE_HOST, port), timeoutMs, `adb connect ${this.serial(port)}`);
  }

  /** `adb disconnect 127.0.0.1:<port>`; a device the server does not know is fine. */
  async disconnect(port: number, timeoutMs = 5000): Promise<void> {
    try {
      await withTimeout(this.kit.disconnect(DEVICE_HOST, port), timeoutMs, `adb disconnect ${this.serial(port)}`);
    } catch {
      // not connected (or the server is gone, which disconnects everything anyway)
    }
  }

  waitForDevice(serial: string, timeoutMs: number): Promise<void> {
    return this.startingServer(() => waitForDevice(this.server, serial, timeoutMs));
  }

  exec(serial: string, cmd: string | readonly string[], opts: ExecOptions): Promise<ExecResult> {
    return this.startingServer(() => execShellV2(this.server, serial, cmd, opts));
  }

  async trackDevices(timeoutMs = 10_000): Promise<DeviceTracker> {
    return withTimeout(this.kit.trackDevices(), timeoutMs, "adb track-devices");
  }

  /** Runs `fn`; if the server refused the connection, starts it (through adbkit) and runs `fn` once more. */
  private async startingServer<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (!refused(e)) throw e;
      await this.version();
      return fn();
    }
  }
}
