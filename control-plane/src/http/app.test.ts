import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorBody, EnrollResponse } from "@cloudphone/shared-protocol";
import { createApp, type App } from "./app.js";
import { Inbox } from "../inbox/inbox.js";
import type { Db } from "../store/db.js";
import { deviceStateMessage, eventMessage, payloadOf, silentLogger, statusMessage, tempDb, testAppDeps } from "../testing/fixtures.js";

const ADMIN = "admin-token-for-tests-0123456789";
let db: Db;
let cleanup: () => void;
let app: App;
let inbox: Inbox;

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  const log = silentLogger();
  inbox = new Inbox(db, log);
  app = createApp(testAppDeps(db, { log, adminToken: ADMIN, inbox }));
});
afterEach(() => cleanup());

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  app.request(path, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });

async function enroll(deviceSlots = 5): Promise<string> {
  const t = await call("POST", "/api/enrollment-tokens", { note: "rack 1" });
  expect(t.status).toBe(201);
  const { token } = (await t.json()) as { token: string };
  const r = await app.request("/api/hosts/enroll", {
    method: "POST",
    body: JSON.stringify({ token, hostname: "phone-1", agentVersion: "0.1.0", capacity: { cpuMillis: 64_000, memoryMb: 65_536, diskMb: 1_000_000, deviceSlots } }),
  });
  expect(r.status).toBe(201);
  return EnrollResponse.parse(await r.json()).hostId;
}

async function online(hostId: string) {
  const m = statusMessage(hostId, "online", 1);
  await inbox.ingest(m.topic, payloadOf(m), hostId);
}

describe("HTTP API", () => {
  it("answers liveness and readiness with per-check detail", async () => {
    expect(await (await app.request("/health")).json()).toEqual({ status: "ok" });
    const r = await app.request("/ready");
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ status: "not_ready", checks: { database: { ok: true }, broker: { ok: false } } });
  });

  it("requires the admin token on /api and uses the error shape", async () => {
    const r = await app.request("/api/hosts");
    expect(r.status).toBe(401);
    const body = ErrorBody.parse(await r.json());
    expect(body.error.code).toBe("unauthorized");
    expect(body.requestId).toBe(r.headers.get("x-request-id"));
    expect((await call("GET", "/api/hosts", undefined, { authorization: "Bearer wrong-token-wrong-token" })).status).toBe(401);
  });

  it("echoes a valid X-Request-ID and refuses an invalid one", async () => {
    const r = await call("GET", "/api/hosts", undefined, { "x-request-id": "req-123" });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-request-id")).toBe("req-123");
    const bad = await call("GET", "/api/hosts", undefined, { "x-request-id": "has space" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ErrorBody).error.fields?.[0]?.path).toBe("headers.x-request-id");
  });

  it("rejects malformed JSON and names invalid fields", async () => {
    const r1 = await call("POST", "/api/devices", "{oops");
    expect(r1.status).toBe(400);
    expect(((await r1.json()) as ErrorBody).error.code).toBe("invalid_json");
    const r2 = await call("POST", "/api/devices", { cpuMillis: 5 });
    expect(r2.status).toBe(400);
    const b2 = ErrorBody.parse(await r2.json());
    expect(b2.error.code).toBe("invalid_request");
    expect(b2.error.message).toContain("cpuMillis");
    expect(b2.error.fields?.[0]?.path).toBe("cpuMillis");
    const r3 = await call("POST", "/api/devices", { bogus: 1 });
    expect(ErrorBody.parse(await r3.json()).error.fields?.[0]?.path).toBe("bogus");
  });

  it("enrolls with a one-time token", async () => {
    const t = (await (await call("POST", "/api/enrollment-tokens", {})).json()) as { token: string; expiresAt: number };
    expect(t.expiresAt).toBeGreaterThan(Date.now());
    const body = { token: t.token, hostname: "h", agentVersion: "1", capacity: { cpuMillis: 1000, memoryMb: 1024, diskMb: 1024, deviceSlots: 1 } };
    const first = await app.request("/api/hosts/enroll", { method: "POST", body: JSON.stringify(body) });
    expect(first.status).toBe(201);
    const creds = EnrollResponse.parse(await first.json());
    expect(creds.mqtt).toMatchObject({ url: "mqtt://127.0.0.1:1883", username: creds.hostId, clientId: `host-${creds.hostId}` });
    const again = await app.request("/api/hosts/enroll", { method: "POST", body: JSON.stringify(body) });
    expect(again.status).toBe(401);
    expect(((await again.json()) as ErrorBody).error.code).toBe("invalid_enrollment_token");
    const host = (await (await call("GET", `/api/hosts/${creds.hostId}`)).json()) as { status: string; capacity: { deviceSlots: number } };
    expect(host).toMatchObject({ status: "never", capacity: { deviceSlots: 1 } });
  });

  it("refuses an expired enrollment token", async () => {
    const { token } = (await (await call("POST", "/api/enrollment-tokens", { ttlSeconds: 60 })).json()) as { token: string };
    db.prepare("UPDATE enrollment_tokens SET expires_at = 1").run();
    const r = await app.request("/api/hosts/enroll", {
      method: "POST",
      body: JSON.stringify({ token, hostname: "h", agentVersion: "1", capacity: { cpuMillis: 1, memoryMb: 1, diskMb: 1, deviceSlots: 1 } }),
    });
    expect(r.status).toBe(401);
  });

  it("places devices only on online hosts and reports why not", async () => {
    expect(((await (await call("POST", "/api/devices", {})).json()) as ErrorBody).error.code).toBe("no_host_online");
    const hostId = await enroll();
    await online(hostId);
    const r = await call("POST", "/api/devices", { name: "d1", ownerId: "u1" }, { "x-request-id": "create-1" });
    expect(r.status).toBe(201);
    const d = (await r.json()) as { id: string; hostId: string; desired: string; generation: number; state: string; commandId: string };
    expect(d).toMatchObject({ hostId, desired: "running", generation: 1, state: "pending" });
    const cmd = (await (await call("GET", `/api/commands/${d.commandId}`)).json()) as { action: string; requestId: string; result: null };
    expect(cmd).toMatchObject({ action: "create", requestId: "create-1", result: null });
    const pinned = await call("POST", "/api/devices", { hostId: "no-such-host" });
    expect(pinned.status).toBe(404);
    expect(((await pinned.json()) as ErrorBody).error.code).toBe("host_not_found");
    const host = (await (await call("GET", `/api/hosts/${hostId}`)).json()) as { used: { deviceSlots: number }; free: { deviceSlots: number } };
    expect(host.used.deviceSlots).toBe(1);
    expect(host.free.deviceSlots).toBe(4);
  });

  it("never oversubscribes under 50 concurrent creates on a 5-slot host", async () => {
    const hostId = await enroll(5);
    await online(hostId);
    const results = await Promise.all(Array.from({ length: 50 }, () => call("POST", "/api/devices", { cpuMillis: 1000 })));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 409)).toHaveLength(45);
    const codes = await Promise.all(results.filter((r) => r.status === 409).map(async (r) => ((await r.json()) as ErrorBody).error.code));
    expect(new Set(codes)).toEqual(new Set(["no_capacity"]));
    expect((db.prepare("SELECT COUNT(*) AS n FROM devices").get() as { n: number }).n).toBe(5);
  });

  it("runs lifecycle actions with increasing generations and refuses actions on deleted devices", async () => {
    const hostId = await enroll();
    await online(hostId);
    const d = (await (await call("POST", "/api/devices", {})).json()) as { id: string };
    const stop = await call("POST", `/api/devices/${d.id}/stop`);
    expect(stop.status).toBe(202);
    expect(await stop.json()).toMatchObject({ device: { desired: "stopped", generation: 2 } });
    expect(((await (await call("POST", `/api/devices/${d.id}/restart`)).json()) as { device: { generation: number } }).device.generation).toBe(3);
    const del = await call("DELETE", `/api/devices/${d.id}`);
    expect(del.status).toBe(202);
    expect(await del.json()).toMatchObject({ device: { desired: "deleted", generation: 4 } });
    const again = await call("POST", `/api/devices/${d.id}/start`);
    expect(again.status).toBe(409);
    expect(((await again.json()) as ErrorBody).error.code).toBe("device_deleted");
    expect((await call("POST", "/api/devices/nope/start")).status).toBe(404);
    // The agent reports the deletion: the device leaves the default list and frees its slot.
    const m = deviceStateMessage(hostId, d.id, "deleted", 9, "deleted");
    await inbox.ingest(m.topic, payloadOf(m), hostId);
    expect(((await (await call("GET", "/api/devices")).json()) as { devices: unknown[] }).devices).toHaveLength(0);
    expect(((await (await call("GET", "/api/devices?includeDeleted=true")).json()) as { devices: unknown[] }).devices).toHaveLength(1);
    expect(((await (await call("GET", `/api/hosts/${hostId}`)).json()) as { used: { deviceSlots: number } }).used.deviceSlots).toBe(0);
  });

  it("lists events by host and seq, and exposes inbox stats and rejected messages", async () => {
    const hostId = await enroll();
    for (const seq of [3, 1, 2]) {
      const m = eventMessage(hostId, "device.started", seq, "dev-a");
      await inbox.ingest(m.topic, payloadOf(m), hostId);
    }
    await inbox.ingest(`cloudphone/v1/hosts/${hostId}/status`, Buffer.from("nope"), hostId);
    const ev = (await (await call("GET", `/api/events?hostId=${hostId}&limit=10`)).json()) as { events: { seq: number; deviceId: string }[] };
    expect(ev.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    const stats = (await (await call("GET", "/api/inbox/stats")).json()) as { accepted: Record<string, number>; rejected: Record<string, number> };
    expect(stats.accepted.event).toBe(3);
    expect(stats.rejected.malformed_json).toBe(1);
    const rej = (await (await call("GET", "/api/inbox/rejected?limit=5")).json()) as { rejected: { code: string; payloadExcerpt: string }[] };
    expect(rej.rejected[0]).toMatchObject({ code: "malformed_json", payloadExcerpt: "nope" });
    expect((await call("GET", "/api/inbox/rejected?limit=0")).status).toBe(400);
  });

  it("creates operator MQTT credentials once per username", async () => {
    const r = await call("POST", "/api/mqtt-credentials", { username: "op-alice", access: "read" });
    expect(r.status).toBe(201);
    expect(((await r.json()) as { password: string }).password.length).toBeGreaterThanOrEqual(16);
    expect((await call("POST", "/api/mqtt-credentials", { username: "op-alice", access: "read" })).status).toBe(409);
    const bad = await call("POST", "/api/mqtt-credentials", { username: "alice", access: "read" });
    expect(ErrorBody.parse(await bad.json()).error.fields?.[0]?.path).toBe("username");
  });

  it("revokes a host", async () => {
    const hostId = await enroll();
    const r = await call("DELETE", `/api/hosts/${hostId}`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ host: { id: hostId }, disconnected: false });
    expect((await call("DELETE", "/api/hosts/unknown")).status).toBe(404);
    expect((await call("POST", "/api/devices", { hostId })).status).toBe(409);
  });
});
