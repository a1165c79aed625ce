import { describe, expect, it } from "vitest";
import { lastRun, meterOnObservation, meterOnTick, splitInterval, type ObservationInput } from "./intervals.js";

const T = 1_700_000_000_000;
const base: ObservationInput = { openFrom: null, running: true, prevStateSince: T, times: {}, now: T + 1000 };
const obs = (p: Partial<ObservationInput>): ObservationInput => ({ ...base, ...p });

describe("lastRun", () => {
  it("tells a running container from a stopped one by StartedAt vs FinishedAt", () => {
    expect(lastRun({ startedAt: T, finishedAt: null })).toMatchObject({ runningSince: T, stoppedAt: null });
    expect(lastRun({ startedAt: T + 10, finishedAt: T })).toMatchObject({ runningSince: T + 10, stoppedAt: null }); // previous run's exit
    expect(lastRun({ startedAt: T, finishedAt: T + 10 })).toMatchObject({ runningSince: null, stoppedAt: T + 10 });
    expect(lastRun({ startedAt: T, finishedAt: T })).toMatchObject({ runningSince: null, stoppedAt: T }); // died within its first ms
    expect(lastRun({ startedAt: null, finishedAt: T })).toMatchObject({ runningSince: null, stoppedAt: T });
    expect(lastRun({})).toEqual({ runningSince: null, stoppedAt: null, startedAt: null, finishedAt: null });
    expect(lastRun({ startedAt: 0, finishedAt: -5 })).toEqual({ runningSince: null, stoppedAt: null, startedAt: null, finishedAt: null });
  });
});

describe("splitInterval", () => {
  it("cuts into consecutive pieces of at most the span, covering exactly [from, to)", () => {
    expect(splitInterval(0, 2500, 1000)).toEqual([
      { from: 0, to: 1000 },
      { from: 1000, to: 2000 },
      { from: 2000, to: 2500 },
    ]);
    expect(splitInterval(0, 1000, 1000)).toEqual([{ from: 0, to: 1000 }]);
    expect(splitInterval(5, 6, 1000)).toEqual([{ from: 5, to: 6 }]);
  });
  it("emits nothing for an empty or inverted interval", () => {
    expect(splitInterval(10, 10, 1000)).toEqual([]);
    expect(splitInterval(10, 9, 1000)).toEqual([]);
  });
  it("caps the number of pieces by making them longer (a clock jump of years)", () => {
    const pieces = splitInterval(0, 1_000_000_000, 1000, 100);
    expect(pieces).toHaveLength(100);
    expect(pieces[0]).toEqual({ from: 0, to: 10_000_000 });
    expect(pieces.at(-1)!.to).toBe(1_000_000_000);
  });
});

describe("meterOnObservation: entering running", () => {
  it("opens where Docker says the run started, if that lies between the previous state and now", () => {
    expect(meterOnObservation(obs({ times: { startedAt: T + 200, finishedAt: null } }))).toEqual({ closed: null, openFrom: T + 200 });
  });
  it("opens at now when the start time is unknown, older than the previous state, or in the future", () => {
    expect(meterOnObservation(obs({}))).toEqual({ closed: null, openFrom: T + 1000 });
    expect(meterOnObservation(obs({ times: { startedAt: T - 1 } }))).toEqual({ closed: null, openFrom: T + 1000 });
    expect(meterOnObservation(obs({ times: { startedAt: T + 5000 } }))).toEqual({ closed: null, openFrom: T + 1000 });
  });
  it("opens at now when Docker's times say the latest run already ended", () => {
    expect(meterOnObservation(obs({ times: { startedAt: T + 100, finishedAt: T + 200 } }))).toEqual({ closed: null, openFrom: T + 1000 });
  });
});

describe("meterOnObservation: staying running", () => {
  it("keeps the meter when the container is the same run", () => {
    const i = obs({ openFrom: T + 500, times: { startedAt: T + 100, finishedAt: null } });
    expect(meterOnObservation(i)).toEqual({ closed: null, openFrom: T + 500 });
    expect(meterOnObservation(obs({ openFrom: T + 500 }))).toEqual({ closed: null, openFrom: T + 500 });
  });
  it("restarted during agent downtime: closes at the old run's exit and reopens at the new start (gap not charged)", () => {
    const i = obs({ openFrom: T, now: T + 60_000, times: { startedAt: T + 30_000, finishedAt: T + 20_000 } });
    expect(meterOnObservation(i)).toEqual({ closed: { from: T, to: T + 20_000 }, openFrom: T + 30_000 });
  });
  it("restarted, exit time unknown or before the meter: closes at the new start", () => {
    expect(meterOnObservation(obs({ openFrom: T, now: T + 60_000, times: { startedAt: T + 30_000 } }))).toEqual({
      closed: { from: T, to: T + 30_000 },
      openFrom: T + 30_000,
    });
    expect(meterOnObservation(obs({ openFrom: T, now: T + 60_000, times: { startedAt: T + 30_000, finishedAt: T - 5 } }))).toEqual({
      closed: { from: T, to: T + 30_000 },
      openFrom: T + 30_000,
    });
  });
  it("ignores a start time in the future (clock oddity)", () => {
    expect(meterOnObservation(obs({ openFrom: T, now: T + 1000, times: { startedAt: T + 2000 } }))).toEqual({ closed: null, openFrom: T });
  });
});

describe("meterOnObservation: leaving running", () => {
  it("closes where the container stopped", () => {
    const i = obs({ running: false, openFrom: T, now: T + 5000, times: { startedAt: T - 100, finishedAt: T + 3000 } });
    expect(meterOnObservation(i)).toEqual({ closed: { from: T, to: T + 3000 }, openFrom: null });
  });
  it("closes at now when the container still runs (broken while alive) or nothing is known", () => {
    const alive = obs({ running: false, openFrom: T, now: T + 5000, times: { startedAt: T - 100, finishedAt: T - 200 } });
    expect(meterOnObservation(alive)).toEqual({ closed: { from: T, to: T + 5000 }, openFrom: null });
    expect(meterOnObservation(obs({ running: false, openFrom: T, now: T + 5000 }))).toEqual({ closed: { from: T, to: T + 5000 }, openFrom: null });
  });
  it("never reports beyond now, and nothing when the container stopped before the meter opened", () => {
    const future = obs({ running: false, openFrom: T, now: T + 5000, times: { startedAt: T - 100, finishedAt: T + 9000 } });
    expect(meterOnObservation(future)).toEqual({ closed: { from: T, to: T + 5000 }, openFrom: null });
    const before = obs({ running: false, openFrom: T, now: T + 5000, times: { startedAt: T - 100, finishedAt: T - 50 } });
    expect(meterOnObservation(before)).toEqual({ closed: null, openFrom: null });
  });
  it("zero length or a clock that went backwards: nothing reported, meter closed", () => {
    expect(meterOnObservation(obs({ running: false, openFrom: T, now: T }))).toEqual({ closed: null, openFrom: null });
    expect(meterOnObservation(obs({ running: false, openFrom: T, now: T - 1000 }))).toEqual({ closed: null, openFrom: null });
  });
  it("does nothing when no meter is open", () => {
    expect(meterOnObservation(obs({ running: false, openFrom: null, times: { finishedAt: T } }))).toEqual({ closed: null, openFrom: null });
  });
});

describe("meterOnTick", () => {
  it("reports up to the last confirmation and continues from there", () => {
    expect(meterOnTick(T, T + 800, T + 1000)).toEqual({ closed: { from: T, to: T + 800 }, openFrom: T + 800 });
  });
  it("never beyond now", () => {
    expect(meterOnTick(T, T + 5000, T + 1000)).toEqual({ closed: { from: T, to: T + 1000 }, openFrom: T + 1000 });
  });
  it("nothing without a confirmation since the meter opened, or when the clock went backwards", () => {
    expect(meterOnTick(T, null, T + 1000)).toEqual({ closed: null, openFrom: T });
    expect(meterOnTick(T, T, T + 1000)).toEqual({ closed: null, openFrom: T });
    expect(meterOnTick(T, T - 10, T + 1000)).toEqual({ closed: null, openFrom: T });
    expect(meterOnTick(T, T + 500, T - 1000)).toEqual({ closed: null, openFrom: T });
  });
});
