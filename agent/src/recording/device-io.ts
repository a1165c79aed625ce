import { createWriteStream } from "node:fs";
import type { Socket } from "node:net";
import { once } from "node:events";
import { SHELL_V2, ShellV2Decoder, encodeShellPacket, shellV2Service } from "../adb/protocol.js";
import { openDeviceService, type AdbServerAddress } from "../adb/smart-socket.js";
import type { ExecOptions, ExecResult } from "../adb/exec.js";

/** What the recording manager needs of the adb layer (AdbClient satisfies it). */
export interface RecordingAdb {
  readonly server: AdbServerAddress;
  serial(port: number): string;
  exec(serial: string, cmd: string, opts: ExecOptions): Promise<ExecResult>;
}

/** How a held command ended: its exit status, or null when the stream broke first. */
export interface ProcessExit {
  exitCode: number | null;
  stderr: string;
}

/**
 * A long-running device command on an open shell v2 stream: the stream is the session's handle (adbd hangs the
 * process up when it closes), `exited` resolves when the command ends or the stream breaks.
 */
export interface HeldProcess {
  exited: Promise<ProcessExit>;
  /** Closes the stream (adbd then sends the process SIGHUP). */
  close(): void;
}

const MAX_STDERR = 8192;

/** Starts `command` on the device and keeps its stream open. Rejects when the stream cannot be opened. */
export async function holdCommand(server: AdbServerAddress, serial: string, command: string, openTimeoutMs: number): Promise<HeldProcess> {
  const sock: Socket = await openDeviceService(server, serial, shellV2Service(command), openTimeoutMs);
  const decoder = new ShellV2Decoder();
  let stderr = "";
  const exited = new Promise<ProcessExit>((resolve) => {
    let done = false;
    const finish = (exitCode: number | null) => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve({ exitCode, stderr });
    };
    sock.on("data", (chunk: Buffer) => {
      let packets;
      try {
        packets = decoder.push(chunk);
      } catch {
        finish(null);
        return;
      }
      for (const p of packets) {
        if (p.id === SHELL_V2.stderr && stderr.length < MAX_STDERR) stderr += p.data.toString("utf8");
        else if (p.id === SHELL_V2.exit) finish(p.data.length > 0 ? p.data.readUInt8(0) : null);
      }
    });
    sock.on("close", () => finish(null));
    sock.on("error", () => finish(null));
  });
  // screenrecord reads no stdin; closing it is what a non-interactive `adb shell` does.
  sock.write(encodeShellPacket(SHELL_V2.closeStdin));
  sock.resume();
  return { exited, close: () => sock.destroy() };
}

/** The device refused the pull (no such file, permission). */
export class SyncFailError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SyncFailError";
  }
}

function syncRequest(id: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, "ascii");
  head.writeUInt32LE(payload.length, 4);
  return Buffer.concat([head, payload]);
}

/**
 * Pulls `remotePath` into `localPath` with the adb sync protocol (`RECV`, then `DATA` chunks up to `DONE`, or
 * `FAIL`), streamed to disk with backpressure. Resolves with the byte count. The caller removes `localPath` on
 * failure. Bounded by `timeoutMs` overall.
 */
export async function syncPull(server: AdbServerAddress, serial: string, remotePath: string, localPath: string, timeoutMs: number): Promise<number> {
  const sock = await openDeviceService(server, serial, "sync:", Math.min(timeoutMs, 10_000));
  const out = createWriteStream(localPath, { mode: 0o600 });
  let bytes = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`pulling ${remotePath}: not finished within ${timeoutMs} ms`)), timeoutMs);
      let buf: Buffer = Buffer.alloc(0);
      /** Bytes of the current DATA chunk still to come (0: expecting a header). */
      let inData = 0;
      let settled = false;
      function fail(e: Error): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        reject(e);
      }
      function succeed(): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.end(syncRequest("QUIT", Buffer.alloc(0)));
        resolve();
      }
      sock.on("data", (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        while (!settled) {
          if (inData > 0) {
            if (buf.length === 0) return;
            const part = buf.subarray(0, inData);
            buf = buf.subarray(part.length);
            inData -= part.length;
            bytes += part.length;
            if (!out.write(part)) {
              sock.pause();
              out.once("drain", () => sock.resume());
            }
            continue;
          }
          if (buf.length < 8) return;
          const id = buf.toString("ascii", 0, 4);
          const len = buf.readUInt32LE(4);
          if (id === "DATA") {
            if (len > 1024 * 1024) return fail(new Error(`pulling ${remotePath}: sync chunk of ${len} bytes`));
            buf = buf.subarray(8);
            inData = len;
          } else if (id === "DONE") {
            return succeed();
          } else if (id === "FAIL") {
            if (buf.length < 8 + len) return;
            return fail(new SyncFailError(`pulling ${remotePath}: ${buf.toString("utf8", 8, 8 + len)}`));
          } else {
            return fail(new Error(`pulling ${remotePath}: unexpected sync reply ${JSON.stringify(id)}`));
          }
        }
      });
      sock.on("close", () => fail(new Error(`pulling ${remotePath}: the sync stream closed early`)));
      sock.on("error", (e) => fail(e));
      out.on("error", (e) => fail(e));
      const path = Buffer.from(remotePath, "utf8");
      sock.write(syncRequest("RECV", path));
      sock.resume();
    });
  } finally {
    if (!out.closed) {
      out.end();
      await once(out, "close").catch(() => undefined);
    }
  }
  return bytes;
}
