import { EventMessage } from "@cloudphone/shared-protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeStore, type TestStore } from "../test-support/fixtures.js";
import { RecordingStore, viewOf } from "./store.js";

let t: TestStore;
let store: RecordingStore;
beforeEach(() => {
  t = makeStore("host-1");
  store = new RecordingStore(t.db, t.outbox, "host-1");
});
afterEach(() => t.cleanup());

function events(): EventMessage[] {
  return t.outbox.nextBatch(100).map((r) => EventMessage.parse(JSON.parse(r.payload)));
}

describe("RecordingStore", () => {
  it("records a start with its recording.started event in the same commit", () => {
    const row = store.start({ id: "rec_00000001", deviceId: "dev-1", startedAt: 1000, maxDurationMs: 5000, bitRate: null });
    expect(viewOf(row!)).toEqual({ id: "rec_00000001", deviceId: "dev-1", status: "recording", startedAt: 1000, endedAt: null, maxDurationMs: 5000, bytes: null, reason: null });
    const ev = events();
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ name: "recording.started", hostId: "host-1", deviceId: "dev-1", data: { recordingId: "rec_00000001", maxDurationMs: 5000 } });
    expect(t.outbox.nextBatch(10)[0]!.topic).toBe("cloudphone/v1/hosts/host-1/events/recording.started");
  });

  it("refuses a second active session on one device, even bypassing the check (unique index)", () => {
    expect(store.start({ id: "rec_00000001", deviceId: "dev-1", startedAt: 1000, maxDurationMs: 5000, bitRate: null })).not.toBeNull();
    expect(store.start({ id: "rec_00000002", deviceId: "dev-1", startedAt: 1001, maxDurationMs: 5000, bitRate: null })).toBeNull();
    expect(() => t.db.prepare("INSERT INTO recordings (id, device_id, status, started_at, max_duration_ms) VALUES ('x1234567', 'dev-1', 'recording', 1, 1000)").run()).toThrow(/UNIQUE/);
    expect(store.start({ id: "rec_00000003", deviceId: "dev-2", startedAt: 1002, maxDurationMs: 5000, bitRate: null })).not.toBeNull();
    expect(events().map((e) => e.name)).toEqual(["recording.started", "recording.started"]);
  });

  it("ends once: completed with bytes and duration, a second end is a no-op without an event", () => {
    store.start({ id: "rec_00000001", deviceId: "dev-1", startedAt: 1000, maxDurationMs: 5000, bitRate: 2_000_000 });
    const done = store.end("rec_00000001", { status: "completed", endedAt: 3500, bytes: 12345, reason: "stopped", deviceCleanup: false });
    expect(done).toMatchObject({ status: "completed", endedAt: 3500, bytes: 12345, reason: "stopped", bitRate: 2_000_000, deviceCleanup: false });
    const again = store.end("rec_00000001", { status: "failed", endedAt: 9000, bytes: null, reason: "agent_restarted", deviceCleanup: true });
    expect(again).toMatchObject({ status: "completed", reason: "stopped" });
    const ev = events();
    expect(ev.map((e) => e.name)).toEqual(["recording.started", "recording.completed"]);
    expect(ev[1]!.data).toEqual({ recordingId: "rec_00000001", bytes: 12345, durationMs: 2500, reason: "stopped" });
    // A new session may start once the previous one ended.
    expect(store.start({ id: "rec_00000002", deviceId: "dev-1", startedAt: 4000, maxDurationMs: 5000, bitRate: null })).not.toBeNull();
  });

  it("keeps failed sessions with pending device cleanup until marked cleaned, and out of retention until then", () => {
    store.start({ id: "rec_00000001", deviceId: "dev-1", startedAt: 1000, maxDurationMs: 5000, bitRate: null });
    store.end("rec_00000001", { status: "failed", endedAt: 2000, bytes: null, reason: "agent_restarted", deviceCleanup: true });
    expect(events()[1]).toMatchObject({ name: "recording.failed", data: { recordingId: "rec_00000001", reason: "agent_restarted", durationMs: 1000 } });
    expect(store.cleanupPending().map((r) => r.id)).toEqual(["rec_00000001"]);
    expect(store.expired(10_000)).toEqual([]);
    store.markCleanedUp("rec_00000001");
    expect(store.cleanupPending()).toEqual([]);
    expect(store.expired(10_000).map((r) => r.id)).toEqual(["rec_00000001"]);
    expect(store.expired(1500)).toEqual([]);
    store.delete("rec_00000001");
    expect(store.get("rec_00000001")).toBeNull();
  });

  it("lists a device's sessions newest first and knows the completed ids", () => {
    store.start({ id: "rec_00000001", deviceId: "dev-1", startedAt: 1000, maxDurationMs: 5000, bitRate: null });
    store.end("rec_00000001", { status: "completed", endedAt: 2000, bytes: 10, reason: "stopped", deviceCleanup: false });
    store.start({ id: "rec_00000002", deviceId: "dev-1", startedAt: 3000, maxDurationMs: 5000, bitRate: null });
    expect(store.listByDevice("dev-1", 10).map((r) => r.id)).toEqual(["rec_00000002", "rec_00000001"]);
    expect(store.listByDevice("dev-1", 1).map((r) => r.id)).toEqual(["rec_00000002"]);
    expect(store.allActive().map((r) => r.id)).toEqual(["rec_00000002"]);
    expect([...store.completedIds()]).toEqual(["rec_00000001"]);
  });
});
