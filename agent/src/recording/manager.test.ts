// The manager's host-side duties with a real SQLite store and data dir, no device (adb disabled): start-up recovery,
// orphan files, retention, lookups. Sessions on a real device are covered by test/recording.test.ts.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EventMessage } from "@cloudphone/shared-protocol";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeStore, type TestStore } from "../test-support/fixtures.js";
import { RecordingManager } from "./manager.js";
import { RecordingStore } from "./store.js";

let t: TestStore;
let rows: RecordingStore;
beforeEach(() => {
  t = makeStore("host-1");
  rows = new RecordingStore(t.db, t.outbox, "host-1");
});
afterEach(() => t.cleanup());

const DAY = 86_400_000;
const manager = (retentionDays = 7) =>
  new RecordingManager({ db: t.db, outbox: t.outbox, repo: t.repo, hostId: "host-1", adb: null, dataDir: t.dir, retentionDays, log: pino({ level: "silent" }), now: () => t.clock.now });

function completed(id: string, endedAt: number): void {
  rows.start({ id, deviceId: "dev-1", startedAt: endedAt - 1000, maxDurationMs: 5000, bitRate: null });
  rows.end(id, { status: "completed", endedAt, bytes: 3, reason: "stopped", deviceCleanup: false });
}

describe("RecordingManager (host side)", () => {
  it("on start fails interrupted sessions (agent_restarted, device cleanup queued) and deletes files no completed row names", () => {
    const dir = join(t.dir, "recordings");
    mkdirSync(dir, { recursive: true });
    completed("rec_done0001", t.clock.now);
    rows.start({ id: "rec_live0001", deviceId: "dev-2", startedAt: t.clock.now - 500, maxDurationMs: 5000, bitRate: null });
    for (const f of ["rec_done0001.mp4", "rec_live0001.mp4.part", "rec_live0001.mp4", "rec_gone0001.mp4"]) writeFileSync(join(dir, f), "x");

    expect(manager().recover()).toBe(1);
    expect(rows.get("rec_live0001")).toMatchObject({ status: "failed", reason: "agent_restarted", deviceCleanup: true, bytes: null });
    expect(readdirSync(dir)).toEqual(["rec_done0001.mp4"]);
    const last = EventMessage.parse(JSON.parse(t.outbox.nextBatch(100).at(-1)!.payload));
    expect(last).toMatchObject({ name: "recording.failed", deviceId: "dev-2", data: { recordingId: "rec_live0001", reason: "agent_restarted", durationMs: 500 } });
    // A second start finds nothing more to do.
    expect(manager().recover()).toBe(0);
  });

  it("sweeps recordings older than the retention, file and row", () => {
    const m = manager(7);
    m.recover();
    completed("rec_old00001", t.clock.now - 8 * DAY);
    completed("rec_new00001", t.clock.now - 6 * DAY);
    writeFileSync(join(m.dir, "rec_old00001.mp4"), "x");
    writeFileSync(join(m.dir, "rec_new00001.mp4"), "x");
    expect(m.sweep()).toBe(1);
    expect(rows.get("rec_old00001")).toBeNull();
    expect(existsSync(join(m.dir, "rec_old00001.mp4"))).toBe(false);
    expect(m.file("dev-1", "rec_new00001")).toEqual({ path: join(m.dir, "rec_new00001.mp4"), size: 1 });
  });

  it("answers not_found for unknown, other devices' and unfinished recordings, device_not_ready without adb", async () => {
    const m = manager();
    m.recover();
    completed("rec_done0001", t.clock.now);
    expect(() => m.file("dev-1", "rec_nope0001")).toThrow(expect.objectContaining({ code: "not_found" }));
    expect(() => m.file("dev-9", "rec_done0001")).toThrow(expect.objectContaining({ code: "not_found" }));
    expect(() => m.file("dev-1", "rec_done0001")).toThrow(/gone/); // row kept, file missing
    await expect(m.stop("dev-1", "rec_nope0001")).rejects.toMatchObject({ code: "not_found" });
    await expect(m.stop("dev-1", "rec_done0001")).resolves.toMatchObject({ status: "completed" }); // idempotent
    await expect(m.start("dev-1", { maxDurationMs: 5000 })).rejects.toMatchObject({ code: "device_not_ready" });
    expect(m.list("dev-1").map((r) => r.id)).toEqual(["rec_done0001"]);
  });
});
