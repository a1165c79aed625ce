import { afterEach, beforeEach, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { PlatformEventMessage, parsePayload, parsePlatformTopic, parseTopic, topics } from "@cloudphone/shared-protocol";
import { startEmbeddedBroker } from "../mqtt/embedded.js";
import { decidePublish } from "../mqtt/acl.js";
import type { Bus } from "../mqtt/bus.js";
import { InboxStats } from "../inbox/stats.js";
import { Notifier, type DeliveredEvent } from "../notify/notifier.js";
import { Metrics } from "../metrics/metrics.js";
import type { Db } from "../store/db.js";
import { silentLogger, tempDb } from "../testing/fixtures.js";
import { recordPlatformEvent } from "./record.js";
import { createPlatformRelay, type PlatformRelay, type RelayOptions } from "./relay.js";
import { platformOutboxStats, type OutboxRow } from "./outbox.js";
import { backoffMs } from "./backoff.js";

let db: Db;
let cleanup: () => void;
const closers: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  ({ db, cleanup } = tempDb());
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  cleanup();
});

/** The real embedded broker; operators (any username) may subscribe under cloudphone/v1/. */
async function broker(): Promise<Bus> {
  const bus = await startEmbeddedBroker({
    host: "127.0.0.1",
    port: 0,
    log: silentLogger(),
    authenticate: (username) => ({ kind: "operator", username: username ?? "op-test", access: "read" }),
    ingest: async () => {},
    counters: new InboxStats().acl,
  });
  closers.push(() => bus.close());
  return bus;
}

async function subscriber(bus: Bus): Promise<{ client: MqttClient; received: { topic: string; body: PlatformEventMessage }[] }> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${bus.port}`, { username: "op-watch", password: "x", reconnectPeriod: 0 });
  closers.push(() => client.endAsync(true));
  const received: { topic: string; body: PlatformEventMessage }[] = [];
  client.on("message", (topic, payload) => {
    const r = parsePayload(PlatformEventMessage, payload);
    if (!r.ok) throw new Error(r.reason);
    received.push({ topic, body: r.value });
  });
  await client.subscribeAsync(topics.allPlatformEvents, { qos: 1 });
  return { client, received };
}

function relayWith(bus: () => Bus | null, options: Partial<RelayOptions> = {}) {
  const notifier = new Notifier();
  const delivered: DeliveredEvent[] = [];
  notifier.subscribe((e) => delivered.push(e));
  const metrics = new Metrics({ db, notifier });
  const relay = createPlatformRelay({ db, log: silentLogger(), bus, notifier, metrics }, options);
  closers.push(() => relay.stop());
  return { relay, delivered, metrics };
}

const row = (seq: number) => db.prepare("SELECT * FROM platform_outbox WHERE seq = ?").get(seq) as OutboxRow;
const seqOf = (id: string) => (db.prepare("SELECT seq FROM platform_outbox WHERE id = ?").get(id) as { seq: number }).seq;

const waitFor = async (pred: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  expect(pred()).toBe(true);
};

/** A broker link that accepts the connection but whose publishes fail or never complete (what the real ones do when the link breaks mid-flight). */
function brokenBus(publish: () => Promise<void>): Bus {
  return {
    mode: "external",
    port: null,
    publish,
    ready: () => true,
    health: () => ({ ok: true, detail: "test" }),
    disconnectHost: () => false,
    close: async () => {},
  };
}

describe("platform outbox relay", () => {
  it("publishes QoS 1 to cloudphone/v1/platform/events/{name}, hands the event to the notifier, and marks it published", async () => {
    const bus = await broker();
    const sub = await subscriber(bus);
    const { relay, delivered } = relayWith(() => bus);
    const id = recordPlatformEvent(db, { name: "order.completed", userId: "u1", deviceId: "dev1", data: { orderId: "o1" }, requestId: "req-1" });
    await relay.tick();
    await waitFor(() => sub.received.length === 1);
    const m = sub.received[0]!;
    expect(m.topic).toBe("cloudphone/v1/platform/events/order.completed");
    expect(parsePlatformTopic(m.topic)).toEqual({ kind: "platformEvent", eventName: "order.completed" });
    expect(m.body).toMatchObject({ id, seq: seqOf(id), v: 1, requestId: "req-1", name: "order.completed", userId: "u1", deviceId: "dev1", data: { orderId: "o1" } });
    expect(delivered.map((e) => e.id)).toEqual([id]);
    const r = row(seqOf(id));
    expect(r.status).toBe("published");
    expect(r.published_at).not.toBeNull();
    expect(relay.stats()).toMatchObject({ pending: 0, published: 1, failed: 0 });
  });

  it("publishes in seq order and delivers each row to the notifier once", async () => {
    const bus = await broker();
    const sub = await subscriber(bus);
    const { relay, delivered } = relayWith(() => bus, { batchSize: 7 });
    const ids = Array.from({ length: 30 }, (_, i) => recordPlatformEvent(db, { name: "billing.low_balance", userId: `u${i % 3}`, data: { i } }));
    await relay.tick();
    await relay.tick();
    await relay.tick();
    await relay.tick();
    await relay.tick();
    await waitFor(() => sub.received.length === 30);
    expect(sub.received.map((m) => m.body.id)).toEqual(ids);
    expect(delivered.map((e) => e.id)).toEqual(ids);
    expect(platformOutboxStats(db)).toMatchObject({ pending: 0, published: 30 });
  });

  it("while the broker is down: delivers to live subscribers at once, keeps rows pending without counting attempts, publishes after", async () => {
    let bus: Bus | null = null;
    const { relay, delivered } = relayWith(() => bus);
    const id = recordPlatformEvent(db, { name: "billing.funds_depleted", userId: "u1", data: {} });
    await relay.tick();
    expect(delivered.map((e) => e.id)).toEqual([id]);
    expect(row(seqOf(id))).toMatchObject({ status: "pending", attempts: 0 });
    await relay.tick();
    expect(delivered).toHaveLength(1); // not handed out twice

    bus = await broker(); // the broker comes (back) up
    const sub = await subscriber(bus);
    await relay.tick();
    await waitFor(() => sub.received.length === 1);
    expect(sub.received[0]!.body.id).toBe(id);
    expect(row(seqOf(id)).status).toBe("published");
    expect(delivered).toHaveLength(1);
  });

  it("a closed broker counts as down: rows wait, then a new relay over the same database (a restart) publishes them", async () => {
    const first = await broker();
    await first.close();
    const a = relayWith(() => first);
    const id = recordPlatformEvent(db, { name: "order.failed", userId: "u1", data: { notification: "ORDER_FAILED" } });
    await a.relay.tick();
    expect(row(seqOf(id))).toMatchObject({ status: "pending", attempts: 0 });
    await a.relay.stop();

    const second = await broker();
    const sub = await subscriber(second);
    const b = relayWith(() => second);
    await b.relay.tick();
    await waitFor(() => sub.received.length === 1);
    expect(sub.received[0]!.body.id).toBe(id);
    expect(b.delivered).toHaveLength(0); // committed before this relay existed: replayed from the table, not pushed
  });

  it("on a failed publish keeps the row pending with attempts, last_error and exponential back-off", async () => {
    const { relay, metrics } = relayWith(() => brokenBus(() => Promise.reject(new Error("connection reset"))), { baseBackoffMs: 1000, maxBackoffMs: 5000 });
    const id = recordPlatformEvent(db, { name: "alert.raised", userId: null, data: { kind: "saga.compensation_failed" } });
    const before = Date.now();
    await relay.tick();
    let r = row(seqOf(id));
    expect(r).toMatchObject({ status: "pending", attempts: 1, last_error: "connection reset" });
    expect(r.next_attempt_at).toBeGreaterThanOrEqual(before + 1000);
    await relay.tick(); // not due yet: untouched
    expect(row(seqOf(id)).attempts).toBe(1);
    db.prepare("UPDATE platform_outbox SET next_attempt_at = 0").run();
    const t2 = Date.now();
    await relay.tick();
    r = row(seqOf(id));
    expect(r.attempts).toBe(2);
    expect(r.next_attempt_at).toBeGreaterThanOrEqual(t2 + 2000);
    expect(relay.stats()).toMatchObject({ pending: 1, attemptsTotal: 2 });
    expect(await metrics.render()).toContain('cloudphone_platform_relay_publish_total{outcome="retry"} 2');
  });

  it("a publish that is never acknowledged times out and is retried", async () => {
    const { relay } = relayWith(() => brokenBus(() => new Promise<void>(() => {})), { publishTimeoutMs: 50 });
    const id = recordPlatformEvent(db, { name: "user.registered", userId: "u1", data: {} });
    await relay.tick();
    expect(row(seqOf(id))).toMatchObject({ status: "pending", attempts: 1, last_error: "no acknowledgement within 50 ms" });
  });

  it("parks a row that can never be sent as failed and goes on with the next", async () => {
    const bus = await broker();
    const sub = await subscriber(bus);
    const { relay } = relayWith(() => bus);
    const bad = recordPlatformEvent(db, { name: "Not A Name", userId: "u1", data: {} });
    const huge = recordPlatformEvent(db, { name: "user.registered", userId: "u1", data: { blob: "x".repeat(70_000) } });
    const good = recordPlatformEvent(db, { name: "user.registered", userId: "u1", data: {} });
    await relay.tick();
    await waitFor(() => sub.received.length === 1);
    expect(sub.received[0]!.body.id).toBe(good);
    expect(row(seqOf(bad))).toMatchObject({ status: "failed", attempts: 1 });
    expect(row(seqOf(bad)).last_error).toContain("name");
    expect(row(seqOf(huge)).status).toBe("failed");
    expect(row(seqOf(huge)).last_error).toContain("exceeds");
    expect(relay.stats()).toMatchObject({ pending: 0, published: 1, failed: 2 });
  });

  it("deletes published rows older than the retention, keeps younger and unpublished ones", async () => {
    const bus = await broker();
    const { relay } = relayWith(() => bus);
    const old = recordPlatformEvent(db, { name: "user.registered", userId: "u1", data: {} });
    const young = recordPlatformEvent(db, { name: "user.registered", userId: "u2", data: {} });
    await relay.tick();
    const pendingOld = recordPlatformEvent(db, { name: "user.registered", userId: "u3", data: {} }, Date.now() - 10 * 86_400_000);
    db.prepare("UPDATE platform_outbox SET published_at = ? WHERE id = ?").run(Date.now() - 8 * 86_400_000, old);
    db.prepare("UPDATE platform_outbox SET next_attempt_at = ? WHERE id = ?").run(Date.now() + 60_000, pendingOld);
    // A fresh relay runs its first cleanup on its first pass.
    const { relay: fresh } = relayWith(() => bus);
    await fresh.tick();
    const ids = (db.prepare("SELECT id FROM platform_outbox ORDER BY seq").all() as { id: string }[]).map((r) => r.id);
    expect(ids).toEqual([young, pendingOld]);
  });

  it("runs on its own timer once started and stops cleanly", async () => {
    const bus = await broker();
    const sub = await subscriber(bus);
    const { relay } = relayWith(() => bus, { intervalMs: 20 });
    relay.start();
    recordPlatformEvent(db, { name: "user.password_changed", userId: "u1", data: {} });
    await waitFor(() => sub.received.length === 1);
    await relay.stop();
    await relay.stop(); // idempotent
    recordPlatformEvent(db, { name: "user.password_changed", userId: "u1", data: {} });
    await new Promise((r) => setTimeout(r, 80));
    expect(sub.received).toHaveLength(1);
  });
});

describe("platform topic and ACL", () => {
  it("is outside every host subtree: hosts and operators can never publish there, and the uplink parser ignores it", () => {
    const topic = topics.platformEvent("order.completed");
    expect(parseTopic(topic)).toBeNull();
    expect(decidePublish({ kind: "host", hostId: "h1" }, topic)).toMatchObject({ allow: false });
    expect(decidePublish({ kind: "operator", username: "op-a", access: "readwrite" }, topic)).toMatchObject({ allow: false });
    expect(parsePlatformTopic("cloudphone/v1/platform/events/Bad")).toBeNull();
    expect(parsePlatformTopic("cloudphone/v1/hosts/h1/events/device.started")).toBeNull();
  });

  it("back-off doubles from the base up to the cap", () => {
    expect([1, 2, 3, 4, 5, 6, 100].map((n) => backoffMs(n, 500, 10_000))).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });
});
