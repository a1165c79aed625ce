import { Writable } from "node:stream";
import { UsageMessage } from "@cloudphone/shared-protocol";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DeviceRepo } from "../devices/repo.js";
import { observe, type ObserveContext } from "../devices/observe.js";
import { Outbox } from "../outbox/outbox.js";
import { openDatabase, type Db } from "../store/db.js";
import { SPEC, makeStore, type TestStore } from "../test-support/fixtures.js";
import { Meter } from "./meter.js";
import { MeterTicker } from "./ticker.js";

const INTERVAL = 1000;
let s: TestStore;
let ctx: ObserveContext;
let meter: Meter;
let extraDbs: Db[] = [];

beforeEach(() => {
  s = makeStore();
  meter = new Meter(s.db, s.outbox, "host-1", { maxRecordMs: INTERVAL });
  ctx = { ...s.ctx, meter };
  s.repo.insert("d1", SPEC, "u1", "running", 1, s.clock.now);
});
afterEach(() => {
  for (const db of extraDbs) db.close();
  extraDbs = [];
  s.cleanup();
});

function usage(db: Db = s.db): UsageMessage[] {
  const rows = db.prepare("SELECT payload FROM outbox WHERE topic = 'cloudphone/v1/hosts/host-1/usage' ORDER BY seq").pluck().all() as string[];
  return rows.map((p) => UsageMessage.parse(JSON.parse(p)));
}
const total = (u: UsageMessage[]) => u.reduce((a, r) => a + (r.to - r.from), 0);
/** Records of one device are contiguous or separated, never overlapping, each within the interval. */
function expectWellFormed(u: UsageMessage[]): void {
  for (let i = 0; i < u.length; i++) {
    expect(u[i]!.to - u[i]!.from).toBeGreaterThan(0);
    expect(u[i]!.to - u[i]!.from).toBeLessThanOrEqual(INTERVAL);
    if (i > 0) expect(u[i]!.from).toBeGreaterThanOrEqual(u[i - 1]!.to);
  }
  expect(new Set(u.map((r) => r.recordId)).size).toBe(u.length);
}
function meterRow(db: Db = s.db): number | undefined {
  return db.prepare("SELECT open_from FROM meter WHERE device_id = 'd1'").pluck().get() as number | undefined;
}

/** starting (recorded at t0) → running with Docker's StartedAt t0+50, observed at t0+100. */
function startRunning(): number {
  const t0 = s.clock.now;
  observe(ctx, "d1", { state: "starting", event: null });
  s.clock.now = t0 + 100;
  observe(ctx, "d1", { state: "running", event: "device.started", startedAt: t0 + 50, finishedAt: null });
  return t0 + 50;
}

describe("observe() with the meter", () => {
  it("opens at Docker's start, reports up to confirmations on ticks, closes at Docker's exit", () => {
    const started = startRunning();
    expect(meterRow()).toBe(started);
    expect(usage()).toEqual([]);

    s.clock.now = started + 2500;
    observe(ctx, "d1", { state: "running", event: null, startedAt: started, finishedAt: null }); // periodic reconcile
    s.clock.now = started + 2600;
    expect(meter.tick(s.clock.now)).toBe(3); // [s, s+2500) split by the interval
    expect(meterRow()).toBe(started + 2500);

    s.clock.now = started + 4000;
    const r = observe(ctx, "d1", { state: "error", event: "device.error", exitCode: 137, startedAt: started, finishedAt: started + 3200 });
    expect(r.usage).toBe(1);
    expect(meterRow()).toBeUndefined();
    const u = usage();
    expectWellFormed(u);
    expect(u[0]!.from).toBe(started);
    expect(u.at(-1)!.to).toBe(started + 3200);
    expect(total(u)).toBe(3200);
    expect(u.every((x) => x.deviceId === "d1" && x.hostId === "host-1")).toBe(true);
  });

  it("writes usage in the same transaction as the state change: a rollback leaves neither", () => {
    const started = startRunning();
    s.clock.now = started + 5000;
    expect(() =>
      s.db.transaction(() => {
        observe(ctx, "d1", { state: "stopped", event: "device.stopped", startedAt: started, finishedAt: started + 4000 });
        throw new Error("crash");
      })(),
    ).toThrow("crash");
    expect(s.repo.get("d1")!.state).toBe("running");
    expect(meterRow()).toBe(started);
    expect(usage()).toEqual([]);
  });

  it("does not meter broken devices: error while alive closes at now, recovery reopens at the new start", () => {
    const started = startRunning();
    s.clock.now = started + 700;
    observe(ctx, "d1", { state: "error", event: "device.error", startedAt: started, finishedAt: null });
    s.clock.now = started + 5000;
    observe(ctx, "d1", { state: "restarting", event: null, recoveryAttempts: 1 });
    expect(meter.tick(s.clock.now)).toBe(0);
    s.clock.now = started + 6000;
    observe(ctx, "d1", { state: "running", event: "device.recovered", startedAt: started + 5500, finishedAt: started + 5200 });
    expect(meterRow()).toBe(started + 5500);
    s.clock.now = started + 6500;
    observe(ctx, "d1", { state: "deleting", event: null });
    const u = usage();
    expectWellFormed(u);
    expect(u.map((x) => [x.from - started, x.to - started])).toEqual([
      [0, 700],
      [5500, 6500],
    ]);
  });

  it("splits a container restart behind the agent's back: old run ends at its exit, the gap is not charged", () => {
    const started = startRunning();
    s.clock.now = started + 10_000;
    const r = observe(ctx, "d1", { state: "running", event: null, startedAt: started + 6000, finishedAt: started + 4000 });
    expect(r).toMatchObject({ changed: true, stateChanged: false, usage: 4 });
    expect(meterRow()).toBe(started + 6000);
    expect(total(usage())).toBe(4000);
  });

  it("opens a meter for a device recorded running before metering existed (first observation)", () => {
    s.db.prepare("UPDATE devices SET state = 'running', state_since = ? WHERE id = 'd1'").run(s.clock.now);
    s.clock.now += 300;
    const r = observe(ctx, "d1", { state: "running", event: null, startedAt: s.clock.now - 1000, finishedAt: null });
    expect(r.changed).toBe(false);
    expect(meterRow()).toBe(s.clock.now);
  });

  it("meters nothing without a meter in the context", () => {
    const r = observe(s.ctx, "d1", { state: "running", event: "device.started", startedAt: s.clock.now });
    expect(r.usage).toBe(0);
    expect(meterRow()).toBeUndefined();
  });
});

describe("agent restart (kill -9) with open meters", () => {
  /** Simulates kill -9: the process's memory is gone, the database stays; a new process opens it. */
  function restart(): { ctx: ObserveContext; meter: Meter; db: Db } {
    const db = openDatabase({ dataDir: s.dir, synchronous: "NORMAL" });
    extraDbs.push(db);
    const outbox = new Outbox(db, { maxBackoffMs: 30_000, retentionDays: 7, now: () => s.clock.now });
    const m = new Meter(db, outbox, "host-1", { maxRecordMs: INTERVAL });
    return { db, meter: m, ctx: { db, repo: new DeviceRepo(db), outbox, hostId: "host-1", meter: m, now: () => s.clock.now } };
  }

  it("continues from the persisted start once an observation confirms the device still runs", () => {
    const started = startRunning();
    s.clock.now = started + 1500;
    observe(ctx, "d1", { state: "running", event: null, startedAt: started, finishedAt: null });
    meter.tick(s.clock.now); // [s, s+1500)
    // down for 7 s
    s.clock.now = started + 8500;
    const b = restart();
    expect(b.meter.tick(s.clock.now)).toBe(0); // nobody has seen the device since the restart: nothing charged yet
    observe(b.ctx, "d1", { state: "running", event: null, startedAt: started, finishedAt: null });
    s.clock.now = started + 9000;
    expect(b.meter.tick(s.clock.now)).toBe(7); // [s+1500, s+8500) in pieces of at most the interval
    const u = usage(b.db);
    expectWellFormed(u);
    expect(u[0]!.from).toBe(started);
    expect(u.at(-1)!.to).toBe(started + 8500);
    expect(total(u)).toBe(8500);
  });

  it("ends the usage where Docker says the container stopped while the agent was down", () => {
    const started = startRunning();
    s.clock.now = started + 1200;
    observe(ctx, "d1", { state: "running", event: null, startedAt: started, finishedAt: null });
    meter.tick(s.clock.now);
    s.clock.now = started + 20_000;
    const b = restart();
    observe(b.ctx, "d1", { state: "error", event: "device.error", startedAt: started, finishedAt: started + 3000 });
    const u = usage(b.db);
    expectWellFormed(u);
    expect(total(u)).toBe(3000);
    expect(meterRow(b.db)).toBeUndefined();
  });
});

describe("MeterTicker", () => {
  it("kicks the pump only when it enqueued records, and survives a failing tick", () => {
    const lines: string[] = [];
    const log = pino({ level: "error" }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    let kicks = 0;
    const ticker = new MeterTicker(meter, { intervalMs: INTERVAL, onRecorded: () => kicks++, log, now: () => s.clock.now });
    const started = startRunning(); // confirmed running 50 ms after its start
    expect(ticker.tickOnce()).toBe(1);
    expect(kicks).toBe(1);
    s.clock.now = started + 800;
    expect(ticker.tickOnce()).toBe(0); // not confirmed since: nothing, no kick
    expect(kicks).toBe(1);
    expect(meterRow()).toBe(started + 50);

    s.db.exec("DROP TABLE meter"); // the next tick's statement fails
    expect(ticker.tickOnce()).toBe(0);
    expect(lines.join("")).toContain("metering tick failed");
  });
});
