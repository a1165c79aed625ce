import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SCHEMA_VERSION, newId, type RpcRequestMessage } from "@cloudphone/shared-protocol";
import type { Bus, PublishOptions } from "../mqtt/bus.js";
import type { Db } from "../store/db.js";
import { enrollTestHost, silentLogger, tempDb } from "../testing/fixtures.js";
import { RpcClient } from "./client.js";
import { RpcCallError } from "./types.js";

/** A Bus that records what is published (the broker is not what these tests are about). */
class RecordingBus implements Bus {
  readonly mode = "embedded" as const;
  readonly port = null;
  sent: { topic: string; msg: RpcRequestMessage }[] = [];
  up = true;
  publish(topic: string, payload: Buffer | string, _o: PublishOptions): Promise<void> {
    this.sent.push({ topic, msg: JSON.parse(payload.toString()) as RpcRequestMessage });
    return Promise.resolve();
  }
  ready = () => this.up;
  health = () => ({ ok: true, detail: "test" });
  disconnectHost = () => false;
  close = () => Promise.resolve();
}

const answer = (hostId: string, replyTo: string, outcome: unknown) =>
  Buffer.from(JSON.stringify({ id: newId(), seq: 1, ts: Date.now(), v: SCHEMA_VERSION, hostId, replyTo, outcome }));

let db: Db;
let cleanup: () => void;
let bus: RecordingBus;
let client: RpcClient;
let hostId: string;
beforeEach(() => {
  ({ db, cleanup } = tempDb());
  hostId = enrollTestHost(db).hostId;
  db.prepare("UPDATE hosts SET status = 'online' WHERE id = ?").run(hostId);
  bus = new RecordingBus();
  client = new RpcClient({ db, log: silentLogger(), bus: () => bus, breakerFailures: 2, breakerOpenMs: 200 });
});
afterEach(() => {
  client.close();
  cleanup();
});

const reason = (p: Promise<unknown>) => p.then(() => { throw new Error("resolved"); }, (e: unknown) => e as RpcCallError);

describe("RpcClient", () => {
  it("publishes QoS 1 to the host's rpc/requests and resolves with the validated answer matched by replyTo", async () => {
    const p = client.call(hostId, "d1", "device.files.stat", { path: "/sdcard/a" }, { timeoutMs: 2000, requestId: "req-1" });
    expect(bus.sent).toHaveLength(1);
    const { topic, msg } = bus.sent[0]!;
    expect(topic).toBe(`cloudphone/v1/hosts/${hostId}/rpc/requests`);
    expect(msg).toMatchObject({ hostId, deviceId: "d1", method: "device.files.stat", params: { path: "/sdcard/a" }, requestId: "req-1" });
    expect(msg.deadline).toBeGreaterThan(Date.now() + 1000);
    const entry = { name: "a", type: "file", size: 3, mode: 0o644, mtime: 1000 };
    client.handleResponse(hostId, answer(hostId, msg.id, { ok: true, result: entry }));
    await expect(p).resolves.toEqual(entry);
    expect(client.inFlight()).toBe(0);
  });

  it("applies defaults and refuses bad params before sending (400 naming the field)", async () => {
    const e = await reason(client.call(hostId, "d1", "device.files.stat", { path: "/a/../b" }));
    expect(e).toBeInstanceOf(RpcCallError);
    expect(e).toMatchObject({ code: "bad_params", httpStatus: 400 });
    expect(e.message).toContain("path");
    expect(bus.sent).toHaveLength(0);
    void client.call(hostId, "d1", "device.exec", { command: "true" }).catch(() => undefined);
    expect(bus.sent[0]!.msg.params).toEqual({ command: "true", timeoutMs: 30_000 });
  });

  it("maps the agent's error codes to HTTP statuses", async () => {
    const cases = [["not_found", 404], ["device_not_ready", 409], ["too_large", 413], ["tunnel_failed", 502], ["bad_params", 400]] as const;
    for (const [code, status] of cases) {
      const p = client.call(hostId, "d1", "device.files.stat", { path: "/x" });
      client.handleResponse(hostId, answer(hostId, bus.sent.at(-1)!.msg.id, { ok: false, code, message: `because ${code}` }));
      await expect(reason(p)).resolves.toMatchObject({ code, httpStatus: status, message: `because ${code}` });
    }
  });

  it("times out with 504, drops the late answer, and ignores answers from another host", async () => {
    const other = enrollTestHost(db).hostId;
    const p = client.call(hostId, "d1", "device.files.stat", { path: "/x" }, { timeoutMs: 100 });
    const id = bus.sent[0]!.msg.id;
    client.handleResponse(other, answer(other, id, { ok: true, result: {} })); // spoofed by another host
    const started = Date.now();
    await expect(reason(p)).resolves.toMatchObject({ code: "timeout", httpStatus: 504 });
    expect(Date.now() - started).toBeLessThan(1000);
    client.handleResponse(hostId, answer(hostId, id, { ok: true, result: { name: "x", type: "file", size: 1, mode: 0, mtime: 0 } }));
    expect(client.counters.lateResponses).toBe(2);
    expect(client.inFlight()).toBe(0);
  });

  it("rejects an invalid result with 502", async () => {
    const p = client.call(hostId, "d1", "device.files.stat", { path: "/x" });
    client.handleResponse(hostId, answer(hostId, bus.sent[0]!.msg.id, { ok: true, result: { nope: 1 } }));
    await expect(reason(p)).resolves.toMatchObject({ code: "failed", httpStatus: 502 });
  });

  it("fails fast with host_offline for offline, revoked or unknown hosts and a missing bus", async () => {
    await expect(reason(client.call("nope", "d1", "device.files.stat", { path: "/x" }))).resolves.toMatchObject({ code: "host_offline", httpStatus: 503 });
    db.prepare("UPDATE hosts SET status = 'offline' WHERE id = ?").run(hostId);
    await expect(reason(client.call(hostId, "d1", "device.files.stat", { path: "/x" }))).resolves.toMatchObject({ code: "host_offline" });
    db.prepare("UPDATE hosts SET status = 'online', revoked_at = 1 WHERE id = ?").run(hostId);
    await expect(reason(client.call(hostId, "d1", "device.files.stat", { path: "/x" }))).resolves.toMatchObject({ code: "host_offline" });
    db.prepare("UPDATE hosts SET revoked_at = NULL WHERE id = ?").run(hostId);
    bus.up = false;
    await expect(reason(client.call(hostId, "d1", "device.files.stat", { path: "/x" }))).resolves.toMatchObject({ code: "host_offline" });
    expect(bus.sent).toHaveLength(0);
  });

  it("opens the host's breaker after consecutive timeouts, refuses fast, then closes after a probe is answered", async () => {
    for (let i = 0; i < 2; i++) await reason(client.call(hostId, "d1", "device.files.stat", { path: "/x" }, { timeoutMs: 50 }));
    expect(client.breakerViews()).toEqual([expect.objectContaining({ hostId, state: "open", consecutiveFailures: 2 })]);
    const t0 = Date.now();
    await expect(reason(client.call(hostId, "d1", "device.files.stat", { path: "/x" }))).resolves.toMatchObject({ code: "host_offline", httpStatus: 503 });
    expect(Date.now() - t0).toBeLessThan(50);
    expect(bus.sent).toHaveLength(2);

    await new Promise((r) => setTimeout(r, 220));
    expect(client.breakerViews()[0]!.state).toBe("half_open");
    const probe = client.call(hostId, "d1", "device.files.stat", { path: "/x" });
    // Only one probe at a time.
    await expect(reason(client.call(hostId, "d1", "device.files.stat", { path: "/x" }))).resolves.toMatchObject({ code: "host_offline" });
    client.handleResponse(hostId, answer(hostId, bus.sent.at(-1)!.msg.id, { ok: false, code: "not_found", message: "no" }));
    await reason(probe);
    expect(client.breakerViews()).toEqual([]);
  });
});
