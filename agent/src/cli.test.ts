import { describe, expect, it } from "vitest";
import { UsageError, parseArgs } from "./cli.js";

describe("parseArgs", () => {
  it("parses enroll and run", () => {
    expect(parseArgs(["enroll", "--config", "/c.json", "--token", "t1"])).toEqual({ command: "enroll", config: "/c.json", token: "t1" });
    expect(parseArgs(["run", "--config=/c.json"])).toEqual({ command: "run", config: "/c.json" });
    expect(parseArgs(["run", "--config", "/c.json", "--token", "t"])).toEqual({ command: "run", config: "/c.json", token: "t" });
  });
  it("rejects unknown flags and commands, and missing values", () => {
    expect(() => parseArgs(["run", "--config", "/c", "--verbose"])).toThrow(/unknown flag "--verbose"/);
    expect(() => parseArgs(["frobnicate"])).toThrow(UsageError);
    expect(() => parseArgs(["enroll", "--config", "/c"])).toThrow(/--token/);
    expect(() => parseArgs(["run"])).toThrow(/--config/);
    expect(() => parseArgs(["run", "--config"])).toThrow(/needs a value/);
  });
});
