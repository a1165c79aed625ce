import { describe, expect, it } from "vitest";
import {
  deviceEndsSession,
  deviceFileOf,
  orphanFiles,
  planEnd,
  processPattern,
  removeFileCommand,
  retentionCutoff,
  screenrecordCommand,
  signalCommand,
  timeLimitSeconds,
} from "./decide.js";

describe("recording decisions", () => {
  it("rounds the time limit up to whole seconds within screenrecord's [1, 180]", () => {
    expect(timeLimitSeconds(1000)).toBe(1);
    expect(timeLimitSeconds(1001)).toBe(2);
    expect(timeLimitSeconds(2000)).toBe(2);
    expect(timeLimitSeconds(180_000)).toBe(180);
    expect(timeLimitSeconds(500_000)).toBe(180);
  });

  it("execs screenrecord with bit rate, time limit and the unique device file", () => {
    expect(screenrecordCommand("rec_123456", 2500, undefined)).toBe(
      "exec screenrecord --bit-rate 4000000 --time-limit 3 /data/local/tmp/cloudphone-rec-rec_123456.mp4",
    );
    expect(screenrecordCommand("rec_123456", 60_000, 2_000_000)).toContain("--bit-rate 2000000 --time-limit 60 ");
    expect(deviceFileOf("abc12345")).toBe("/data/local/tmp/cloudphone-rec-abc12345.mp4");
  });

  it("matches the session's own command line but not the pkill that carries the pattern", () => {
    const re = new RegExp(processPattern("abc12345"));
    expect(re.test(screenrecordCommand("abc12345", 5000, undefined).replace(/^exec /, ""))).toBe(true);
    expect(re.test(`/bin/sh /bin/pkill -INT -f ${processPattern("abc12345")}`)).toBe(false);
    expect(re.test(`/bin/sh -c ${signalCommand("abc12345", "INT")}`)).toBe(false);
    expect(re.test(`/bin/sh -c ${signalCommand("abc12345", "KILL")}; ${removeFileCommand("abc12345")}`)).toBe(true); // why they are two commands
    expect(re.test("screenrecord --time-limit 5 /data/local/tmp/cloudphone-rec-abc123456.mp4")).toBe(false);
    expect(signalCommand("abc12345", "KILL")).toBe("pkill -KILL -f 'screenrecord.*cloudphone-rec-abc12345[.]mp4'");
    expect(removeFileCommand("abc12345")).toBe("rm -f /data/local/tmp/cloudphone-rec-abc12345.mp4");
  });

  it("saves the file on a stop or a clean exit at the time limit, fails otherwise", () => {
    expect(planEnd({ kind: "stop", reason: "stopped" })).toEqual({ save: true, reason: "stopped" });
    expect(planEnd({ kind: "stop", reason: "max_duration" })).toEqual({ save: true, reason: "max_duration" });
    expect(planEnd({ kind: "exited", exitCode: 0, stderr: "" })).toEqual({ save: true, reason: "max_duration" });
    expect(planEnd({ kind: "device_stopped" })).toEqual({ save: false, reason: "device_stopped" });
    expect(planEnd({ kind: "exited", exitCode: 2, stderr: "Invalid bit rate 'x'\n" })).toEqual({
      save: false,
      reason: "screenrecord exited with status 2: Invalid bit rate 'x'",
    });
    expect(planEnd({ kind: "exited", exitCode: null, stderr: "" })).toEqual({ save: false, reason: "the adb stream of screenrecord broke" });
  });

  it("ends sessions of devices that are going away", () => {
    expect(deviceEndsSession(null)).toBe(true);
    expect(deviceEndsSession({ desired: "running", state: "running" })).toBe(false);
    expect(deviceEndsSession({ desired: "running", state: "error" })).toBe(false);
    expect(deviceEndsSession({ desired: "stopped", state: "running" })).toBe(true);
    expect(deviceEndsSession({ desired: "deleted", state: "running" })).toBe(true);
    expect(deviceEndsSession({ desired: "running", state: "restarting" })).toBe(true);
    expect(deviceEndsSession({ desired: "running", state: "stopped" })).toBe(true);
  });

  it("keeps only files that a completed recording names", () => {
    const files = ["a1234567.mp4", "b1234567.mp4", "b1234567.mp4.part", "c1234567.mp4.part", "stray.txt"];
    expect(orphanFiles(files, new Set(["a1234567"]))).toEqual(["b1234567.mp4", "b1234567.mp4.part", "c1234567.mp4.part", "stray.txt"]);
  });

  it("computes the retention cutoff in days", () => {
    expect(retentionCutoff(10 * 86_400_000, 7)).toBe(3 * 86_400_000);
    expect(retentionCutoff(1000, 0)).toBe(1000);
  });
});
