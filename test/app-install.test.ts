// App install fan-out end to end (issue 4: A2): a real control plane, a real agent, real dockerd, test devices with
// the real adb server, and a real signed APK. One request installs on 5 devices with 5 independent results, the
// package shows in `pm list packages` on each, uninstall removes it; a corrupted cache file is fetched again; a
// device of another user is refused per device; a plan's preinstall list is installed when a bought device first runs.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api } from "./support/api.js";
import { buildTestApk } from "./support/apk.js";
import { startAgent, startControlPlane, type AgentHandle, type ControlPlaneHandle } from "./support/processes.js";
import { callAs, registerUser, type TestUser } from "./support/users.js";
import { waitFor } from "./support/wait.js";

const SPEC = { cpuMillis: 100, memoryMb: 256, diskMb: 256 };
const PKG = "io.cloudphone.test.fanout";
const PRE_PKG = "io.cloudphone.test.preinstall";

let cp: ControlPlaneHandle;
let agent: AgentHandle;
let alice: TestUser;
let bob: TestUser;
let db: Database.Database;

interface Install {
  id: string;
  deviceId: string;
  status: string;
  error: string | null;
  action: string;
  requestId: string | null;
}
interface App {
  id: string;
  sha256: string;
  packageName: string;
}

const call = <T = Record<string, unknown>>(token: string, method: string, path: string, body?: unknown) => callAs<T>(cp.httpUrl, token, method, path, body);

async function upload(token: string, path: string): Promise<App> {
  const res = await fetch(`${cp.httpUrl}/api/apps`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/vnd.android.package-archive" },
    body: readFileSync(path),
  });
  expect([200, 201]).toContain(res.status);
  return (await res.json()) as App;
}

async function createDevice(ownerId: string): Promise<string> {
  const res = await api(cp).createDevice({ ...SPEC, ownerId });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function waitRunning(ids: string[]): Promise<void> {
  await waitFor(async () => {
    const body = (await agent.localApi("/v1/devices")) as { devices: { deviceId: string; state: string }[] };
    return ids.every((id) => body.devices.find((d) => d.deviceId === id)?.state === "running") || undefined;
  }, { timeoutMs: 60_000, message: `${ids.length} devices running` });
}

async function packages(deviceId: string): Promise<string[]> {
  const r = (await agent.localApiPost(`/v1/devices/${deviceId}/exec`, { cmd: ["pm", "list", "packages", "-3"] })) as {
    status: number;
    body: { exitCode: number; stdout: string };
  };
  expect(r.status).toBe(200);
  expect(r.body.exitCode).toBe(0);
  return r.body.stdout.split("\n").filter(Boolean).map((l) => l.replace(/^package:/, ""));
}

async function waitSettled(token: string, appId: string, ids: string[]): Promise<Install[]> {
  return waitFor(async () => {
    const r = await call<{ installs: Install[] }>(token, "GET", `/api/apps/${appId}/installs`);
    const mine = r.body.installs.filter((i) => ids.includes(i.id));
    return mine.length === ids.length && mine.every((i) => i.status !== "pending") ? mine : undefined;
  }, { timeoutMs: 60_000, message: `${ids.length} installs settled` });
}

const platformEvents = (name: string, userId: string) =>
  (db.prepare("SELECT data FROM platform_outbox WHERE name = ? AND user_id = ?").pluck().all(name, userId) as string[]).map(
    (d) => JSON.parse(d) as Record<string, unknown>,
  );

beforeAll(async () => {
  cp = await startControlPlane({
    commandResendMs: 500,
    env: { CLOUDPHONE_CP_RATE_LIMIT_PER_MINUTE: "100000", CLOUDPHONE_CP_DEFAULT_QUOTA_DEVICES: "20" },
  });
  agent = await startAgent({
    controlPlane: cp,
    token: await api(cp).createEnrollmentToken(),
    capacity: { cpuMillis: 64_000, memoryMb: 262_144, diskMb: 1_000_000, deviceSlots: 10 },
    config: { reconcileIntervalMs: 1000, adb: { healthIntervalMs: 2000, probeIntervalMs: 100 } },
  });
  await waitFor(async () => (await api(cp).listHosts()).find((h) => h.id === agent.hostId && h.status === "online"), { message: "host online" });
  alice = await registerUser(cp.httpUrl, "alice", 100_000);
  bob = await registerUser(cp.httpUrl, "bob");
  db = new Database(join(cp.dataDir, "control-plane.db"), { readonly: true, fileMustExist: true });
});

afterAll(async () => {
  db?.close();
  await agent?.stop();
  await cp?.stop();
});

let app: App;
let devices: string[] = [];

describe("app install fan-out", () => {
  it("installs on 5 devices with one request: 5 results, the package on each", async () => {
    app = await upload(alice.token, buildTestApk({ packageName: PKG, versionCode: 3, versionName: "3.0" }));
    devices = await Promise.all(Array.from({ length: 5 }, () => createDevice(alice.id)));
    await waitRunning(devices);

    const r = await call<{ installs: Install[]; refused: unknown[] }>(alice.token, "POST", `/api/apps/${app.id}/install`, { deviceIds: devices });
    expect(r.status).toBe(202);
    expect(r.body.refused).toEqual([]);
    expect(r.body.installs.map((i) => i.deviceId).sort()).toEqual([...devices].sort());
    const settled = await waitSettled(alice.token, app.id, r.body.installs.map((i) => i.id));
    expect(settled.map((i) => [i.status, i.error])).toEqual(devices.map(() => ["installed", null]));
    for (const id of devices) expect(await packages(id)).toContain(PKG);

    // The device's own view, and the owner was told per device (platform events → SSE).
    const own = await call<{ installs: Install[] }>(alice.token, "GET", `/api/devices/${devices[0]}/apps`);
    expect(own.body.installs).toEqual([expect.objectContaining({ appId: app.id, status: "installed", action: "install" })]);
    const told = platformEvents("app.installed", alice.id);
    expect(told).toHaveLength(5);
    expect(told[0]).toMatchObject({ appId: app.id, packageName: PKG, versionCode: 3 });
    // One download for five devices: the agent cached the APK under its digest.
    expect(readFileSync(join(agent.dataDir, "apk-cache", `${app.sha256}.apk`)).length).toBeGreaterThan(0);
  });

  it("refuses another user's device per device; the others go ahead", async () => {
    const bobs = await createDevice(bob.id);
    const r = await call<{ installs: Install[]; refused: { deviceId: string; code: string }[] }>(alice.token, "POST", `/api/apps/${app.id}/uninstall`, {
      deviceIds: [devices[0], bobs, "no-such-device"],
    });
    expect(r.status).toBe(202);
    expect(r.body.refused).toEqual([
      expect.objectContaining({ deviceId: bobs, code: "device_not_found" }),
      expect.objectContaining({ deviceId: "no-such-device", code: "device_not_found" }),
    ]);
    expect(r.body.installs.map((i) => i.deviceId)).toEqual([devices[0]]);
    // Bob cannot see alice's app, nor install it.
    expect((await call(bob.token, "POST", `/api/apps/${app.id}/install`, { deviceIds: [bobs] })).status).toBe(404);
    await waitSettled(alice.token, app.id, r.body.installs.map((i) => i.id));
  });

  it("uninstalls: gone from pm list packages", async () => {
    const rest = devices.slice(1);
    const r = await call<{ installs: Install[] }>(alice.token, "POST", `/api/apps/${app.id}/uninstall`, { deviceIds: rest });
    expect(r.status).toBe(202);
    const settled = await waitSettled(alice.token, app.id, r.body.installs.map((i) => i.id));
    expect(settled.every((i) => i.status === "uninstalled")).toBe(true);
    for (const id of devices) expect(await packages(id)).not.toContain(PKG);
    expect(platformEvents("app.uninstalled", alice.id)).toHaveLength(5);
  });

  it("fetches a corrupted cache file again before installing", async () => {
    const cached = join(agent.dataDir, "apk-cache", `${app.sha256}.apk`);
    const good = readFileSync(cached);
    const bad = Buffer.from(good);
    bad.writeUInt8(bad.readUInt8(bad.length - 10) ^ 0xff, bad.length - 10); // same size, wrong content
    writeFileSync(cached, bad);
    const r = await call<{ installs: Install[] }>(alice.token, "POST", `/api/apps/${app.id}/install`, { deviceIds: [devices[0]] });
    const [done] = await waitSettled(alice.token, app.id, r.body.installs.map((i) => i.id));
    expect(done).toMatchObject({ status: "installed", error: null });
    expect(readFileSync(cached).equals(good)).toBe(true);
    expect(await packages(devices[0]!)).toContain(PKG);
    expect(agent.logs().some((l) => l.includes("cached APK is corrupt"))).toBe(true);
  });

  it("preinstalls a plan's app when a bought device first runs, once", async () => {
    const pre = await upload(cp.adminToken, buildTestApk({ packageName: PRE_PKG, versionCode: 1, versionName: "1" }));
    const plan = await call<{ id: string }>(cp.adminToken, "POST", "/api/admin/plans", {
      name: "With preinstall",
      priceMinor: 100,
      usageModel: "per_hour",
      usageRateMinor: 0,
      spec: { ...SPEC, width: 720, height: 1280, dpi: 320, fps: 30 },
    });
    expect(plan.status).toBe(201);
    const set = await call(cp.adminToken, "PUT", `/api/admin/plans/${plan.body.id}/preinstall`, { appIds: [pre.id, pre.id] });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ appIds: [pre.id] });
    // The user's own list adds their app (the plan's comes first; each app once).
    expect((await call(alice.token, "PUT", "/api/me/preinstall", { appIds: [app.id] })).status).toBe(200);
    expect((await call(bob.token, "PUT", "/api/me/preinstall", { appIds: [app.id] })).status).toBe(400);

    const order = await call<{ order: { deviceId: string } }>(alice.token, "POST", "/api/orders", { planId: plan.body.id });
    expect(order.status).toBe(202);
    const deviceId = order.body.order.deviceId;
    const installs = await waitFor(async () => {
      const r = await call<{ installs: (Install & { appId: string })[] }>(alice.token, "GET", `/api/devices/${deviceId}/apps`);
      return r.body.installs.length === 2 && r.body.installs.every((i) => i.status === "installed") ? r.body.installs : undefined;
    }, { timeoutMs: 60_000, message: "preinstalls installed" });
    expect(installs.map((i) => [i.appId, i.requestId]).sort()).toEqual(
      [
        [pre.id, `preinstall:${deviceId}`],
        [app.id, `preinstall:${deviceId}`],
      ].sort(),
    );
    const pkgs = await packages(deviceId);
    expect(pkgs).toContain(PRE_PKG);
    expect(pkgs).toContain(PKG);

    // A restart brings the device back to running: no second preinstall.
    expect((await call(alice.token, "POST", `/api/devices/${deviceId}/restart`)).status).toBe(202);
    await waitFor(async () => {
      const d = await call<{ state: string; generation: number }>(alice.token, "GET", `/api/devices/${deviceId}`);
      return d.body.state === "running" && d.body.generation === 2 ? true : undefined;
    }, { timeoutMs: 60_000, message: "restarted" });
    const after = await call<{ installs: Install[] }>(alice.token, "GET", `/api/devices/${deviceId}/apps`);
    expect(after.body.installs).toHaveLength(2);
  });
});
