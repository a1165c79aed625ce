/**
 * Child processes for integration tests: output captured line by line into memory (and echoed to
 * stderr with CLOUDPHONE_TEST_VERBOSE=1), JSON log lines matched while waiting for readiness, and a
 * registry so that nothing outlives the test file (afterAll) or the worker process (exit hook).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

const verbose = process.env.CLOUDPHONE_TEST_VERBOSE === "1";
const live = new Set<ChildProcess>();

export type LogRecord = Record<string, unknown>;

export interface SpawnSpec {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running child with its captured output. */
export class ManagedChild {
  readonly proc: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  private readonly lines: string[];
  private readonly lineListeners = new Set<(line: string) => void>();

  constructor(spec: SpawnSpec, sharedLines: string[]) {
    this.lines = sharedLines;
    this.proc = spawn(spec.command, spec.args, { env: spec.env, cwd: spec.cwd, stdio: ["ignore", "pipe", "pipe"] });
    live.add(this.proc);
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => this.onLine(spec.name, line));
    }
    this.exited = new Promise((resolve) => {
      this.proc.once("exit", (code, signal) => {
        live.delete(this.proc);
        resolve({ code, signal });
      });
      this.proc.once("error", (error) => {
        this.onLine(spec.name, `spawn error: ${error.message}`);
        live.delete(this.proc);
        resolve({ code: null, signal: null });
      });
    });
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /**
   * Resolves with the first JSON log line (written after this call or already captured since `fromLine`)
   * that `match` accepts. Rejects when the child exits or the timeout passes, quoting its output.
   */
  waitForLog(match: (record: LogRecord) => boolean, what: string, timeoutMs: number, fromLine = 0): Promise<LogRecord> {
    return new Promise((resolve, reject) => {
      const finish = (outcome: () => void): void => {
        clearTimeout(timer);
        this.lineListeners.delete(onLine);
        outcome();
      };
      const onLine = (line: string): void => {
        const record = parseJsonLine(line);
        if (record && match(record)) finish(() => resolve(record));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`))),
        timeoutMs,
      );
      for (const line of this.lines.slice(fromLine)) {
        const record = parseJsonLine(line);
        if (record && match(record)) return finish(() => resolve(record));
      }
      this.lineListeners.add(onLine);
      void this.exited.then((exit) =>
        finish(() =>
          reject(new Error(`process exited (code ${exit.code}, signal ${exit.signal}) before ${what}\n${this.tail()}`)),
        ),
      );
    });
  }

  /** Sends `signal` and resolves when the child has exited. */
  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<ExitInfo> {
    if (this.running) this.proc.kill(signal);
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<ExitInfo> {
    if (!this.running) return this.exited;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  private onLine(name: string, line: string): void {
    this.lines.push(line);
    if (verbose) process.stderr.write(`[${name}] ${line}\n`);
    for (const listener of this.lineListeners) listener(line);
  }

  private tail(): string {
    return `--- last output ---\n${this.lines.slice(-60).join("\n")}`;
  }
}

export function parseJsonLine(line: string): LogRecord | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null ? (value as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** Kills every child still running (SIGKILL); synchronous so it also works in an exit hook. */
export function killAllChildren(): void {
  for (const proc of live) {
    try {
      proc.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

process.once("exit", killAllChildren);
