import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { DeviceCommand, EnrollResponse, SCHEMA_VERSION, newId, topics } from "@cloudphone/shared-protocol";
import { startControlPlane, type RunningControlPlane } from "./main.js";
import { payloadOf, silentLogger, statusMessage, tempDir } from "./testing/fixtures.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(extra: Record<string, unknown> = {}): Promise<{ cp: RunningControlPlane; dir: string }> {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const cp = await startControlPlane({ dataDir: t.dir, httpPort: 0, mqttPort: 0, logLevel: "silent", ...extra }, silentLogger());
  cleanups.push(() => cp.close());
  return { cp, dir: t.dir };
}

function api(cp: RunningControlPlane) {
  return async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`http://127.0.0.1:${cp.httpPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${cp.adminToken}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
}

async function enrollAndConnect(cp: RunningControlPlane, deviceSlots = 5): Promise<{ hostId: string; client: MqttClient; commands: DeviceCommand[] }> {
  const call = api(cp);
  const { body: tok } = await call("POST", "/api/enrollment-tokens", {});
  const { status, body } = await call("POST", "/api/hosts/enroll", {
    token: tok.token, hostname: "rack-1", agentVersion: "0.1.0", capacity: { cpuMillis: 32_000, memoryMb: 65_536, diskMb: 1_000_000, deviceSlots },
  });
  expect(status).toBe(201);
  const creds = EnrollResponse.parse(body);
  expect(creds.mqtt.url).toBe(`mqtt://127.0.0.1:${cp.mqttPort}`);
  const client = await mqtt.connectAsync(creds.mqtt.url, {
    username: creds.mqtt.username, password: creds.mqtt.password, clientId: creds.mqtt.clientId, reconnectPeriod: 0,
  });
  cleanups.push(() => client.endAsync(true));
  const commands: DeviceCommand[] = [];
  client.on("message", (_t, p) => commands.push(DeviceCommand.parse(JSON.parse(p.toString()))));
  await client.subscribeAsync(topics.commands(creds.hostId), { qos: 1 });
  const birth = statusMessage(creds.hostId, "online", 1);
  await client.publishAsync(birth.topic, payloadOf(birth), { qos: 1, retain: true });
  return { hostId: creds.hostId, client, commands };
}

const waitFor = async (pred: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  expect(pred()).toBe(true);
};

describe("startControlPlane", () => {
  it("generates and keeps an admin token file (0600) when none is configured", async () => {
    const { cp, dir } = await start();
    const file = join(dir, "admin-token");
    expect(readFileSync(file, "utf8").trim()).toBe(cp.adminToken);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(cp.httpPort).toBeGreaterThan(0);
    expect(cp.mqttPort).toBeGreaterThan(0);
    const ready = await fetch(`http://127.0.0.1:${cp.httpPort}/ready`);
    expect(ready.status).toBe(200);
  });

  it("sends commands to the host, re-sends until a result, and records the result", async () => {
    const { cp } = await start({ commandResendMs: 200 });
    const call = api(cp);
    const { hostId, client, commands } = await enrollAndConnect(cp);
    const created = await call("POST", "/api/devices", { name: "phone-1" });
    expect(created.status).toBe(201);
    const commandId = created.body.commandId as string;
    await waitFor(() => commands.filter((c) => c.id === commandId).length >= 2); // first send + a re-send
    const cmd = commands.find((c) => c.id === commandId)!;
    expect(cmd).toMatchObject({ action: "create", hostId, deviceId: created.body.id, generation: 1 });
    expect(cmd.requestId).toBeDefined();
    await client.publishAsync(
      topics.results(hostId),
      JSON.stringify({ id: newId(), seq: 2, ts: Date.now(), v: SCHEMA_VERSION, hostId, deviceId: cmd.deviceId, commandId, outcome: "applied" }),
      { qos: 1 },
    );
    const view = await call("GET", `/api/commands/${commandId}`);
    expect(view.body).toMatchObject({ result: { outcome: "applied" } });
    // Once the result is committed, re-sends stop (allow one that was already in flight).
    await new Promise((r) => setTimeout(r, 50));
    const before = commands.filter((c) => c.id === commandId).length;
    await new Promise((r) => setTimeout(r, 600));
    expect(commands.filter((c) => c.id === commandId).length).toBe(before);
  });

  it("creates exactly 5 of 50 concurrent devices on a 5-slot host over real HTTP", async () => {
    const { cp } = await start();
    await enrollAndConnect(cp, 5);
    const call = api(cp);
    const results = await Promise.all(Array.from({ length: 50 }, () => call("POST", "/api/devices", { cpuMillis: 500 })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(5);
    const refused = results.filter((r) => r.status === 409);
    expect(refused).toHaveLength(45);
    expect(refused.every((r) => (r.body.error as { code: string }).code === "no_capacity")).toBe(true);
  });
});
