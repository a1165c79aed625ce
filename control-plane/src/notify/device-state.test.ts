import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CreateDeviceRequest } from "@cloudphone/shared-protocol";
import { createDevice } from "../devices/registry.js";
import { Inbox } from "../inbox/inbox.js";
import type { Db } from "../store/db.js";
import { deviceStateMessage, enrollTestHost, payloadOf, silentLogger, tempDb } from "../testing/fixtures.js";

let db: Db;
let cleanup: () => void;
let inbox: Inbox;
let hostId: string;
beforeEach(() => {
  ({ db, cleanup } = tempDb());
  inbox = new Inbox(db, silentLogger());
  hostId = enrollTestHost(db).hostId;
});
afterEach(() => {
  inbox.close();
  cleanup();
});

function device(ownerId?: string): string {
  const r = createDevice(db, CreateDeviceRequest.parse({ hostId, ...(ownerId ? { ownerId } : {}) }), "req-create");
  if (!r.ok) throw new Error(r.message);
  return r.device.id;
}

async function report(deviceId: string, state: string, seq: number) {
  const m = deviceStateMessage(hostId, deviceId, state, seq);
  await inbox.ingest(m.topic, payloadOf(m), hostId);
}

const events = () =>
  (db.prepare("SELECT name, user_id, device_id, data FROM platform_outbox ORDER BY seq").all() as { name: string; user_id: string; device_id: string; data: string }[]).map(
    (r) => ({ name: r.name, userId: r.user_id, deviceId: r.device_id, data: JSON.parse(r.data) as unknown }),
  );

describe("device.state_changed platform events (inbox effect)", () => {
  it("tells the owner about each actual state change, in the same transaction as the state", async () => {
    const id = device("alice");
    await report(id, "creating", 1);
    await report(id, "running", 2);
    await report(id, "running", 3); // a re-report (e.g. after a reconnect) is not a change
    await report(id, "creating", 1); // older than what we have: ignored, no event
    await report(id, "stopped", 4);
    expect(events()).toEqual([
      { name: "device.state_changed", userId: "alice", deviceId: id, data: { state: "creating", previous: "pending" } },
      { name: "device.state_changed", userId: "alice", deviceId: id, data: { state: "running", previous: "creating" } },
      { name: "device.state_changed", userId: "alice", deviceId: id, data: { state: "stopped", previous: "running" } },
    ]);
    expect((db.prepare("SELECT state FROM devices WHERE id = ?").get(id) as { state: string }).state).toBe("stopped");
  });

  it("records nothing for a device without an owner, or for a duplicate message", async () => {
    const id = device();
    await report(id, "running", 1);
    expect(events()).toEqual([]);
    const owned = device("bob");
    const m = deviceStateMessage(hostId, owned, "running", 2);
    await inbox.ingest(m.topic, payloadOf(m), hostId);
    await inbox.ingest(m.topic, payloadOf(m), hostId); // same message id: de-duplicated
    expect(events()).toHaveLength(1);
  });
});
