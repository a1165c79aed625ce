import { newId, SCHEMA_VERSION, type EventMessage, type RecordingView } from "@cloudphone/shared-protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp, type App } from "../http/app.js";
import type { Db } from "../store/db.js";
import { enrollTestHost, tempDb, testAppDeps } from "../testing/fixtures.js";
import { TEST_JWT_SECRET, testUser } from "../users/testing.js";
import { applyRecordingEvent, RecordingStore } from "./store.js";

let db: Db;
let cleanup: () => void;
let hostId: string;
beforeEach(() => {
  ({ db, cleanup } = tempDb());
  hostId = enrollTestHost(db).hostId;
});
afterEach(() => cleanup());

function insertDevice(id: string, ownerId: string | null, host = hostId): void {
  db.prepare(
    `INSERT INTO devices (id, owner_id, host_id, spec, cpu_millis, memory_mb, disk_mb, desired, generation, state, created_at, updated_at)
     VALUES (?, ?, ?, '{}', 1, 1, 1, 'running', 1, 'running', 0, 0)`,
  ).run(id, ownerId, host);
}

function event(name: EventMessage["name"], deviceId: string, ts: number, data: EventMessage["data"], host = hostId): EventMessage {
  return { id: newId(), seq: 1, ts, v: SCHEMA_VERSION, hostId: host, name, deviceId, data };
}

const REC = "rec_0000000001";

describe("recordings store and inbox effect", () => {
  it("keeps a session from its events: started, then completed with bytes and times", () => {
    insertDevice("dev-1", null);
    applyRecordingEvent(db, event("recording.started", "dev-1", 1000, { recordingId: REC, maxDurationMs: 5000 }), 1001);
    const store = new RecordingStore(db);
    expect(store.get(REC)).toEqual({ id: REC, deviceId: "dev-1", status: "recording", startedAt: 1000, endedAt: null, maxDurationMs: 5000, bytes: null, reason: null });
    applyRecordingEvent(db, event("recording.completed", "dev-1", 4000, { recordingId: REC, bytes: 999, durationMs: 3000, reason: "stopped" }), 4001);
    expect(store.get(REC)).toEqual({ id: REC, deviceId: "dev-1", status: "completed", startedAt: 1000, endedAt: 4000, maxDurationMs: 5000, bytes: 999, reason: "stopped" });
  });

  it("never moves an ended session back, whatever order answers and events arrive in", () => {
    insertDevice("dev-1", null);
    const store = new RecordingStore(db);
    applyRecordingEvent(db, event("recording.failed", "dev-1", 5000, { recordingId: REC, durationMs: 2000, reason: "agent_restarted" }), 5001);
    // A late RPC answer of the start: fills the maximum duration, keeps the end.
    const started: RecordingView = { id: REC, deviceId: "dev-1", status: "recording", startedAt: 3000, endedAt: null, maxDurationMs: 60_000, bytes: null, reason: null };
    store.mergeView(started, hostId, 6000);
    applyRecordingEvent(db, event("recording.started", "dev-1", 3000, { recordingId: REC, maxDurationMs: 60_000 }), 6001);
    expect(store.get(REC)).toEqual({ ...started, status: "failed", endedAt: 5000, reason: "agent_restarted" });
  });

  it("ignores events of unknown devices and of devices on another host", () => {
    insertDevice("dev-1", null);
    applyRecordingEvent(db, event("recording.started", "dev-x", 1000, { recordingId: REC }), 1001);
    applyRecordingEvent(db, event("recording.started", "dev-1", 1000, { recordingId: REC }, "other-host"), 1001);
    expect(new RecordingStore(db).get(REC)).toBeNull();
  });
});

describe("recording routes without an agent", () => {
  let app: App;
  let deps: ReturnType<typeof testAppDeps>;
  beforeEach(() => {
    deps = testAppDeps(db, { config: { jwtSecret: TEST_JWT_SECRET } });
    app = createApp(deps);
  });

  it("lists the stored sessions (live: false), the caller's active ones, and hides other users' devices", async () => {
    const alice = testUser(db, deps.config);
    const bob = testUser(db, deps.config);
    const admin = testUser(db, deps.config, { role: "admin" });
    insertDevice("dev-a", alice.userId);
    insertDevice("dev-b", bob.userId);
    applyRecordingEvent(db, event("recording.started", "dev-a", 1000, { recordingId: "rec_a000000001", maxDurationMs: 9000 }), 1);
    applyRecordingEvent(db, event("recording.started", "dev-a", 500, { recordingId: "rec_a000000000", maxDurationMs: 9000 }), 1);
    applyRecordingEvent(db, event("recording.completed", "dev-a", 900, { recordingId: "rec_a000000000", durationMs: 400, bytes: 5, reason: "stopped" }), 1);
    applyRecordingEvent(db, event("recording.started", "dev-b", 2000, { recordingId: "rec_b000000001", maxDurationMs: 9000 }), 1);

    const own = await app.request("/api/devices/dev-a/recordings", { headers: alice.headers });
    expect(own.status).toBe(200);
    const body = (await own.json()) as { recordings: RecordingView[]; live: boolean };
    expect(body.live).toBe(false);
    expect(body.recordings.map((r) => [r.id, r.status])).toEqual([["rec_a000000001", "recording"], ["rec_a000000000", "completed"]]);

    const active = (await (await app.request("/api/recordings?status=recording", { headers: alice.headers })).json()) as { recordings: RecordingView[] };
    expect(active.recordings.map((r) => r.id)).toEqual(["rec_a000000001"]);
    const all = (await (await app.request("/api/recordings?status=recording", { headers: admin.headers })).json()) as { recordings: RecordingView[] };
    expect(all.recordings.map((r) => r.id)).toEqual(["rec_b000000001", "rec_a000000001"]);

    for (const [method, path] of [["GET", "/api/devices/dev-b/recordings"], ["POST", "/api/devices/dev-b/recordings/rec_b000000001/stop"], ["GET", "/api/devices/dev-b/recordings/rec_b000000001/file"]] as const) {
      const res = await app.request(path, { method, headers: alice.headers });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("device_not_found");
    }
    const bad = await app.request("/api/recordings?status=paused", { headers: alice.headers });
    expect(bad.status).toBe(400);
    const start = await app.request("/api/devices/dev-a/recordings", { method: "POST", headers: alice.headers, body: JSON.stringify({ maxDurationMs: 500 }) });
    expect(start.status).toBe(400);
    expect(JSON.stringify(await start.json())).toContain("maxDurationMs");
  });
});
