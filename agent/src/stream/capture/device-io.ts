import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import type { Socket } from "node:net";
import type { ExecOptions, ExecResult } from "../../adb/exec.js";
import { openDeviceService, type AdbServerAddress } from "../../adb/smart-socket.js";
import { SyncSession } from "../../adb/sync.js";

/** What captures need of the adb layer (AdbClient satisfies it). */
export interface CaptureAdb {
  readonly server: AdbServerAddress;
  exec(serial: string, cmd: string, opts: ExecOptions): Promise<ExecResult>;
}

interface LocalFile {
  bytes: Buffer;
  sha256: string;
  mtimeMs: number;
}
const localCache = new Map<string, LocalFile>();

/** The server file on the phone server, read once per modification (it is about 90 KB). */
async function localServerFile(path: string): Promise<LocalFile> {
  const st = await stat(path);
  const cached = localCache.get(path);
  if (cached && cached.mtimeMs === st.mtimeMs && cached.bytes.length === st.size) return cached;
  const bytes = await readFile(path);
  const f = { bytes, sha256: createHash("sha256").update(bytes).digest("hex"), mtimeMs: st.mtimeMs };
  localCache.set(path, f);
  return f;
}

/**
 * Pushes the scrcpy server file to the device unless the device already has the same bytes (same size, then the
 * same SHA-256 by `sha256sum` on the device). Returns whether it pushed.
 */
export async function ensureServerFile(adb: CaptureAdb, serial: string, localPath: string, remotePath: string, timeoutMs: number): Promise<boolean> {
  const local = await localServerFile(localPath);
  const sync = await SyncSession.open(adb.server, serial, timeoutMs);
  try {
    const remote = await sync.stat(remotePath);
    if (remote && remote.size === local.bytes.length) {
      const r = await adb.exec(serial, `sha256sum ${remotePath}`, { timeoutMs, maxOutputBytes: 4096 });
      if (r.exitCode === 0 && r.stdout.toString("utf8").trim().split(/\s+/)[0] === local.sha256) return false;
    }
    await sync.send(remotePath, 0o644, (async function* () {
      yield local.bytes;
    })());
    return true;
  } finally {
    sync.close();
  }
}

/** Kills scrcpy servers an earlier capture (or agent run) left on the device; one capture per device is ours. */
export async function killStaleServers(adb: CaptureAdb, serial: string, timeoutMs: number): Promise<void> {
  await adb.exec(serial, "pkill -f com.genymobile.scrcpy.Server", { timeoutMs, maxOutputBytes: 4096 }).catch(() => undefined);
}

/** Resolves with the first chunk the socket delivers, or null when it ends, fails or stays silent for `ms`. */
function firstChunk(sock: Socket, ms: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const done = (v: Buffer | null) => {
      clearTimeout(timer);
      sock.off("data", onData);
      sock.off("close", onEnd);
      sock.off("end", onEnd);
      sock.off("error", onEnd);
      sock.pause();
      resolve(v);
    };
    const onData = (b: Buffer) => done(b);
    const onEnd = () => done(null);
    const timer = setTimeout(() => done(null), ms);
    sock.on("data", onData);
    sock.once("close", onEnd);
    sock.once("end", onEnd);
    sock.once("error", onEnd);
    sock.resume();
  });
}

/**
 * Connects the first (video) socket of a forward tunnel: the device may accept before the server listens, so retry
 * until the server's first bytes (the dummy byte) arrive, or `deadline`, or `gaveUp()` says the server is gone.
 * Returns the socket (paused) and the bytes already read (starting with the dummy byte).
 */
export async function connectVideoSocket(
  server: AdbServerAddress,
  serial: string,
  socketName: string,
  deadline: number,
  gaveUp: () => boolean,
): Promise<{ sock: Socket; first: Buffer }> {
  let lastErr = "no answer";
  while (Date.now() < deadline && !gaveUp()) {
    let sock: Socket | null = null;
    try {
      sock = await openDeviceService(server, serial, `localabstract:${socketName}`, Math.max(100, Math.min(2000, deadline - Date.now())));
      const first = await firstChunk(sock, Math.max(100, Math.min(2000, deadline - Date.now())));
      if (first) return { sock, first };
      lastErr = "the socket closed before the server answered";
    } catch (e) {
      lastErr = (e as Error).message;
    }
    sock?.destroy();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`scrcpy server did not answer on ${socketName}: ${lastErr}`);
}

/** The control socket (second, no dummy byte); the server accepts it right after the video socket. */
export async function connectControlSocket(server: AdbServerAddress, serial: string, socketName: string, deadline: number): Promise<Socket> {
  let lastErr: Error = new Error("no attempt");
  while (Date.now() < deadline) {
    try {
      return await openDeviceService(server, serial, `localabstract:${socketName}`, Math.max(100, deadline - Date.now()));
    } catch (e) {
      lastErr = e as Error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`scrcpy control socket ${socketName}: ${lastErr.message}`);
}
