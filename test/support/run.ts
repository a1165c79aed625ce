// Runs a command to completion for integration tests (adb, ffmpeg, ffprobe), never throwing on a non-zero exit.
import { spawn } from "node:child_process";

export interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a command to completion (never throws on a non-zero exit), optionally feeding stdin. */
export function run(cmd: string, args: string[], options: { timeoutMs?: number; input?: Buffer | string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on("error", () => undefined); // the command may exit before reading its input
    child.stdin.end(options.input ?? "");
  });
}
