import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Aedes } from "aedes";
import mqtt from "mqtt";
import { topics } from "@cloudphone/shared-protocol";
import { connectExternalBroker } from "./external.js";
import { Inbox } from "../inbox/inbox.js";
import { enrollTestHost, eventMessage, payloadOf, silentLogger, statusMessage, tempDb } from "../testing/fixtures.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A plain, permissive broker standing in for Mosquitto/EMQX (the external broker enforces ACLs itself). */
async function plainBroker(): Promise<number> {
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(async () => {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as net.AddressInfo).port;
}

describe("external broker client", () => {
  it("ingests host uplinks (deduplicated), ignores its own commands, and publishes commands", async () => {
    const port = await plainBroker();
    const { db, cleanup } = tempDb();
    cleanups.push(cleanup);
    const inbox = new Inbox(db, silentLogger());
    const { hostId } = enrollTestHost(db);
    const bus = await connectExternalBroker({ url: `mqtt://127.0.0.1:${port}`, log: silentLogger(), ingest: inbox.ingest, connectWaitMs: 3000 });
    cleanups.push(() => bus.close());
    expect(bus.ready()).toBe(true);
    expect(bus.port).toBe(port);
    // Let the wildcard subscription settle before the host publishes.
    await new Promise((r) => setTimeout(r, 100));

    const host = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `host-${hostId}`, reconnectPeriod: 0 });
    cleanups.push(() => host.endAsync(true));
    await host.subscribeAsync(topics.commands(hostId), { qos: 1 });
    const birth = statusMessage(hostId, "online", 1);
    await host.publishAsync(birth.topic, payloadOf(birth), { qos: 1, retain: true });
    const ev = eventMessage(hostId, "device.started", 2, "dev1");
    await host.publishAsync(ev.topic, payloadOf(ev), { qos: 1 });
    await host.publishAsync(ev.topic, payloadOf(ev), { qos: 1 });

    const got = new Promise<string>((r) => host.once("message", (_t, p) => r(p.toString())));
    await bus.publish(topics.commands(hostId), '{"cmd":1}', { qos: 1, retain: false });
    expect(await got).toBe('{"cmd":1}');

    const deadline = Date.now() + 3000;
    while (inbox.stats.duplicates < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect((db.prepare("SELECT status FROM hosts WHERE id = ?").get(hostId) as { status: string }).status).toBe("online");
    expect((db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n).toBe(1);
    expect(inbox.stats.duplicates).toBe(1);
    // The command the control plane published came back through the wildcard subscription and was not ingested.
    expect((db.prepare("SELECT COUNT(*) AS n FROM rejected_messages").get() as { n: number }).n).toBe(0);
    inbox.close();
  });
});
