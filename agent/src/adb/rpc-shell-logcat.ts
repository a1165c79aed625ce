import type { Socket } from "node:net";
import type WebSocket from "ws";
import type { Logger } from "../log.js";
import { RpcFailure, type RpcContext, type RpcHandler } from "../rpc/types.js";
import { LogcatSession, openLogcat } from "./logcat-session.js";
import { SessionSlots } from "./session-slots.js";
import { ShellSession, openPtyShell } from "./shell-session.js";
import { AdbFailError, AdbTimeoutError, type AdbServerAddress } from "./smart-socket.js";

/**
 * RPC handlers `device.shell.open` and `device.logcat.open`: each opens the device stream, then the duplex tunnel,
 * and answers as soon as the relay runs; the session then lives on the sockets, not in the RPC (its deadline does
 * not end it). Per device at most `maxPerDevice` shells and as many logcats (`conflict` beyond).
 */

export interface ShellLogcatConfig {
  server: AdbServerAddress;
  /** Limit for opening the device stream (adb server and adbd answering). */
  openTimeoutMs: number;
  shell: { idleTimeoutMs: number; maxPerDevice: number };
  logcat: { maxPerDevice: number; maxBufferedBytes: number };
  log: Logger;
}

/** Unsent bytes on the tunnel above which the device's shell output is paused. */
const SHELL_HIGH_WATER_BYTES = 1024 * 1024;

interface Closable {
  close(): void;
}

export interface ShellLogcatHandlers {
  handlers: { "device.shell.open": RpcHandler<"device.shell.open">; "device.logcat.open": RpcHandler<"device.logcat.open"> };
  /** Open sessions, for tests and metrics. */
  openCount(): { shells: number; logcats: number };
  /** Ends every session (agent shutdown): the device streams close, the viewers see 1001. */
  closeAll(): void;
}

function deviceError(e: unknown): RpcFailure {
  if (e instanceof RpcFailure) return e;
  if (e instanceof AdbFailError) return new RpcFailure("device_not_ready", `adb: ${e.message}`);
  if (e instanceof AdbTimeoutError) return new RpcFailure("device_not_ready", e.message);
  return new RpcFailure("failed", (e as Error).message);
}

/**
 * Opens the device stream with `open`, then the tunnel; on any failure both are closed and the slot is released.
 * The stream is opened first so that a device problem answers at once instead of after a tunnel round trip.
 */
async function establish(ctx: RpcContext, slots: SessionSlots, what: string, open: (serial: string) => Promise<Socket>, tunnel: () => Promise<WebSocket>) {
  if (ctx.serial === null) throw new RpcFailure("device_not_ready", `device ${ctx.deviceId} has no adb connection (not running)`);
  const release = slots.acquire(ctx.deviceId);
  if (!release) throw new RpcFailure("conflict", `device ${ctx.deviceId} already has ${slots.max} open ${what} sessions`);
  let adb: Socket | null = null;
  try {
    adb = await open(ctx.serial);
  } catch (e) {
    release();
    throw deviceError(e);
  }
  try {
    if (ctx.signal.aborted) throw new RpcFailure("timeout", "the request's deadline passed");
    const ws = await tunnel();
    return { adb, ws, release };
  } catch (e) {
    adb.destroy();
    release();
    throw e instanceof RpcFailure ? e : new RpcFailure("tunnel_failed", `could not open the tunnel: ${(e as Error).message}`);
  }
}

export function createShellLogcatHandlers(cfg: ShellLogcatConfig): ShellLogcatHandlers {
  const shellSlots = new SessionSlots(cfg.shell.maxPerDevice);
  const logcatSlots = new SessionSlots(cfg.logcat.maxPerDevice);
  const live = new Set<Closable>();

  const handlers: ShellLogcatHandlers["handlers"] = {
    "device.shell.open": async (params, ctx) => {
      const { adb, ws, release } = await establish(
        ctx,
        shellSlots,
        "shell",
        (serial) => openPtyShell({ server: cfg.server, serial, cols: params.cols, rows: params.rows, openTimeoutMs: cfg.openTimeoutMs }),
        () => ctx.tunnels.duplex(params.tunnel, ctx.signal),
      );
      const session: ShellSession = new ShellSession({
        deviceId: ctx.deviceId,
        adb,
        ws,
        idleTimeoutMs: cfg.shell.idleTimeoutMs,
        highWaterBytes: SHELL_HIGH_WATER_BYTES,
        log: cfg.log,
        onEnd: () => {
          live.delete(session);
          release();
        },
      });
      live.add(session);
      cfg.log.info({ deviceId: ctx.deviceId, requestId: ctx.requestId, cols: params.cols, rows: params.rows }, "shell session started");
      return {};
    },

    "device.logcat.open": async (params, ctx) => {
      const { adb, ws, release } = await establish(
        ctx,
        logcatSlots,
        "logcat",
        (serial) => openLogcat(cfg.server, serial, params.filter, cfg.openTimeoutMs),
        () => ctx.tunnels.duplex(params.tunnel, ctx.signal),
      );
      const session: LogcatSession = new LogcatSession({
        deviceId: ctx.deviceId,
        adb,
        ws,
        filter: params.filter,
        maxBufferedBytes: cfg.logcat.maxBufferedBytes,
        log: cfg.log,
        onEnd: () => {
          live.delete(session);
          release();
        },
      });
      live.add(session);
      cfg.log.info({ deviceId: ctx.deviceId, requestId: ctx.requestId, dump: params.filter.dump }, "logcat session started");
      return {};
    },
  };

  return {
    handlers,
    openCount: () => ({ shells: shellSlots.count(), logcats: logcatSlots.count() }),
    closeAll: () => {
      for (const s of [...live]) s.close();
    },
  };
}
