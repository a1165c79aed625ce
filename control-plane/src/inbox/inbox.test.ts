import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { topics } from "@cloudphone/shared-protocol";
import { Inbox } from "./inbox.js";
import { createDevice } from "../devices/registry.js";
import type { Db } from "../store/db.js";
import {
  deviceStateMessage, enrollTestHost, eventMessage, payloadOf, resultMessage, silentLogger, statusMessage, tempDb,
} from "../testing/fixtures.js";

let db: Db;
let cleanup: () => void;
let inbox: Inbox;
let hostId: string;

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  inbox = new Inbox(db, silentLogger());
  hostId = enrollTestHost(db).hostId;
});
afterEach(() => cleanup());

const send = (m: { topic: string; body: unknown }, sender: string | null = hostId) => inbox.ingest(m.topic, payloadOf(m), sender);
const hostRow = () => db.prepare("SELECT status, last_seen_at FROM hosts WHERE id = ?").get(hostId) as { status: string; last_seen_at: number | null };
const onlineDevice = async () => {
  await send(statusMessage(hostId, "online", 1));
  const r = createDevice(db, { cpuMillis: 1000, memoryMb: 1024, diskMb: 1024, width: 720, height: 1280, dpi: 320, fps: 30 }, undefined);
  if (!r.ok) throw new Error(r.code);
  return r;
};

describe("Inbox", () => {
  it("applies a message once even when delivered twice", async () => {
    const ev = eventMessage(hostId, "device.started", 5, "dev1");
    await Promise.all([send(ev), send(ev)]);
    await send(ev);
    expect((db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n).toBe(1);
    expect(inbox.stats.snapshot()).toMatchObject({ accepted: { event: 1 }, duplicates: 2 });
    expect(hostRow().last_seen_at).not.toBeNull();
  });

  it("commits messages that arrive together in one batch, before resolving", async () => {
    const msgs = Array.from({ length: 50 }, (_, i) => eventMessage(hostId, "device.started", i + 1));
    const done = Promise.all(msgs.map((m) => send(m)));
    // Nothing is resolved or committed synchronously: the flush happens on the next tick.
    expect((db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n).toBe(0);
    await done;
    expect((db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n).toBe(50);
    expect(inbox.stats.snapshot()).toMatchObject({ batches: 1, largestBatch: 50 });
  });

  it("parks invalid messages with their reason and still resolves", async () => {
    await inbox.ingest(topics.status(hostId), Buffer.from("{not json"), hostId);
    await inbox.ingest(topics.status(hostId), Buffer.from(JSON.stringify({ v: 1, hostId })), hostId);
    await inbox.ingest(`cloudphone/v1/hosts/${hostId}/bogus`, Buffer.from("{}"), hostId);
    await send(eventMessage("other-host", "device.started", 1), hostId);
    const rows = db.prepare("SELECT code, reason FROM rejected_messages ORDER BY id").all() as { code: string; reason: string }[];
    expect(rows.map((r) => r.code)).toEqual(["malformed_json", "invalid", "unknown_topic", "sender_mismatch"]);
    expect(rows[1]!.reason).toMatch(/id/);
    expect(inbox.stats.snapshot().rejected).toEqual({ malformed_json: 1, invalid: 1, unknown_topic: 1, sender_mismatch: 1 });
  });

  it("tracks presence, ignoring stale status and handling a Will older than its birth", async () => {
    await send(statusMessage(hostId, "online", 10)); // birth B1 (its Will W1 had seq 9)
    expect(hostRow().status).toBe("online");
    await send(statusMessage(hostId, "offline", 9)); // W1: connection 1 dropped
    expect(hostRow().status).toBe("offline");
    await send(statusMessage(hostId, "online", 21)); // B2 (W2 = 20)
    await send(statusMessage(hostId, "offline", 8)); // a stale Will from before B1: ignored
    expect(hostRow().status).toBe("online");
    await send(statusMessage(hostId, "online", 15)); // stale birth: ignored
    await send(statusMessage(hostId, "offline", 20)); // W2
    expect(hostRow().status).toBe("offline");
  });

  it("calls the online hook after commit on a transition to online only", async () => {
    const seen: string[] = [];
    inbox.onHostOnline = (h) => seen.push(hostRow().status + ":" + h);
    await send(statusMessage(hostId, "online", 1));
    await send(statusMessage(hostId, "online", 2));
    expect(seen).toEqual([`online:${hostId}`]);
  });

  it("keeps the latest device state by seq and parks unknown devices", async () => {
    const { device } = await onlineDevice();
    await send(deviceStateMessage(hostId, device.id, "running", 30));
    await send(deviceStateMessage(hostId, device.id, "creating", 29));
    const row = db.prepare("SELECT state, state_seq FROM devices WHERE id = ?").get(device.id);
    expect(row).toEqual({ state: "running", state_seq: 30 });
    await send(deviceStateMessage(hostId, "nosuchdevice", "running", 31));
    expect(db.prepare("SELECT code FROM rejected_messages").all()).toEqual([{ code: "unknown_device" }]);
  });

  it("marks a device deleted when desired and reported state are both deleted", async () => {
    const { device } = await onlineDevice();
    db.prepare("UPDATE devices SET desired = 'deleted' WHERE id = ?").run(device.id);
    await send(deviceStateMessage(hostId, device.id, "deleted", 40, "deleted"));
    const row = db.prepare("SELECT deleted_at FROM devices WHERE id = ?").get(device.id) as { deleted_at: number | null };
    expect(row.deleted_at).not.toBeNull();
  });

  it("records a command result once and refuses results for unknown commands", async () => {
    const { device, commandId } = await onlineDevice();
    await send(resultMessage(hostId, device.id, commandId, 50, "applied"));
    await send(resultMessage(hostId, device.id, commandId, 51, "failed"));
    const row = db.prepare("SELECT result_outcome FROM commands WHERE id = ?").get(commandId);
    expect(row).toEqual({ result_outcome: "applied" });
    await send(resultMessage(hostId, device.id, "nosuchcommand1", 52));
    expect(db.prepare("SELECT code FROM rejected_messages").all()).toEqual([{ code: "unknown_command" }]);
  });

  it("refuses messages from unknown hosts and non-status messages from revoked hosts", async () => {
    await send(eventMessage("ghost-host", "device.started", 1), null);
    db.prepare("UPDATE hosts SET revoked_at = 1 WHERE id = ?").run(hostId);
    await send(eventMessage(hostId, "device.started", 2));
    await send(statusMessage(hostId, "offline", 3));
    const codes = (db.prepare("SELECT code FROM rejected_messages ORDER BY id").all() as { code: string }[]).map((r) => r.code);
    expect(codes).toEqual(["unknown_host", "host_revoked"]);
  });

  // Throughput is measured by bench/outbox-throughput.mjs, not asserted here: timed tests on a shared
  // machine are noise. This checks that a large burst is group-committed (few transactions) and complete.
  it("group-commits a burst of 20k messages into few transactions, losing none", async () => {
    const n = 20_000;
    const payloads = Array.from({ length: n }, (_, i) => {
      const m = eventMessage(hostId, "device.started", i + 1, "dev1");
      return { topic: m.topic, payload: payloadOf(m) };
    });
    await Promise.all(payloads.map((p) => inbox.ingest(p.topic, p.payload, hostId)));
    expect((db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n).toBe(n);
    expect(inbox.stats.batches).toBeLessThanOrEqual(n / 50);
  });
});
