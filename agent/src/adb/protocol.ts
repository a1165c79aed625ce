/**
 * Wire formats spoken with the adb server and through it with adbd. Pure: encoders and an incremental decoder.
 *
 * - Smart-socket requests to the adb server: `<4 hex digits: byte length><request>`; the server answers `OKAY`, or
 *   `FAIL<4 hex digits: length><message>`.
 * - Shell protocol v2 (`shell,v2,raw:<command>`): both directions carry packets `[id: u8][length: u32 LE][data]`,
 *   ids as in AOSP `adb/shell_protocol.h`.
 */

export const SHELL_V2 = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  exit: 3,
  closeStdin: 4,
  windowSizeChange: 5,
} as const;

export const SHELL_V2_HEADER = 5;
/**
 * Largest stdin payload per packet. adbd reads a packet into a buffer of at least 4 KiB (MAX_PAYLOAD_V1 on old
 * devices), so stdin is sent in pieces no larger than that, header included.
 */
export const SHELL_V2_MAX_STDIN_CHUNK = 4096 - SHELL_V2_HEADER;
/** Output packets larger than this mean a corrupt stream (adbd sends at most its buffer size, 1 MiB at most). */
export const SHELL_V2_MAX_PACKET = 16 * 1024 * 1024;

/** `payload` with its 4-hex-digit byte length in front, as the adb server expects every request. */
export function encodeRequest(payload: string): Buffer {
  const body = Buffer.from(payload, "utf8");
  if (body.length > 0xffff) throw new RangeError(`adb request too long (${body.length} bytes, at most 65535)`);
  return Buffer.concat([Buffer.from(body.length.toString(16).padStart(4, "0"), "ascii"), body]);
}

/** Parses the 4 hex digits of a length field; null when they are not hex. */
export function parseHexLength(four: Buffer): number | null {
  const text = four.toString("ascii");
  return /^[0-9a-fA-F]{4}$/.test(text) ? parseInt(text, 16) : null;
}

export function encodeShellPacket(id: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(SHELL_V2_HEADER);
  header.writeUInt8(id, 0);
  header.writeUInt32LE(data.length, 1);
  return Buffer.concat([header, data]);
}

export interface ShellPacket {
  id: number;
  data: Buffer;
}

export class ShellProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShellProtocolError";
  }
}

/** Splits a shell v2 byte stream into packets across arbitrary chunk boundaries. */
export class ShellV2Decoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): ShellPacket[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: ShellPacket[] = [];
    let off = 0;
    while (this.buf.length - off >= SHELL_V2_HEADER) {
      const id = this.buf.readUInt8(off);
      const len = this.buf.readUInt32LE(off + 1);
      if (len > SHELL_V2_MAX_PACKET) throw new ShellProtocolError(`shell v2 packet of ${len} bytes (id ${id}): not a shell v2 stream`);
      if (this.buf.length - off - SHELL_V2_HEADER < len) break;
      // Copy: the packet outlives the buffer it was cut from.
      out.push({ id, data: Buffer.from(this.buf.subarray(off + SHELL_V2_HEADER, off + SHELL_V2_HEADER + len)) });
      off += SHELL_V2_HEADER + len;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    return out;
  }

  /** Bytes of an incomplete packet still waiting for the rest. */
  get pending(): number {
    return this.buf.length;
  }
}

const SAFE_ARG = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one argument for the device's POSIX shell (mksh/toybox sh): single quotes, `'` as `'\''`. */
export function shellQuote(arg: string): string {
  if (arg.length > 0 && SAFE_ARG.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A command line from a string (passed to the device's shell as is) or an argv (each argument quoted). */
export function commandLine(cmd: string | readonly string[]): string {
  return typeof cmd === "string" ? cmd : cmd.map(shellQuote).join(" ");
}

/** The adbd service that runs `command` without a PTY, speaking shell protocol v2. */
export function shellV2Service(command: string): string {
  return `shell,v2,raw:${command}`;
}
