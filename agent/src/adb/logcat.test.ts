import { LogcatFilter } from "@cloudphone/shared-protocol";
import { describe, expect, it } from "vitest";
import { DropGate, LineSplitter, MAX_LINE_BYTES, logcatArgv } from "./logcat.js";
import { commandLine } from "./protocol.js";

const filter = (f: Partial<LogcatFilter>) => LogcatFilter.parse(f);

describe("logcatArgv", () => {
  it("follows in threadtime format with the default priority when nothing else is asked", () => {
    expect(logcatArgv(filter({}))).toEqual(["logcat", "-v", "threadtime", "*:V"]);
  });

  it("passes buffers, dump, the default priority and then the specs, so that a *:S spec wins", () => {
    const argv = logcatArgv(filter({ buffers: ["main", "crash"], dump: true, priority: "W", specs: ["ActivityManager:I", "*:S"] }));
    expect(argv).toEqual(["logcat", "-v", "threadtime", "-b", "main", "-b", "crash", "-d", "*:W", "ActivityManager:I", "*:S"]);
    // On the device's shell the wildcard specs are quoted, never globbed.
    expect(commandLine(argv)).toBe("logcat -v threadtime -b main -b crash -d '*:W' ActivityManager:I '*:S'");
  });
});

describe("LineSplitter", () => {
  it("yields whole lines across arbitrary chunk boundaries, without CR/LF and empty lines", () => {
    const text = "01-01 00:00:00.000  1  1 I A: one\r\n01-01 00:00:00.001  1  1 I B: twö\n\n01-01 00:00:00.002  1  1 I C: three\n";
    const bytes = Buffer.from(text, "utf8");
    for (let cut = 1; cut < bytes.length; cut++) {
      const s = new LineSplitter();
      // Cuts also fall inside the two-byte "ö".
      const lines = [...s.push(bytes.subarray(0, cut)), ...s.push(bytes.subarray(cut)), ...s.end()];
      expect(lines, `cut at ${cut}`).toEqual(["01-01 00:00:00.000  1  1 I A: one", "01-01 00:00:00.001  1  1 I B: twö", "01-01 00:00:00.002  1  1 I C: three"]);
    }
  });

  it("keeps only lines containing `contains` (plain, case-sensitive substring)", () => {
    const s = new LineSplitter("needle");
    expect(s.push(Buffer.from("a needle here\nnothing\nNEEDLE upper\nneedle.*[x]\n"))).toEqual(["a needle here", "needle.*[x]"]);
  });

  it("emits the unterminated rest at the end, and cuts a line that never ends", () => {
    const s = new LineSplitter();
    expect(s.push(Buffer.from("partial"))).toEqual([]);
    expect(s.end()).toEqual(["partial"]);
    const long = new LineSplitter();
    const out = long.push(Buffer.alloc(MAX_LINE_BYTES + 10, "x"));
    expect(out).toHaveLength(1);
    expect(out[0]).toHaveLength(MAX_LINE_BYTES);
  });
});

describe("DropGate", () => {
  const LIMIT = 1000;

  it("sends lines as one text frame of whole lines while the socket has room", () => {
    const g = new DropGate(LIMIT);
    expect(g.offer(["a", "b"], 0)).toEqual(["a\nb\n"]);
    expect(g.offer([], 0)).toEqual([]);
  });

  it("drops lines while the socket holds the limit and reports how many once it has room", () => {
    const g = new DropGate(LIMIT);
    expect(g.offer(["x", "y"], LIMIT)).toEqual([]);
    expect(g.offer(["z"], LIMIT + 5000)).toEqual([]);
    expect(g.dropped).toBe(3);
    expect(g.drained(LIMIT)).toBeNull(); // still full
    expect(g.offer(["next"], 10)).toEqual(['{"type":"dropped","lines":3}', "next\n"]);
    expect(g.dropped).toBe(0);
  });

  it("reports dropped lines as soon as the socket drains, even with no new line", () => {
    const g = new DropGate(LIMIT);
    g.offer(["x"], LIMIT);
    expect(g.drained(LIMIT - 1)).toBe('{"type":"dropped","lines":1}');
    expect(g.drained(0)).toBeNull(); // told once
  });
});
