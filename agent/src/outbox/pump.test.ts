import { afterEach, beforeEach, describe, expect, it } from "vitest";
import pino from "pino";
import { makeStore, type TestStore } from "../test-support/fixtures.js";
import { OutboxPump, type QoS1Publisher } from "./pump.js";

// The publisher here is a recording stand-in for the MQTT client, so that the pump's ordering and
// acknowledgement bookkeeping can be checked tick by tick; the real client and broker are exercised by the
// integration tests (test/crash-recovery, test/outage) and bench/outbox-throughput.
class RecordingPublisher implements QoS1Publisher {
  readonly sent: number[] = [];
  readonly pending: Array<(err?: Error) => void> = [];
  publish(_topic: string, payload: string, _opts: { qos: 1; retain: boolean }, cb: (err?: Error) => void): void {
    this.sent.push((JSON.parse(payload) as { seq: number }).seq);
    this.pending.push(cb);
  }
  ackAll(err?: Error): void {
    for (const cb of this.pending.splice(0)) cb(err);
  }
}

const tick = () => new Promise((r) => setImmediate(r));
let s: TestStore;
beforeEach(() => {
  s = makeStore();
});
afterEach(() => s.cleanup());

const put = (n: number) =>
  s.db.transaction(() => {
    for (let i = 0; i < n; i++) s.outbox.enqueue("t", () => ({ i }));
  })();

describe("OutboxPump", () => {
  it("publishes each row once in seq order, within the in-flight window, even when kicked between ack and flush", async () => {
    const pub = new RecordingPublisher();
    const pump = new OutboxPump(s.outbox, { maxInFlight: 3, batchSize: 10 }, pino({ level: "silent" }));
    put(7);
    pump.resume(pub);
    await tick();
    expect(pub.sent).toEqual([1, 2, 3]);
    pump.kick(); // an enqueue whose fill runs after the PUBACKs below but before their batched markPublished
    pub.ackAll();
    await tick();
    await tick();
    pub.ackAll();
    await tick();
    await tick();
    pub.ackAll();
    await tick();
    await tick();
    expect(pub.sent).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(s.outbox.stats()).toMatchObject({ pending: 0, published: 7 });
    pump.close();
  });

  it("stops at a failed publish and resends from the lowest pending seq on resume", async () => {
    const pub = new RecordingPublisher();
    const pump = new OutboxPump(s.outbox, { maxInFlight: 10, batchSize: 10 }, pino({ level: "silent" }));
    put(3);
    pump.resume(pub);
    await tick();
    pub.ackAll(new Error("connection closed"));
    expect(pump.running).toBe(false);
    s.clock.now += 60_000; // past any back-off
    const again = new RecordingPublisher();
    pump.resume(again);
    await tick();
    expect(again.sent).toEqual([1, 2, 3]);
    again.ackAll();
    await tick();
    expect(s.outbox.stats()).toMatchObject({ pending: 0, published: 3 });
    pump.close();
  });
});
