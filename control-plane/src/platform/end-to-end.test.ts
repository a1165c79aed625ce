import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import mqtt from "mqtt";
import { EnrollResponse, PlatformEventMessage, parsePayload, topics } from "@cloudphone/shared-protocol";
import { startControlPlane, type RunningControlPlane } from "../main.js";
import { deviceStateMessage, payloadOf, silentLogger, statusMessage, tempDir } from "../testing/fixtures.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const waitFor = async (pred: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  expect(pred()).toBe(true);
};

describe("platform events through the whole control plane", () => {
  it("a device state change reaches an MQTT operator, the SSE stream and /metrics", async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const cp: RunningControlPlane = await startControlPlane({ dataDir: t.dir, httpPort: 0, mqttPort: 0, logLevel: "silent" }, silentLogger());
    cleanups.push(() => cp.close());
    const base = `http://127.0.0.1:${cp.httpPort}`;
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${cp.adminToken}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    // The device's owner: a user row written through a second connection (WAL allows it).
    const side = new Database(join(t.dir, "control-plane.db"));
    side.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES ('u-e2e', 'e2e@example.test', 'user', ?, ?)").run(Date.now(), Date.now());
    side.close();

    // An operator watching platform events with plain MQTT.
    const op = await call("POST", "/api/mqtt-credentials", { username: "op-watch", access: "read" });
    expect(op.status).toBe(201);
    const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${cp.mqttPort}`, { username: "op-watch", password: op.body.password as string, reconnectPeriod: 0 });
    cleanups.push(() => watcher.endAsync(true));
    const seen: PlatformEventMessage[] = [];
    watcher.on("message", (_topic, payload) => {
      const r = parsePayload(PlatformEventMessage, payload);
      if (r.ok) seen.push(r.value);
    });
    await watcher.subscribeAsync(topics.allPlatformEvents, { qos: 1 });

    // An admin's live stream of every event.
    const ac = new AbortController();
    cleanups.push(() => ac.abort());
    const stream = await fetch(`${base}/api/notifications/stream?all=true`, {
      headers: { accept: "text/event-stream", authorization: `Bearer ${cp.adminToken}` },
      signal: ac.signal,
    });
    expect(stream.status).toBe(200);
    let sse = "";
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of stream.body!) sse += decoder.decode(chunk as Uint8Array, { stream: true });
      } catch {
        // aborted at the end of the test
      }
    })();

    // A host comes online and its device starts running.
    const tok = await call("POST", "/api/enrollment-tokens", {});
    const enrolled = await fetch(`${base}/api/hosts/enroll`, {
      method: "POST",
      body: JSON.stringify({ token: tok.body.token, hostname: "rack-1", agentVersion: "0.1.0", capacity: { cpuMillis: 32_000, memoryMb: 65_536, diskMb: 1_000_000, deviceSlots: 5 } }),
    });
    const creds = EnrollResponse.parse(await enrolled.json());
    const host = await mqtt.connectAsync(creds.mqtt.url, { username: creds.mqtt.username, password: creds.mqtt.password, clientId: creds.mqtt.clientId, reconnectPeriod: 0 });
    cleanups.push(() => host.endAsync(true));
    const birth = statusMessage(creds.hostId, "online", 1);
    await host.publishAsync(birth.topic, payloadOf(birth), { qos: 1 });
    const created = await call("POST", "/api/devices", { ownerId: "u-e2e", hostId: creds.hostId });
    expect(created.status).toBe(201);
    const deviceId = created.body.id as string;
    const running = deviceStateMessage(creds.hostId, deviceId, "running", 2);
    await host.publishAsync(running.topic, payloadOf(running), { qos: 1 });

    await waitFor(() => seen.some((e) => e.name === "device.state_changed" && e.deviceId === deviceId));
    const ev = seen.find((e) => e.name === "device.state_changed")!;
    expect(ev).toMatchObject({ userId: "u-e2e", deviceId, data: { state: "running", previous: "pending" } });
    await waitFor(() => sse.includes(`"id":"${ev.id}"`));
    expect(sse).toContain(`id: ${ev.seq}\n`);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/cloudphone_hosts\{status="online"\} 1/);
    expect(metrics).toMatch(/cloudphone_devices\{state="running"\} 1/);
    expect(metrics).toMatch(/cloudphone_platform_relay_publish_total\{outcome="published"\} [1-9]/);
    expect(metrics).toContain("process_resident_memory_bytes");
    expect(metrics).toMatch(/cloudphone_http_request_duration_seconds_count\{method="POST",route="\/api\/devices",status="201"\} 1/);
  });
});
