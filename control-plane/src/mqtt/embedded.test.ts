import { afterEach, beforeEach, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { topics } from "@cloudphone/shared-protocol";
import { startEmbeddedBroker } from "./embedded.js";
import type { Bus } from "./bus.js";
import { Inbox } from "../inbox/inbox.js";
import { authenticateMqtt, createOperatorCredential, hostClientId } from "../hosts/credentials.js";
import type { Db } from "../store/db.js";
import { enrollTestHost, eventMessage, payloadOf, silentLogger, statusMessage, tempDb } from "../testing/fixtures.js";

let db: Db;
let cleanup: () => void;
let inbox: Inbox;
let bus: Bus;
let clients: MqttClient[] = [];
let hostA: { hostId: string; password: string };
let hostB: { hostId: string; password: string };
const subscribedHosts: string[] = [];

beforeEach(async () => {
  ({ db, cleanup } = tempDb());
  const log = silentLogger();
  inbox = new Inbox(db, log);
  hostA = enrollTestHost(db);
  hostB = enrollTestHost(db);
  bus = await startEmbeddedBroker({
    host: "127.0.0.1",
    port: 0,
    log,
    authenticate: (u, p, id) => authenticateMqtt(db, u, p, id),
    ingest: inbox.ingest,
    counters: inbox.stats.acl,
    onHostSubscribed: (h) => subscribedHosts.push(h),
  });
});

afterEach(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  clients = [];
  await bus.close();
  inbox.close();
  cleanup();
});

function connect(username: string, password: string, clientId: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${bus.port}`, { username, password, clientId, reconnectPeriod: 0, clean: true, ...extra });
    clients.push(c);
    c.once("connect", () => resolve(c));
    c.once("error", reject);
  });
}
const asHost = (h: { hostId: string; password: string }, extra: mqtt.IClientOptions = {}) =>
  connect(h.hostId, h.password, hostClientId(h.hostId), extra);
const closed = (c: MqttClient) => new Promise<void>((resolve) => c.once("close", () => resolve()));
const count = (sql: string, ...args: unknown[]) => (db.prepare(sql).get(...args) as { n: number }).n;

describe("embedded broker", () => {
  it("refuses bad credentials and a host using another client id", async () => {
    await expect(connect(hostA.hostId, "wrong-password-wrong", hostClientId(hostA.hostId))).rejects.toThrow(/Bad username or password/);
    await expect(connect(hostA.hostId, hostA.password, hostClientId(hostB.hostId))).rejects.toThrow(/Bad username or password/);
    expect(inbox.stats.acl.authFailed).toBe(2);
    // A tool's own client id (mosquitto_sub picks one) is fine with a host's credentials.
    const tool = await connect(hostA.hostId, hostA.password, "debug-tool-1");
    expect(tool.connected).toBe(true);
  });

  it("commits an uplink before the PUBACK", async () => {
    const c = await asHost(hostA);
    const m = statusMessage(hostA.hostId, "online", 1);
    await new Promise<void>((resolve, reject) =>
      c.publish(m.topic, payloadOf(m), { qos: 1, retain: true }, (err) => {
        if (err) return reject(err);
        // Synchronously inside the PUBACK callback: the effect is already durable.
        expect(count("SELECT COUNT(*) AS n FROM inbox WHERE msg_id = ?", m.body.id)).toBe(1);
        expect((db.prepare("SELECT status FROM hosts WHERE id = ?").get(hostA.hostId) as { status: string }).status).toBe("online");
        resolve();
      }),
    );
  });

  it("applies a duplicate message id once", async () => {
    const c = await asHost(hostA);
    const m = eventMessage(hostA.hostId, "device.started", 7, "dev1");
    await c.publishAsync(m.topic, payloadOf(m), { qos: 1 });
    await c.publishAsync(m.topic, payloadOf(m), { qos: 1 });
    expect(count("SELECT COUNT(*) AS n FROM events")).toBe(1);
    expect(inbox.stats.duplicates).toBe(1);
  });

  it("parks an invalid payload and keeps the connection up", async () => {
    const c = await asHost(hostA);
    let dropped = false;
    c.on("close", () => (dropped = true));
    await c.publishAsync(topics.status(hostA.hostId), "definitely not json", { qos: 1 });
    await c.publishAsync(`cloudphone/v1/hosts/${hostA.hostId}/unknown/leaf`, "{}", { qos: 1 });
    const ok = eventMessage(hostA.hostId, "device.stopped", 2);
    await c.publishAsync(ok.topic, payloadOf(ok), { qos: 1 });
    expect(dropped).toBe(false);
    expect(c.connected).toBe(true);
    const codes = (db.prepare("SELECT code FROM rejected_messages ORDER BY id").all() as { code: string }[]).map((r) => r.code);
    expect(codes).toEqual(["malformed_json", "unknown_topic"]);
    expect(count("SELECT COUNT(*) AS n FROM events")).toBe(1);
  });

  it("disconnects a host publishing under another host's subtree, without ingesting it", async () => {
    const c = await asHost(hostA);
    const gone = closed(c);
    const forged = statusMessage(hostB.hostId, "online", 1);
    c.publish(forged.topic, payloadOf(forged), { qos: 1 });
    await gone;
    expect(inbox.stats.acl.publishDenied).toBe(1);
    expect((db.prepare("SELECT status FROM hosts WHERE id = ?").get(hostB.hostId) as { status: string }).status).toBe("never");
  });

  it("disconnects a host publishing to its own commands topic", async () => {
    const c = await asHost(hostA);
    const gone = closed(c);
    c.publish(topics.commands(hostA.hostId), "{}", { qos: 1 });
    await gone;
    expect(inbox.stats.acl.publishDenied).toBe(1);
  });

  it("lets a host subscribe only inside its subtree and delivers its commands", async () => {
    const c = await asHost(hostA);
    // mqtt.js reports a refused subscription (SUBACK 0x80) as an error.
    await expect(c.subscribeAsync(topics.commands(hostB.hostId), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect(inbox.stats.acl.subscribeDenied).toBe(1);
    expect(c.connected).toBe(true);
    const granted = await c.subscribeAsync(topics.commands(hostA.hostId), { qos: 1 });
    expect(granted[0]?.qos).toBe(1);
    expect(subscribedHosts).toContain(hostA.hostId);
    const got = new Promise<string>((resolve) => c.once("message", (_t, p) => resolve(p.toString())));
    await bus.publish(topics.commands(hostA.hostId), '{"hello":1}', { qos: 1, retain: false });
    expect(await got).toBe('{"hello":1}');
  });

  it("ingests a host's Will when it drops, marking it offline", async () => {
    const will = statusMessage(hostA.hostId, "offline", 1);
    const birth = statusMessage(hostA.hostId, "online", 2);
    const c = await asHost(hostA, { will: { topic: will.topic, payload: payloadOf(will), qos: 1, retain: true } });
    await c.publishAsync(birth.topic, payloadOf(birth), { qos: 1, retain: true });
    const status = () => (db.prepare("SELECT status FROM hosts WHERE id = ?").get(hostA.hostId) as { status: string }).status;
    expect(status()).toBe("online");
    c.stream.destroy(); // ungraceful drop
    for (let i = 0; i < 50 && status() !== "offline"; i++) await new Promise((r) => setTimeout(r, 20));
    expect(status()).toBe("offline");
    expect(count("SELECT COUNT(*) AS n FROM inbox WHERE msg_id = ?", will.body.id)).toBe(1);
  });

  it("kicks a revoked host and refuses its reconnection", async () => {
    const c = await asHost(hostA);
    const gone = closed(c);
    db.prepare("UPDATE hosts SET revoked_at = 1 WHERE id = ?").run(hostA.hostId);
    expect(bus.disconnectHost(hostA.hostId)).toBe(true);
    await gone;
    await expect(asHost(hostA)).rejects.toThrow(/Bad username or password/);
  });

  it("gives operators read or command-only write access", async () => {
    const ro = createOperatorCredential(db, "op-reader", "read");
    const rw = createOperatorCredential(db, "op-writer", "readwrite");
    if (!ro.ok || !rw.ok) throw new Error("credential creation failed");
    const reader = await connect("op-reader", ro.password, "op-reader-1");
    await reader.subscribeAsync(topics.everything, { qos: 1 });
    const seen = new Promise<string>((resolve) => reader.once("message", (t) => resolve(t)));
    const host = await asHost(hostA);
    const ev = eventMessage(hostA.hostId, "device.created", 1);
    await host.publishAsync(ev.topic, payloadOf(ev), { qos: 1 });
    expect(await seen).toBe(ev.topic);
    const writer = await connect("op-writer", rw.password, "op-writer-1");
    await writer.publishAsync(topics.commands(hostA.hostId), "{}", { qos: 1 });
    expect(writer.connected).toBe(true);
    const readerGone = closed(reader);
    reader.publish(topics.commands(hostA.hostId), "{}", { qos: 1 });
    await readerGone;
  });
});
