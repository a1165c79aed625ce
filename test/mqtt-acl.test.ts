// Host A's credentials can neither publish nor subscribe under host B's topics (mqtt.js and the
// mosquitto clients), operators get exactly their access, and bad payloads are parked, counted and logged
// without dropping the connection (issue 2 acceptance 4 and 5).
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import mqtt from "mqtt";
import { MAX_PAYLOAD_BYTES, newId, topics } from "@cloudphone/shared-protocol";
import { startControlPlane, type ControlPlaneHandle } from "./support/processes.js";
import { api } from "./support/api.js";
import { waitFor } from "./support/wait.js";

type Creds = { hostId: string; username: string; password: string; clientId: string };
let cp: ControlPlaneHandle;
let hostA: Creds;
let hostB: Creds;

async function enroll(name: string): Promise<Creds> {
  const token = await api(cp).createEnrollmentToken();
  const res = await api(cp).raw("POST", "/api/hosts/enroll", {
    token,
    hostname: name,
    agentVersion: "test",
    capacity: { cpuMillis: 4000, memoryMb: 8192, diskMb: 100_000, deviceSlots: 4 },
  });
  expect(res.status).toBe(201);
  const body = res.body as { hostId: string; mqtt: { username: string; password: string; clientId: string } };
  return { hostId: body.hostId, ...body.mqtt };
}

const envelope = (hostId: string, extra: Record<string, unknown>) => ({ id: newId(), seq: Date.now(), ts: Date.now(), v: 1, hostId, ...extra });

function connect(c: { username: string; password: string; clientId?: string }) {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${cp.mqttPort}`, { ...c, reconnectPeriod: 0, clean: true });
}

function mosquitto(bin: "mosquitto_pub" | "mosquitto_sub", c: { username: string; password: string }, args: string[]) {
  return spawnSync(bin, ["-h", "127.0.0.1", "-p", String(cp.mqttPort), "-u", c.username, "-P", c.password, ...args], { encoding: "utf8", timeout: 15_000 });
}

beforeAll(async () => {
  cp = await startControlPlane();
  hostA = await enroll("host-a");
  hostB = await enroll("host-b");
});
afterAll(async () => cp?.stop());

describe("MQTT ACL", () => {
  it("refuses bad credentials", async () => {
    await expect(connect({ username: hostA.hostId, password: "wrong-password-000000" })).rejects.toThrow(/Bad username or password|Not authorized/);
  });

  it("mqtt.js: host A may use its own subtree but not host B's", async () => {
    const a = await connect(hostA);
    const granted = await a.subscribeAsync(topics.commands(hostA.hostId), { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    // mqtt.js turns a SUBACK failure (0x80) into a rejected subscribe on MQTT 3.1.1.
    await expect(a.subscribeAsync(topics.commands(hostB.hostId), { qos: 1 })).rejects.toThrow(/Unspecified error/);
    await expect(a.subscribeAsync("cloudphone/v1/#", { qos: 1 })).rejects.toThrow(/Unspecified error/);

    await a.publishAsync(topics.status(hostA.hostId), JSON.stringify(envelope(hostA.hostId, { status: "online" })), { qos: 1, retain: true });
    await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === hostA.hostId && h.status === "online"), { message: "A online" });

    const closed = new Promise<void>((resolve) => a.once("close", () => resolve()));
    a.publish(topics.status(hostB.hostId), JSON.stringify(envelope(hostB.hostId, { status: "online" })), { qos: 1 });
    await closed; // the broker drops a client that publishes outside its subtree
    const b = (await api(cp).listHosts()).find((h) => h.id === hostB.hostId);
    expect(b?.status).not.toBe("online");
    await a.endAsync(true);
  });

  it("mosquitto_pub/mosquitto_sub: host A cannot reach host B's topics", async () => {
    const pub = mosquitto("mosquitto_pub", hostA, ["-q", "1", "-t", topics.status(hostB.hostId), "-m", JSON.stringify(envelope(hostB.hostId, { status: "online" }))]);
    expect(pub.status).not.toBe(0);
    const subOther = mosquitto("mosquitto_sub", hostA, ["-q", "1", "-t", topics.commands(hostB.hostId), "-E"]);
    expect(subOther.stderr + subOther.stdout).toMatch(/denied/i);
    const subOwn = mosquitto("mosquitto_sub", hostA, ["-q", "1", "-t", topics.commands(hostA.hostId), "-E"]);
    expect(subOwn.status).toBe(0);
    expect(subOwn.stderr).not.toMatch(/denied/i);
    expect((await api(cp).listHosts()).find((h) => h.id === hostB.hostId)?.status).not.toBe("online");
  });

  it("operators: read sees the tree and cannot publish; readwrite may send commands only", async () => {
    const ro = await api(cp).createMqttCredential("op-reader", "read");
    const rw = await api(cp).createMqttCredential("op-writer", "readwrite");
    const seen = mosquitto("mosquitto_sub", ro, ["-v", "-t", "cloudphone/v1/#", "-C", "1", "-W", "5"]);
    expect(seen.stdout).toContain(`cloudphone/v1/hosts/${hostA.hostId}/status`);
    expect(mosquitto("mosquitto_pub", ro, ["-q", "1", "-t", topics.commands(hostA.hostId), "-m", "{}"]).status).not.toBe(0);
    expect(mosquitto("mosquitto_pub", rw, ["-q", "1", "-t", topics.status(hostA.hostId), "-m", "{}"]).status).not.toBe(0);
    const cmd = { ...envelope(hostA.hostId, {}), deviceId: "nosuch", generation: 1, action: "stop" };
    expect(mosquitto("mosquitto_pub", rw, ["-q", "1", "-t", topics.commands(hostA.hostId), "-m", JSON.stringify(cmd)]).status).toBe(0);
  });
});

describe("bad input over MQTT", () => {
  it("parks malformed, unknown-version, oversize and unknown-topic messages and keeps the connection", async () => {
    const before = (await api(cp).raw("GET", "/api/inbox/stats")).body as { rejected: Record<string, number> };
    const a = await connect(hostA);
    let closed = false;
    a.on("close", () => (closed = true));
    const own = topics.status(hostA.hostId);
    await a.publishAsync(own, "{not json", { qos: 1 });
    await a.publishAsync(own, JSON.stringify({ ...envelope(hostA.hostId, { status: "online" }), v: 99 }), { qos: 1 });
    await a.publishAsync(own, Buffer.alloc(MAX_PAYLOAD_BYTES + 10, 0x20), { qos: 1 });
    await a.publishAsync(`${topics.hostRoot(hostA.hostId)}/bogus`, JSON.stringify(envelope(hostA.hostId, {})), { qos: 1 });
    await a.publishAsync(own, JSON.stringify(envelope(hostA.hostId, { status: "sideways" })), { qos: 1 });
    // Still connected and still able to deliver a good message afterwards.
    await a.publishAsync(own, JSON.stringify(envelope(hostA.hostId, { status: "online" })), { qos: 1 });
    expect(closed).toBe(false);
    await a.endAsync();

    const after = (await api(cp).raw("GET", "/api/inbox/stats")).body as { rejected: Record<string, number> };
    const delta = (code: string) => (after.rejected[code] ?? 0) - (before.rejected[code] ?? 0);
    expect(delta("malformed_json")).toBe(1);
    expect(delta("unknown_version")).toBe(1);
    expect(delta("oversize")).toBe(1);
    expect(delta("unknown_topic")).toBe(1);
    expect(delta("invalid")).toBe(1);
    const parked = (await api(cp).raw("GET", "/api/inbox/rejected?limit=10")).body as { rejected: Array<{ code: string; reason: string }> };
    expect(parked.rejected.some((r) => r.code === "unknown_version" && /unknown schema version 99/.test(r.reason))).toBe(true);
    expect(parked.rejected.some((r) => r.code === "invalid" && /status/.test(r.reason))).toBe(true);
    expect(cp.logs().some((l) => l.includes("unknown schema version 99"))).toBe(true);
    expect((await api(cp).raw("GET", "/health")).status).toBe(200);
  });

  it("answers an invalid HTTP body with a 400 naming the field", async () => {
    const bad = await api(cp).raw("POST", "/api/devices", { cpuMillis: "lots" });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("cpuMillis");
    const badEnroll = await api(cp).raw("POST", "/api/hosts/enroll", { token: "x" });
    expect(badEnroll.status).toBe(400);
    expect(JSON.stringify(badEnroll.body)).toMatch(/token|hostname/);
    const notJson = await api(cp).raw("POST", "/api/devices", "{oops", { rawBody: true });
    expect(notJson.status).toBe(400);
  });
});
