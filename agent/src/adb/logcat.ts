import type { LogcatFilter } from "@cloudphone/shared-protocol";

/**
 * Live logcat (issue 4: A1), the pure parts: the device command line for a `LogcatFilter`, splitting the output into
 * whole lines with the agent-side `contains` filter, and the drop gate that keeps a slow viewer from making the
 * agent buffer without bound. The socket plumbing is in `logcat-session.ts`.
 */

/**
 * `logcat -v threadtime [-b BUF]… [-d] *:P SPEC…`. The default priority comes first so that an explicit `*:X` in
 * the specs (e.g. `*:S` to see only the named tags) overrides it: logcat applies filter specs in order.
 */
export function logcatArgv(filter: LogcatFilter): string[] {
  const argv = ["logcat", "-v", "threadtime"];
  for (const b of filter.buffers) argv.push("-b", b);
  if (filter.dump) argv.push("-d");
  argv.push(`*:${filter.priority}`, ...filter.specs);
  return argv;
}

/** A line longer than this is cut and emitted as it is (one bad writer must not grow the agent's memory). */
export const MAX_LINE_BYTES = 16 * 1024;

/** Splits a byte stream into lines (without `\n` / `\r\n`) across arbitrary chunk boundaries, keeping those that contain `contains`. */
export class LineSplitter {
  private partial = "";
  private readonly decoder = new TextDecoder("utf-8");

  constructor(private readonly contains?: string) {}

  push(chunk: Buffer): string[] {
    const text = this.partial + this.decoder.decode(chunk, { stream: true });
    const parts = text.split("\n");
    this.partial = parts.pop() ?? "";
    if (this.partial.length > MAX_LINE_BYTES) {
      parts.push(this.partial.slice(0, MAX_LINE_BYTES));
      this.partial = "";
    }
    return this.keep(parts);
  }

  /** The unterminated rest at the end of the stream, if any (as a line). */
  end(): string[] {
    const rest = this.partial + this.decoder.decode();
    this.partial = "";
    return rest === "" ? [] : this.keep([rest]);
  }

  private keep(lines: string[]): string[] {
    const out: string[] = [];
    for (let line of lines) {
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") continue;
      if (this.contains !== undefined && this.contains !== "" && !line.includes(this.contains)) continue;
      out.push(line);
    }
    return out;
  }
}

/** A text frame with whole lines, each ending in `\n` (log lines never start with `{`, control messages always do). */
export function linesFrame(lines: readonly string[]): string {
  return `${lines.join("\n")}\n`;
}

export function droppedFrame(lines: number): string {
  return JSON.stringify({ type: "dropped", lines });
}

/**
 * Drops lines while the socket holds `limitBytes` or more unsent, and tells the viewer how many once it has room
 * again: `{"type":"dropped","lines":n}` goes out before the next lines (or as soon as the socket drains).
 */
export class DropGate {
  private droppedLines = 0;

  constructor(private readonly limitBytes: number) {}

  /** The frames to send now for `lines`, given the bytes the socket has queued. */
  offer(lines: readonly string[], queuedBytes: number): string[] {
    if (lines.length === 0) return [];
    if (queuedBytes >= this.limitBytes) {
      this.droppedLines += lines.length;
      return [];
    }
    const notice = this.takeNotice();
    return notice ? [notice, linesFrame(lines)] : [linesFrame(lines)];
  }

  /** After the socket flushed some data: the notice for lines dropped so far, if there is room for it. */
  drained(queuedBytes: number): string | null {
    return queuedBytes < this.limitBytes ? this.takeNotice() : null;
  }

  get dropped(): number {
    return this.droppedLines;
  }

  private takeNotice(): string | null {
    if (this.droppedLines === 0) return null;
    const n = this.droppedLines;
    this.droppedLines = 0;
    return droppedFrame(n);
  }
}
