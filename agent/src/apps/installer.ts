import { createReadStream, statSync } from "node:fs";
import type { Socket } from "node:net";
import { SHELL_V2, SHELL_V2_MAX_STDIN_CHUNK, ShellV2Decoder, commandLine, encodeShellPacket, shellV2Service } from "../adb/protocol.js";
import { openDeviceService, type AdbServerAddress } from "../adb/smart-socket.js";
import { AdbExecError, type ExecResult } from "../adb/exec.js";

/**
 * Installs and uninstalls packages on a device through its package manager. An install streams the APK into
 * `pm install -r -S <size>` on stdin (shell protocol v2, the way `adb install` does on devices with the `cmd`
 * feature), so nothing is left on the device's storage; exit status and output decide the outcome.
 */

export interface PmResult {
  ok: boolean;
  exitCode: number | null;
  /** stdout and stderr, trimmed (e.g. `Success` or `Failure [INSTALL_PARSE_FAILED_NOT_APK: …]`). */
  output: string;
  timedOut: boolean;
}

/** What the worker needs from the device; `exec` is the adb client's, the rest is this module's. */
export interface PackageManager {
  install(serial: string, apkPath: string, timeoutMs: number): Promise<PmResult>;
  uninstall(serial: string, packageName: string, timeoutMs: number): Promise<PmResult>;
  versionCode(serial: string, packageName: string, timeoutMs: number): Promise<number | undefined>;
}

type Exec = (serial: string, cmd: string | readonly string[], opts: { timeoutMs: number; maxOutputBytes?: number }) => Promise<ExecResult>;

const MAX_OUTPUT = 64 * 1024;

function toResult(r: { exitCode: number | null; stdout: Buffer; stderr: Buffer; timedOut: boolean }): PmResult {
  const output = `${r.stdout.toString("utf8")}\n${r.stderr.toString("utf8")}`.trim().slice(0, 1900);
  // Android's pm answers "Success" on stdout; some builds exit 0 after printing a Failure line.
  const ok = r.exitCode === 0 && /(^|\n)Success\s*$/m.test(r.stdout.toString("utf8")) && !/Failure \[/.test(output);
  return { ok, exitCode: r.exitCode, output, timedOut: r.timedOut };
}

export class AdbPackageManager implements PackageManager {
  constructor(
    private readonly server: AdbServerAddress,
    private readonly exec: Exec,
  ) {}

  async install(serial: string, apkPath: string, timeoutMs: number): Promise<PmResult> {
    const size = statSync(apkPath).size;
    const r = await streamToCommand(this.server, serial, ["pm", "install", "-r", "-S", String(size)], apkPath, timeoutMs);
    return toResult(r);
  }

  async uninstall(serial: string, packageName: string, timeoutMs: number): Promise<PmResult> {
    return toResult(await this.exec(serial, ["pm", "uninstall", packageName], { timeoutMs, maxOutputBytes: MAX_OUTPUT }));
  }

  /** The installed versionCode, when the device's `pm list packages --show-versioncode` tells it. */
  async versionCode(serial: string, packageName: string, timeoutMs: number): Promise<number | undefined> {
    const r = await this.exec(serial, ["pm", "list", "packages", "--show-versioncode", packageName], { timeoutMs, maxOutputBytes: MAX_OUTPUT });
    if (r.exitCode !== 0) return undefined;
    for (const line of r.stdout.toString("utf8").split("\n")) {
      const m = /^package:(\S+) versionCode:(\d+)/.exec(line.trim());
      if (m && m[1] === packageName) return Number(m[2]);
    }
    return undefined;
  }
}

/**
 * Runs `cmd` with shell protocol v2 and streams the file at `path` to its stdin with back-pressure (the socket's
 * `drain`), then closes stdin and collects the exit status and output. The timeout covers the whole run.
 */
export async function streamToCommand(
  server: AdbServerAddress,
  serial: string,
  cmd: readonly string[],
  path: string,
  timeoutMs: number,
): Promise<{ exitCode: number | null; stdout: Buffer; stderr: Buffer; timedOut: boolean }> {
  const deadline = Date.now() + timeoutMs;
  const sock = await openDeviceService(server, serial, shellV2Service(commandLine(cmd)), timeoutMs);
  return new Promise((resolve, reject) => {
    const decoder = new ShellV2Decoder();
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let kept = 0;
    let settled = false;
    const file = createReadStream(path, { highWaterMark: SHELL_V2_MAX_STDIN_CHUNK });
    const finish = (outcome: { exitCode: number | null; timedOut: boolean } | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      file.destroy();
      sock.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve({ ...outcome, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) });
    };
    const timer = setTimeout(() => finish({ exitCode: null, timedOut: true }), Math.max(0, deadline - Date.now()));
    const keep = (into: Buffer[], data: Buffer) => {
      if (kept >= MAX_OUTPUT) return;
      into.push(data.subarray(0, MAX_OUTPUT - kept));
      kept += Math.min(data.length, MAX_OUTPUT - kept);
    };
    sock.on("data", (chunk: Buffer) => {
      let packets;
      try {
        packets = decoder.push(chunk);
      } catch (e) {
        finish(new AdbExecError((e as Error).message));
        return;
      }
      for (const p of packets) {
        if (p.id === SHELL_V2.stdout) keep(stdout, p.data);
        else if (p.id === SHELL_V2.stderr) keep(stderr, p.data);
        else if (p.id === SHELL_V2.exit) {
          finish(p.data.length === 0 ? new AdbExecError(`exit packet without a status from ${serial}`) : { exitCode: p.data.readUInt8(0), timedOut: false });
          return;
        }
      }
    });
    sock.on("close", () => finish(new AdbExecError(`the shell stream on ${serial} closed without an exit status`)));
    sock.on("error", (e) => finish(new AdbExecError(e.message)));
    file.on("error", (e) => finish(e));
    pumpFile(file, sock, () => {
      if (!settled) sock.write(encodeShellPacket(SHELL_V2.closeStdin));
    });
    sock.resume();
  });
}

function pumpFile(file: NodeJS.ReadableStream, sock: Socket, done: () => void): void {
  file.on("data", (chunk: Buffer | string) => {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    let more = true;
    for (let off = 0; off < buf.length; off += SHELL_V2_MAX_STDIN_CHUNK) {
      more = sock.write(encodeShellPacket(SHELL_V2.stdin, buf.subarray(off, off + SHELL_V2_MAX_STDIN_CHUNK))) && more;
    }
    if (!more) {
      file.pause();
      sock.once("drain", () => file.resume());
    }
  });
  file.on("end", done);
}
