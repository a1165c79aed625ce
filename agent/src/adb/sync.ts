import type { Socket } from "node:net";
import { openDeviceService, type AdbServerAddress } from "./smart-socket.js";

/**
 * A client of adbd's `sync:` service (protocol v1: STAT, LIST, SEND, RECV), over a raw connection through the
 * adb server. Written here rather than taken from adbkit so that transfers honour backpressure both ways, can be
 * aborted (the socket is destroyed), and report the device's FAIL messages.
 */

/** Largest DATA chunk adbd accepts (SYNC_DATA_MAX). */
const SYNC_DATA_MAX = 64 * 1024;

export interface SyncStat {
  mode: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
}

export interface SyncEntry extends SyncStat {
  name: string;
}

/** The device answered FAIL (message from adbd, e.g. "No such file or directory"). */
export class SyncFailError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SyncFailError";
  }
}

const S_IFMT = 0o170000;
export const fileType = (mode: number): "file" | "directory" | "symlink" | "other" => {
  const t = mode & S_IFMT;
  return t === 0o100000 ? "file" : t === 0o040000 ? "directory" : t === 0o120000 ? "symlink" : "other";
};

/** Buffered exact reads from a paused socket. */
class Reader {
  private buffered: Buffer[] = [];
  private size = 0;
  private waiting: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  private ended: Error | null = null;

  constructor(sock: Socket) {
    sock.on("data", (c: Buffer) => {
      this.buffered.push(c);
      this.size += c.length;
      this.drain(sock);
    });
    const end = (e?: Error) => {
      this.ended ??= e ?? new Error("the sync connection closed");
      this.drain(sock);
    };
    sock.on("end", () => end());
    sock.on("close", () => end());
    sock.on("error", (e) => end(e));
    sock.pause();
    this.sock = sock;
  }

  private readonly sock: Socket;

  private drain(sock: Socket): void {
    const w = this.waiting;
    if (!w) {
      // Hold the socket while nobody reads: this is the backpressure towards adbd.
      if (this.size > SYNC_DATA_MAX * 2) sock.pause();
      return;
    }
    if (this.size >= w.n) {
      const all = Buffer.concat(this.buffered);
      this.buffered = all.length > w.n ? [all.subarray(w.n)] : [];
      this.size = all.length - w.n;
      this.waiting = null;
      w.resolve(all.subarray(0, w.n));
    } else if (this.ended) {
      this.waiting = null;
      w.reject(this.ended);
    }
  }

  read(n: number): Promise<Buffer> {
    if (n === 0) return Promise.resolve(Buffer.alloc(0));
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting = { n, resolve, reject };
      this.drain(this.sock);
      if (this.waiting) this.sock.resume();
    });
  }
}

function request(id: string, data: Buffer | string): Buffer {
  const body = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const h = Buffer.alloc(8);
  h.write(id, 0, 4, "ascii");
  h.writeUInt32LE(body.length, 4);
  return Buffer.concat([h, body]);
}

function write(sock: Socket, buf: Buffer): Promise<void> {
  if (sock.write(buf)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      sock.off("close", onClose);
      resolve();
    };
    const onClose = () => {
      sock.off("drain", onDrain);
      reject(new Error("the sync connection closed"));
    };
    sock.once("drain", onDrain);
    sock.once("close", onClose);
  });
}

export class SyncSession {
  private readonly reader: Reader;

  private constructor(private readonly sock: Socket) {
    this.reader = new Reader(sock);
  }

  /** Opens `sync:` on `serial`; `signal` destroys the connection (aborting whatever runs on it). */
  static async open(server: AdbServerAddress, serial: string, timeoutMs: number, signal?: AbortSignal): Promise<SyncSession> {
    const sock = await openDeviceService(server, serial, "sync:", timeoutMs);
    const s = new SyncSession(sock);
    if (signal) {
      if (signal.aborted) sock.destroy(new Error("aborted"));
      else signal.addEventListener("abort", () => sock.destroy(new Error("aborted")), { once: true });
    }
    return s;
  }

  private async failMessage(): Promise<never> {
    const len = (await this.reader.read(4)).readUInt32LE(0);
    throw new SyncFailError((await this.reader.read(Math.min(len, 64 * 1024))).toString("utf8") || "sync request failed");
  }

  /** null when nothing is at `path` (adbd answers all zeros). */
  async stat(path: string): Promise<SyncStat | null> {
    await write(this.sock, request("STAT", path));
    const r = await this.reader.read(16);
    const id = r.toString("ascii", 0, 4);
    if (id !== "STAT") throw new Error(`unexpected sync reply ${JSON.stringify(id)} to STAT`);
    const st = { mode: r.readUInt32LE(4), size: r.readUInt32LE(8), mtime: r.readUInt32LE(12) };
    return st.mode === 0 && st.size === 0 && st.mtime === 0 ? null : st;
  }

  /** Directory entries (without `.` and `..`); stops reading after `max` + 1 so the caller can tell it was cut. */
  async list(path: string): Promise<SyncEntry[]> {
    await write(this.sock, request("LIST", path));
    const out: SyncEntry[] = [];
    for (;;) {
      const h = await this.reader.read(20);
      const id = h.toString("ascii", 0, 4);
      if (id === "DONE") return out;
      if (id === "FAIL") {
        // FAIL carries its length right after the id; the 16 bytes already read hold part of the message.
        const len = h.readUInt32LE(4);
        const rest = len > 12 ? await this.reader.read(len - 12) : Buffer.alloc(0);
        throw new SyncFailError(Buffer.concat([h.subarray(8, 8 + Math.min(12, len)), rest]).toString("utf8"));
      }
      if (id !== "DENT") throw new Error(`unexpected sync reply ${JSON.stringify(id)} to LIST`);
      const name = (await this.reader.read(h.readUInt32LE(16))).toString("utf8");
      if (name !== "." && name !== "..") out.push({ name, mode: h.readUInt32LE(4), size: h.readUInt32LE(8), mtime: h.readUInt32LE(12) });
    }
  }

  /** Streams `data` to `path` with `mode`; resolves with the byte count once adbd confirmed (OKAY). */
  async send(path: string, mode: number, data: AsyncIterable<Buffer | Uint8Array | string>): Promise<number> {
    await write(this.sock, request("SEND", `${path},${mode & 0o7777 | 0o100000}`));
    let bytes = 0;
    for await (const chunk of data) {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let off = 0; off < buf.length; off += SYNC_DATA_MAX) {
        const part = buf.subarray(off, off + SYNC_DATA_MAX);
        await write(this.sock, request("DATA", part));
        bytes += part.length;
      }
    }
    const done = Buffer.alloc(8);
    done.write("DONE", 0, 4, "ascii");
    done.writeUInt32LE(Math.floor(Date.now() / 1000), 4);
    await write(this.sock, done);
    const r = await this.reader.read(4);
    const id = r.toString("ascii");
    if (id === "FAIL") return this.failMessage();
    if (id !== "OKAY") throw new Error(`unexpected sync reply ${JSON.stringify(id)} to SEND`);
    await this.reader.read(4);
    return bytes;
  }

  /** The file's bytes, read only as fast as the consumer iterates. */
  async *recv(path: string): AsyncGenerator<Buffer> {
    await write(this.sock, request("RECV", path));
    for (;;) {
      const h = await this.reader.read(8);
      const id = h.toString("ascii", 0, 4);
      const len = h.readUInt32LE(4);
      if (id === "DONE") return;
      if (id === "FAIL") throw new SyncFailError((await this.reader.read(Math.min(len, 64 * 1024))).toString("utf8"));
      if (id !== "DATA" || len > 1024 * 1024) throw new Error(`unexpected sync reply ${JSON.stringify(id)} to RECV`);
      yield await this.reader.read(len);
    }
  }

  close(): void {
    if (!this.sock.destroyed) {
      this.sock.write(request("QUIT", ""));
      this.sock.end();
      setTimeout(() => this.sock.destroy(), 1000).unref();
    }
  }

  destroy(): void {
    this.sock.destroy();
  }
}
