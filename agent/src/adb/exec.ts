import type { Socket } from "node:net";
import { SHELL_V2, SHELL_V2_MAX_STDIN_CHUNK, ShellV2Decoder, commandLine, encodeShellPacket, shellV2Service } from "./protocol.js";
import { openDeviceService, type AdbServerAddress } from "./smart-socket.js";

export interface ExecOptions {
  /** The whole run: opening the stream, the command, its output. On expiry the stream is closed. */
  timeoutMs: number;
  /** Sent to the command's stdin, which is then closed (without it stdin is closed at once). */
  stdin?: Buffer | string;
  /** stdout and stderr together are kept up to this many bytes; the rest is dropped and `truncated` set. */
  maxOutputBytes?: number;
}

export interface ExecResult {
  /** The command's exit status; null when the timeout ended it first. */
  exitCode: number | null;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
  truncated: boolean;
  durationMs: number;
}

/** The stream broke without an exit status (adbd died, the transport went away). */
export class AdbExecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdbExecError";
  }
}

const DEFAULT_MAX_OUTPUT = 8 * 1024 * 1024;

function sendStdin(sock: Socket, stdin: Buffer | string | undefined): void {
  const data = typeof stdin === "string" ? Buffer.from(stdin, "utf8") : (stdin ?? Buffer.alloc(0));
  for (let off = 0; off < data.length; off += SHELL_V2_MAX_STDIN_CHUNK) {
    sock.write(encodeShellPacket(SHELL_V2.stdin, data.subarray(off, off + SHELL_V2_MAX_STDIN_CHUNK)));
  }
  sock.write(encodeShellPacket(SHELL_V2.closeStdin));
}

/**
 * Runs `cmd` on device `serial` with shell protocol v2 (no PTY): separate stdout and stderr and the exit status.
 * A string is handed to the device's shell as is; an argv is quoted argument by argument. When `timeoutMs` runs
 * out the stream is closed, which makes adbd end the command; the result then has `timedOut` and the output so far.
 * Rejects when the stream cannot be opened (device unknown or offline: AdbFailError) or breaks (AdbExecError).
 */
export async function execShellV2(server: AdbServerAddress, serial: string, cmd: string | readonly string[], opts: ExecOptions): Promise<ExecResult> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const sock = await openDeviceService(server, serial, shellV2Service(commandLine(cmd)), opts.timeoutMs);

  return new Promise<ExecResult>((resolve, reject) => {
    const decoder = new ShellV2Decoder();
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    let settled = false;
    const result = (exitCode: number | null, timedOut: boolean): ExecResult => ({
      exitCode,
      stdout: Buffer.concat(stdout),
      stderr: Buffer.concat(stderr),
      timedOut,
      truncated,
      durationMs: Date.now() - started,
    });
    const finish = (outcome: { ok: ExecResult } | { err: Error }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if ("ok" in outcome) resolve(outcome.ok);
      else reject(outcome.err);
    };
    const timer = setTimeout(() => finish({ ok: result(null, true) }), Math.max(0, deadline - Date.now()));
    const keep = (into: Buffer[], data: Buffer) => {
      const room = Math.max(0, max - kept);
      if (data.length > room) truncated = true;
      const part = data.length > room ? data.subarray(0, room) : data;
      if (part.length > 0) into.push(part);
      kept += part.length;
    };

    sock.on("data", (chunk: Buffer) => {
      let packets;
      try {
        packets = decoder.push(chunk);
      } catch (e) {
        finish({ err: new AdbExecError((e as Error).message) });
        return;
      }
      for (const p of packets) {
        if (p.id === SHELL_V2.stdout) keep(stdout, p.data);
        else if (p.id === SHELL_V2.stderr) keep(stderr, p.data);
        else if (p.id === SHELL_V2.exit) {
          // Everything the command wrote precedes its exit packet.
          if (p.data.length === 0) finish({ err: new AdbExecError(`exit packet without a status from ${serial}`) });
          else finish({ ok: result(p.data.readUInt8(0), false) });
          return;
        }
      }
    });
    sock.on("close", () => finish({ err: new AdbExecError(`the shell stream on ${serial} closed without an exit status`) }));
    sendStdin(sock, opts.stdin);
    sock.resume();
  });
}
