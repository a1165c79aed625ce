// Test-side reader of the scrcpy server's video socket (both framings), independent of the agent's demuxer so that
// the emulator and the product are each checked against the protocol, not against each other.
import type { Socket } from "node:net";
import { waitFor } from "./wait.js";

/** Reads exact byte counts from a socket. */
export class SocketReader {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;
  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake?.();
    });
    const end = () => {
      this.ended = true;
      this.wake?.();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  async read(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffered.length < n) {
      if (this.ended) throw new Error(`socket ended with ${this.buffered.length}/${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out reading ${n} bytes (have ${this.buffered.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  /** Resolves when the peer closed the socket. */
  async closed(timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.ended, { timeoutMs, intervalMs: 20, message: "socket closed by the device" });
  }
}

export type Packet =
  | { kind: "session"; width: number; height: number; resized: boolean }
  | { kind: "media"; config: boolean; key: boolean; pts: bigint; data: Buffer; at: number };

/** One packet off the video socket, parsed by the framing of the server version (never auto-detected). */
export async function readPacket(reader: SocketReader, v4: boolean, timeoutMs = 5000): Promise<Packet> {
  const header = await reader.read(12, timeoutMs);
  if (v4 && (header[0]! & 0x80) !== 0) {
    return { kind: "session", width: header.readUInt32BE(4), height: header.readUInt32BE(8), resized: (header[3]! & 1) === 1 };
  }
  const flags = header.readBigUInt64BE(0);
  const data = await reader.read(header.readUInt32BE(8), timeoutMs);
  const at = performance.now();
  if (v4) return { kind: "media", config: ((flags >> 62n) & 1n) === 1n, key: ((flags >> 61n) & 1n) === 1n, pts: flags & ((1n << 61n) - 1n), data, at };
  return { kind: "media", config: flags >> 63n === 1n, key: ((flags >> 62n) & 1n) === 1n, pts: flags & ((1n << 62n) - 1n), data, at };
}

export async function readMedia(reader: SocketReader, v4: boolean): Promise<Extract<Packet, { kind: "media" }>> {
  const packet = await readPacket(reader, v4);
  if (packet.kind !== "media") throw new Error(`expected a media packet, got ${JSON.stringify(packet)}`);
  return packet;
}

/** NAL unit types of an Annex-B payload. */
export function nalTypes(data: Buffer): number[] {
  const types: number[] = [];
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) types.push(data[i + 3]! & 0x1f);
  }
  return types;
}
