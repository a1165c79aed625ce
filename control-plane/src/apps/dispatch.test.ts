// Install fan-out through the real inbox and SQLite: durable commands per device (no lifecycle generation change),
// results from agents' app.* events or failed command results, owner notifications, and preinstall once per device.
import { topics } from "@cloudphone/shared-protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Principal } from "../auth/principal.js";
import { getCommand } from "../devices/commands.js";
import { createDevice, getDevice } from "../devices/registry.js";
import { Inbox } from "../inbox/inbox.js";
import type { Db } from "../store/db.js";
import { deviceStateMessage, enrollTestHost, payloadOf, resultMessage, silentLogger, tempDb } from "../testing/fixtures.js";
import { insertTestUser } from "../users/testing.js";
import { dispatchInstalls } from "./dispatch.js";
import { listInstalls } from "./installs.js";
import { mergePreinstall, setPreinstallList } from "./preinstall.js";
import { AppStore } from "./store.js";

let db: Db;
let cleanup: () => void;
let inbox: Inbox;
let alice: Principal;
let hostId: string;
let otherHost: string;
let appId: string;
let seq = 100;

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  inbox = new Inbox(db, silentLogger());
  alice = { userId: insertTestUser(db), role: "user", scopes: "all", via: "jwt" };
  hostId = enrollTestHost(db).hostId;
  otherHost = enrollTestHost(db).hostId;
  appId = new AppStore(db).insert({ ownerId: alice.userId, sha256: "ab".repeat(32), size: 100, info: { packageName: "a.b", versionCode: 4, versionName: "4", label: null, minSdk: null }, now: 1 }).id;
});
afterEach(() => cleanup());

function device(planId: string | null = null): string {
  const r = createDevice(db, { ownerId: alice.userId, hostId, cpuMillis: 100, memoryMb: 256, diskMb: 256, width: 720, height: 1280, dpi: 320, fps: 30 }, undefined, Date.now(), { planId });
  if (!r.ok) throw new Error(r.message);
  return r.device.id;
}
const send = (m: { topic: string; body: unknown }, from = hostId) => inbox.ingest(m.topic, payloadOf(m), from);
const appEvent = (name: string, deviceId: string, data: Record<string, unknown>, from = hostId) => ({
  topic: topics.event(from, name),
  body: { id: `evt${++seq}xxxxx`, seq: ++seq, ts: 1, v: 1, hostId: from, name, deviceId, data },
});
const platformEvents = (name: string) => db.prepare("SELECT user_id, device_id, data FROM platform_outbox WHERE name = ?").all(name) as { user_id: string; device_id: string; data: string }[];

describe("dispatchInstalls", () => {
  it("writes one app command per device with the device's current generation, leaving the generation alone", () => {
    const d = device();
    const r = dispatchInstalls(db, { caller: alice, appId, action: "install", deviceIds: [d, "nope"], requestId: "req-1", traceId: "req-1" });
    if (!r.ok) throw new Error(r.message);
    expect(r.refused.map((x) => x.code)).toEqual(["device_not_found"]);
    expect(r.installs[0]!.commandId).toBe(r.commandIds[0]);
    const cmd = getCommand(db, r.commandIds[0]!)!;
    expect(cmd).toMatchObject({ action: "app_install", generation: 1, deviceId: d, hostId });
    const payload = JSON.parse(db.prepare("SELECT payload FROM commands WHERE id = ?").pluck().get(cmd.id) as string) as Record<string, unknown>;
    expect(payload).toMatchObject({ action: "app_install", installId: r.installs[0]!.id, app: { id: appId, sha256: "ab".repeat(32), size: 100, packageName: "a.b" } });
    expect(getDevice(db, d)!.generation).toBe(1);
  });

  it("settles a row from the device's host's app event and tells the owner; other hosts and duplicates change nothing", async () => {
    const d = device();
    const r = dispatchInstalls(db, { caller: alice, appId, action: "install", deviceIds: [d], requestId: null });
    if (!r.ok) throw new Error(r.message);
    const installId = r.installs[0]!.id;
    await send(appEvent("app.installed", d, { installId, appId, packageName: "a.b", versionCode: 4 }, otherHost), otherHost);
    expect(listInstalls(db, { deviceId: d })[0]!.status).toBe("pending");
    await send(appEvent("app.installed", d, { installId, appId, packageName: "a.b", versionCode: 4 }));
    await send(appEvent("app.install_failed", d, { installId, reason: "late" }));
    expect(listInstalls(db, { deviceId: d })[0]).toMatchObject({ status: "installed", error: null });
    const told = platformEvents("app.installed");
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ user_id: alice.userId, device_id: d });
    expect(JSON.parse(told[0]!.data)).toEqual({ installId, appId, packageName: "a.b", versionCode: 4 });
  });

  it("fails the row when the agent answers its command with failed", async () => {
    const d = device();
    const r = dispatchInstalls(db, { caller: alice, appId, action: "uninstall", deviceIds: [d], requestId: null });
    if (!r.ok) throw new Error(r.message);
    await send(resultMessage(hostId, d, r.commandIds[0]!, ++seq, "failed"));
    expect(listInstalls(db, { deviceId: d })[0]).toMatchObject({ status: "failed", action: "uninstall" });
    expect(platformEvents("app.install_failed")).toHaveLength(1);
  });
});

describe("preinstall", () => {
  it("merges the plan's and the user's lists, plan first, each app once", () => {
    expect(mergePreinstall(["a", "b"], ["b", "c", "a"])).toEqual(["a", "b", "c"]);
  });

  it("requests the lists' installs when a device first reports running, once", async () => {
    const second = new AppStore(db).insert({ ownerId: alice.userId, sha256: "cd".repeat(32), size: 10, info: { packageName: "c.d", versionCode: 1, versionName: "1", label: null, minSdk: null }, now: 1 }).id;
    db.prepare("INSERT INTO plans (id, name, price_minor, usage_model, usage_rate_minor, spec, created_at, updated_at) VALUES ('plan1', 'p', 0, 'per_hour', 0, '{}', 1, 1)").run();
    setPreinstallList(db, "plan", "plan1", [second]);
    setPreinstallList(db, "user", alice.userId, [appId, second]);
    const d = device("plan1");
    await send(deviceStateMessage(hostId, d, "booting", ++seq));
    expect(listInstalls(db, { deviceId: d })).toEqual([]);
    await send(deviceStateMessage(hostId, d, "running", ++seq));
    const rows = listInstalls(db, { deviceId: d });
    expect(rows.map((i) => [i.appId, i.requestId, i.status]).sort()).toEqual(
      [
        [second, `preinstall:${d}`, "pending"],
        [appId, `preinstall:${d}`, "pending"],
      ].sort(),
    );
    expect(rows.every((i) => i.commandId !== null)).toBe(true);
    // Running again later (after a restart, or once the installs are done): nothing new.
    await send(deviceStateMessage(hostId, d, "stopped", ++seq));
    await send(deviceStateMessage(hostId, d, "running", ++seq));
    expect(listInstalls(db, { deviceId: d })).toHaveLength(2);
  });
});
