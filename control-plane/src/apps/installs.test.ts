import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Principal } from "../auth/principal.js";
import { applyDeviceAction, createDevice } from "../devices/registry.js";
import type { Db } from "../store/db.js";
import { enrollTestHost, tempDb } from "../testing/fixtures.js";
import { insertTestUser } from "../users/testing.js";
import { attachCommand, listInstalls, recordInstallResult, requestInstalls } from "./installs.js";
import { AppStore } from "./store.js";

let db: Db;
let cleanup: () => void;
let store: AppStore;
let alice: Principal;
let bob: Principal;
let hostA: string;
let hostB: string;
let appId: string;
const sha = "ab".repeat(32);

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  store = new AppStore(db);
  alice = { userId: insertTestUser(db), role: "user", scopes: "all", via: "jwt" };
  bob = { userId: insertTestUser(db), role: "user", scopes: "all", via: "jwt" };
  hostA = enrollTestHost(db).hostId;
  hostB = enrollTestHost(db).hostId;
  appId = store.insert({ ownerId: alice.userId, sha256: sha, size: 100, info: { packageName: "a.b", versionCode: 1, versionName: "1", label: null, minSdk: null }, now: 1 }).id;
});
afterEach(() => cleanup());

function device(ownerId: string, hostId: string): string {
  const r = createDevice(db, { ownerId, hostId, cpuMillis: 100, memoryMb: 256, diskMb: 256, width: 720, height: 1280, dpi: 320, fps: 30 }, undefined);
  if (!r.ok) throw new Error(r.message);
  return r.device.id;
}

describe("requestInstalls (fan-out rows in SQLite)", () => {
  it("writes one pending row per accepted device and a per-device refusal for the rest", () => {
    const d1 = device(alice.userId, hostA);
    const d2 = device(alice.userId, hostB);
    const theirs = device(bob.userId, hostA);
    const r = requestInstalls(db, { caller: alice, appId, action: "install", deviceIds: [d1, theirs, d2, "nope"], requestId: "req-9", now: 50 });
    if (!r.ok) throw new Error(r.message);
    expect(r.installs.map((i) => [i.deviceId, i.hostId, i.status])).toEqual([[d1, hostA, "pending"], [d2, hostB, "pending"]]);
    expect(r.refused.map((x) => [x.deviceId, x.code])).toEqual([[theirs, "device_not_found"], ["nope", "device_not_found"]]);
    const rows = listInstalls(db, { appId });
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ appId, action: "install", status: "pending", error: null, commandId: null, requestId: "req-9", createdAt: 50, updatedAt: 50 });
  });

  it("refuses a device that already has a request pending, until its result is in", () => {
    const d1 = device(alice.userId, hostA);
    const first = requestInstalls(db, { caller: alice, appId, action: "install", deviceIds: [d1], requestId: null });
    const again = requestInstalls(db, { caller: alice, appId, action: "uninstall", deviceIds: [d1], requestId: null });
    expect(again.ok && again.refused.map((x) => x.code)).toEqual(["install_pending"]);
    if (!first.ok) throw new Error("expected rows");
    expect(recordInstallResult(db, first.installs[0]!.id, "installed", null).ok).toBe(true);
    const third = requestInstalls(db, { caller: alice, appId, action: "uninstall", deviceIds: [d1], requestId: null });
    expect(third.ok && third.installs).toHaveLength(1);
  });

  it("refuses devices being deleted and devices of a revoked host", () => {
    const dying = device(alice.userId, hostA);
    expect(applyDeviceAction(db, dying, "delete", undefined).ok).toBe(true);
    const onRevoked = device(alice.userId, hostB);
    db.prepare("UPDATE hosts SET revoked_at = 1 WHERE id = ?").run(hostB);
    const r = requestInstalls(db, { caller: alice, appId, action: "install", deviceIds: [dying, onRevoked], requestId: null });
    expect(r.ok && r.refused.map((x) => x.code)).toEqual(["device_deleted", "host_revoked"]);
    expect(listInstalls(db, { appId })).toEqual([]);
  });

  it("another user's app is app_not_found and writes nothing", () => {
    const d = device(bob.userId, hostA);
    expect(requestInstalls(db, { caller: bob, appId, action: "install", deviceIds: [d], requestId: null })).toMatchObject({ ok: false, code: "app_not_found" });
    expect(listInstalls(db, {})).toEqual([]);
  });

  it("composes with the caller's transaction: rolled back with it", () => {
    const d1 = device(alice.userId, hostA);
    expect(() =>
      db.transaction(() => {
        requestInstalls(db, { caller: alice, appId, action: "install", deviceIds: [d1], requestId: null });
        throw new Error("command insert failed");
      })(),
    ).toThrow("command insert failed");
    expect(listInstalls(db, {})).toEqual([]);
  });
});

describe("install results", () => {
  it("records a result once per row, only with a status that fits the action, and links a command once", () => {
    const d1 = device(alice.userId, hostA);
    const d2 = device(alice.userId, hostA);
    const r = requestInstalls(db, { caller: alice, appId, action: "install", deviceIds: [d1, d2], requestId: null, now: 10 });
    if (!r.ok) throw new Error("expected rows");
    const [i1, i2] = r.installs;
    expect(attachCommand(db, i1!.id, "cmd-1")).toBe(true);
    expect(attachCommand(db, i1!.id, "cmd-2")).toBe(false);
    expect(recordInstallResult(db, i1!.id, "uninstalled", null)).toMatchObject({ ok: false, code: "invalid_status" });
    expect(recordInstallResult(db, i1!.id, "installed", "ignored", 20)).toMatchObject({ ok: true, install: { status: "installed", error: null, commandId: "cmd-1", updatedAt: 20 } });
    expect(recordInstallResult(db, i2!.id, "failed", "INSTALL_FAILED_OLDER_SDK", 21)).toMatchObject({ ok: true, install: { status: "failed", error: "INSTALL_FAILED_OLDER_SDK" } });
    expect(recordInstallResult(db, i2!.id, "installed", null)).toMatchObject({ ok: false, code: "already_final" });
    expect(recordInstallResult(db, "nope", "installed", null)).toMatchObject({ ok: false, code: "install_not_found" });
    expect(listInstalls(db, { deviceId: d2 }).map((i) => i.status)).toEqual(["failed"]);
  });

  it("the schema refuses a status that does not fit the action and a second pending row", () => {
    const d1 = device(alice.userId, hostA);
    const ins = db.prepare("INSERT INTO app_installs (id, app_id, device_id, action, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, 1)");
    expect(() => ins.run("x1", appId, d1, "uninstall", "installed")).toThrow(/CHECK constraint failed/);
    ins.run("x2", appId, d1, "install", "pending");
    expect(() => ins.run("x3", appId, d1, "uninstall", "pending")).toThrow(/UNIQUE constraint failed/);
  });

  it("a host may fetch the APK only while one of its devices has an install pending; the file stays referenced until then", () => {
    const d1 = device(alice.userId, hostA);
    expect(store.hostHasPendingInstall(appId, hostA)).toBe(false);
    const r = requestInstalls(db, { caller: alice, appId, action: "install", deviceIds: [d1], requestId: null });
    if (!r.ok) throw new Error("expected rows");
    expect(store.hostHasPendingInstall(appId, hostA)).toBe(true);
    expect(store.hostHasPendingInstall(appId, hostB)).toBe(false);
    expect(store.softDelete(appId, 99)).toBe(true);
    expect(store.isContentReferenced(sha)).toBe(true); // deleted, but an install still needs the file
    recordInstallResult(db, r.installs[0]!.id, "installed", null);
    expect(store.hostHasPendingInstall(appId, hostA)).toBe(false);
    expect(store.isContentReferenced(sha)).toBe(false);
  });
});
