import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AppView, DeleteAppResponse, ListAppsResponse } from "@cloudphone/shared-protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp, type App, type AppDeps } from "./app.js";
import type { Db } from "../store/db.js";
import { enrollTestHost, tempDb, testAppDeps } from "../testing/fixtures.js";
import { testUser } from "../users/testing.js";
import { createDevice } from "../devices/registry.js";
import { recordInstallResult, requestInstalls } from "../apps/installs.js";
import { buildTestApk, buildZip } from "../apps/testing/apk.js";

const MiB = 1024 * 1024;
// Real signed APKs, built once for the file (aapt + apksigner).
const APK_V1 = buildTestApk({ packageName: "org.cloudphone.sample", versionCode: 1, versionName: "1.0", label: "Sample", minSdk: 24 });
const APK_V2 = buildTestApk({ packageName: "org.cloudphone.sample", versionCode: 2, versionName: "2.0" });
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

let db: Db;
let dir: string;
let cleanup: () => void;
let deps: AppDeps;
let app: App;
let alice: ReturnType<typeof testUser>;
let bob: ReturnType<typeof testUser>;
let admin: Record<string, string>;
let appsDir: string;

beforeEach(() => {
  ({ db, dir, cleanup } = tempDb());
  deps = testAppDeps(db, { config: { dataDir: dir, apkMaxBytes: 2 * MiB } });
  app = createApp(deps);
  alice = testUser(db, deps.config);
  bob = testUser(db, deps.config);
  admin = { authorization: `Bearer ${deps.adminToken}` };
  appsDir = join(dir, "apks");
});
afterEach(() => cleanup());

const upload = (headers: Record<string, string>, body: Buffer | ReadableStream<Uint8Array>, contentType = "application/vnd.android.package-archive") =>
  app.request("/api/apps", {
    method: "POST",
    headers: { authorization: headers.authorization!, "content-type": contentType },
    body,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);

const json = async <T>(r: Response) => (await r.json()) as T;
const stored = () => (existsSync(appsDir) ? readdirSync(appsDir).filter((n) => n !== ".tmp").sort() : []);
const temps = () => (existsSync(join(appsDir, ".tmp")) ? readdirSync(join(appsDir, ".tmp")) : []);
const appRows = () => db.prepare("SELECT COUNT(*) FROM apps").pluck().get() as number;

describe("POST /api/apps", () => {
  it("stores a real APK by content and answers its manifest data", async () => {
    const r = await upload(alice.headers, APK_V1);
    expect(r.status).toBe(201);
    const a = await json<AppView>(r);
    expect(a).toMatchObject({
      ownerId: alice.userId, sha256: sha(APK_V1), size: APK_V1.length, packageName: "org.cloudphone.sample",
      versionCode: 1, versionName: "1.0", label: "Sample", minSdk: 24, deletedAt: null,
    });
    expect(stored()).toEqual([`${sha(APK_V1)}.apk`]);
    expect(readFileSync(join(appsDir, `${a.sha256}.apk`)).equals(APK_V1)).toBe(true);
    expect(temps()).toEqual([]);
  });

  it("deduplicates: the same owner gets the existing app (200), another owner a record of their own over the same file", async () => {
    const first = await json<AppView>(await upload(alice.headers, APK_V1));
    const again = await upload(alice.headers, APK_V1);
    expect(again.status).toBe(200);
    expect((await json<AppView>(again)).id).toBe(first.id);
    const octet = await upload(alice.headers, APK_V1, "application/octet-stream");
    expect(octet.status).toBe(200);
    const bobs = await upload(bob.headers, APK_V1);
    expect(bobs.status).toBe(201);
    const b = await json<AppView>(bobs);
    expect(b.id).not.toBe(first.id);
    expect(b).toMatchObject({ ownerId: bob.userId, sha256: first.sha256, packageName: "org.cloudphone.sample" });
    expect(stored()).toEqual([`${first.sha256}.apk`]);
    expect(appRows()).toBe(2);
  });

  it("413 payload_too_large as soon as a streamed body crosses apkMaxBytes (2 MiB of 3 MiB), and nothing remains", async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled === 48) return c.close(); // 48 × 64 KiB = 3 MiB
        pulled++;
        c.enqueue(new Uint8Array(64 * 1024).fill(7));
      },
    });
    const r = await upload(alice.headers, body);
    expect(r.status).toBe(413);
    expect((await json<{ error: { code: string; message: string } }>(r)).error).toEqual({
      code: "payload_too_large", message: `the APK is larger than apkMaxBytes (${2 * MiB} bytes)`,
    });
    expect(r.headers.get("connection")).toBe("close");
    expect(pulled).toBeLessThan(40); // reading stopped near 2 MiB, not at the end
    expect(stored()).toEqual([]);
    expect(temps()).toEqual([]);
    expect(appRows()).toBe(0);
  });

  it("413 at once when Content-Length declares more than apkMaxBytes", async () => {
    const r = await app.request("/api/apps", {
      method: "POST",
      headers: { ...alice.headers, "content-type": "application/octet-stream", "content-length": String(3 * MiB) },
      body: Buffer.alloc(3 * MiB),
    });
    expect(r.status).toBe(413);
    expect(existsSync(appsDir)).toBe(false); // not even a temp file was opened
  });

  it("400 invalid_apk for what is not an APK, with a precise message, nothing stored", async () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.from("this is not an apk\n".repeat(100)), /^not an APK: not a zip archive/],
      [buildZip({ "classes.dex": "x" }), /^not an APK: the archive has no AndroidManifest.xml at its root$/],
      [buildZip({ "AndroidManifest.xml": "<manifest package=\"a.b\"/>" }), /plain-text XML/],
    ];
    for (const [bytes, message] of cases) {
      const r = await upload(alice.headers, bytes);
      expect(r.status).toBe(400);
      const e = (await json<{ error: { code: string; message: string } }>(r)).error;
      expect(e.code).toBe("invalid_apk");
      expect(e.message).toMatch(message);
    }
    const empty = await upload(alice.headers, Buffer.alloc(0));
    expect(empty.status).toBe(400);
    expect((await json<{ error: { code: string } }>(empty)).error.code).toBe("invalid_apk");
    expect(stored()).toEqual([]);
    expect(temps()).toEqual([]);
    expect(appRows()).toBe(0);
  });

  it("415 for another Content-Type", async () => {
    const r = await upload(alice.headers, APK_V1, "application/json");
    expect(r.status).toBe(415);
    expect((await json<{ error: { code: string; message: string } }>(r)).error.message).toContain("application/vnd.android.package-archive");
    expect(appRows()).toBe(0);
  });
});

describe("GET/DELETE /api/apps", () => {
  it("users see their own apps; another user's app is 404 like a missing one; admins see all", async () => {
    const a1 = await json<AppView>(await upload(alice.headers, APK_V1));
    const a2 = await json<AppView>(await upload(alice.headers, APK_V2));
    const b1 = await json<AppView>(await upload(bob.headers, APK_V1));
    const list = await json<ListAppsResponse>(await app.request("/api/apps", { headers: alice.headers }));
    expect(list.apps.map((a) => a.id)).toEqual([a2.id, a1.id]);
    const page = await json<ListAppsResponse>(await app.request("/api/apps?limit=1", { headers: alice.headers }));
    expect(page).toMatchObject({ apps: [{ id: a2.id }], nextBefore: a2.id });
    const next = await json<ListAppsResponse>(await app.request(`/api/apps?limit=1&before=${page.nextBefore}`, { headers: alice.headers }));
    expect(next.apps.map((a) => a.id)).toEqual([a1.id]);
    expect(next.nextBefore).toBeUndefined();
    // ownerId is ignored for non-admins
    const sneaky = await json<ListAppsResponse>(await app.request(`/api/apps?ownerId=${bob.userId}`, { headers: alice.headers }));
    expect(sneaky.apps.map((a) => a.id)).toEqual([a2.id, a1.id]);
    const all = await json<ListAppsResponse>(await app.request("/api/apps", { headers: admin }));
    expect(all.apps.map((a) => a.id).sort()).toEqual([a1.id, a2.id, b1.id].sort());
    const bobsOnly = await json<ListAppsResponse>(await app.request(`/api/apps?ownerId=${bob.userId}`, { headers: admin }));
    expect(bobsOnly.apps.map((a) => a.id)).toEqual([b1.id]);
    const byPkg = await json<ListAppsResponse>(await app.request("/api/apps?packageName=org.cloudphone.sample", { headers: bob.headers }));
    expect(byPkg.apps.map((a) => a.id)).toEqual([b1.id]);

    expect((await app.request(`/api/apps/${a1.id}`, { headers: alice.headers })).status).toBe(200);
    expect((await app.request(`/api/apps/${a1.id}`, { headers: admin })).status).toBe(200);
    for (const [method, path] of [["GET", `/api/apps/${a1.id}`], ["DELETE", `/api/apps/${a1.id}`], ["GET", `/api/apps/${a1.id}/download`]] as const) {
      const theirs = await app.request(path, { method, headers: bob.headers });
      const missing = await app.request(path.replace(a1.id, "0".repeat(26)), { method, headers: bob.headers });
      expect(theirs.status, `${method} ${path}`).toBe(404);
      const [t, m] = [await json<{ error: unknown }>(theirs), await json<{ error: unknown }>(missing)];
      expect(JSON.stringify(t.error).replace(a1.id, "ID")).toBe(JSON.stringify(m.error).replace("0".repeat(26), "ID"));
    }
    expect(appRows()).toBe(3); // bob's DELETE did nothing
  });

  it("DELETE is a soft delete; the file goes when no other live app shares it", async () => {
    const a = await json<AppView>(await upload(alice.headers, APK_V1));
    const b = await json<AppView>(await upload(bob.headers, APK_V1));
    const d1 = await app.request(`/api/apps/${a.id}`, { method: "DELETE", headers: alice.headers });
    expect(d1.status).toBe(200);
    const body1 = await json<DeleteAppResponse>(d1);
    expect(body1.fileRemoved).toBe(false); // bob's app still uses it
    expect(body1.app.deletedAt).toEqual(expect.any(Number));
    expect(stored()).toEqual([`${a.sha256}.apk`]);
    expect((await app.request(`/api/apps/${a.id}`, { headers: alice.headers })).status).toBe(404);
    expect((await app.request(`/api/apps/${a.id}`, { method: "DELETE", headers: alice.headers })).status).toBe(404);
    const d2 = await json<DeleteAppResponse>(await app.request(`/api/apps/${b.id}`, { method: "DELETE", headers: bob.headers }));
    expect(d2.fileRemoved).toBe(true);
    expect(stored()).toEqual([]);
    expect(db.prepare("SELECT COUNT(*) FROM apps WHERE deleted_at IS NOT NULL").pluck().get()).toBe(2);
    // Uploading it again stores it again, as a new app.
    const again = await upload(alice.headers, APK_V1);
    expect(again.status).toBe(201);
    expect((await json<AppView>(again)).id).not.toBe(a.id);
    expect(stored()).toEqual([`${a.sha256}.apk`]);
  });
});

describe("GET /api/apps/:id/download", () => {
  const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });

  function pendingInstallOn(hostId: string, appId: string): string {
    const d = createDevice(db, { ownerId: alice.userId, hostId, cpuMillis: 100, memoryMb: 256, diskMb: 256, width: 720, height: 1280, dpi: 320, fps: 30 }, undefined);
    if (!d.ok) throw new Error(d.message);
    const r = requestInstalls(db, { caller: { userId: alice.userId, role: "user", scopes: "all", via: "jwt" }, appId, action: "install", deviceIds: [d.device.id], requestId: null });
    if (!r.ok || r.installs.length !== 1) throw new Error("install not planned");
    return r.installs[0]!.id;
  }

  it("streams the file to its owner with ETag and digest headers; If-None-Match gives 304", async () => {
    const a = await json<AppView>(await upload(alice.headers, APK_V1));
    const r = await app.request(`/api/apps/${a.id}/download`, { headers: alice.headers });
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(APK_V1)).toBe(true);
    expect(r.headers.get("content-type")).toBe("application/vnd.android.package-archive");
    expect(r.headers.get("content-length")).toBe(String(APK_V1.length));
    expect(r.headers.get("etag")).toBe(`"${a.sha256}"`);
    const b64 = createHash("sha256").update(APK_V1).digest("base64");
    expect(r.headers.get("repr-digest")).toBe(`sha-256=:${b64}:`);
    expect(r.headers.get("digest")).toBe(`sha-256=${b64}`);
    expect(r.headers.get("content-disposition")).toBe('attachment; filename="org.cloudphone.sample-1.apk"');
    const cached = await app.request(`/api/apps/${a.id}/download`, { headers: { ...alice.headers, "if-none-match": `"${a.sha256}"` } });
    expect(cached.status).toBe(304);
    const head = await app.request(`/api/apps/${a.id}/download`, { method: "HEAD", headers: alice.headers });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(APK_V1.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    expect((await app.request(`/api/apps/${a.id}/download`, { headers: admin })).status).toBe(200);
  });

  it("an agent fetches it with its host credential (Basic) while an install is pending on one of its devices", async () => {
    const a = await json<AppView>(await upload(alice.headers, APK_V1));
    const host = enrollTestHost(db);
    const other = enrollTestHost(db);
    const url = `/api/apps/${a.id}/download`;
    // No pending install on its devices yet: like a missing app.
    const early = await app.request(url, { headers: basic(host.hostId, host.password) });
    expect(early.status).toBe(404);
    expect((await json<{ error: { code: string } }>(early)).error.code).toBe("app_not_found");

    const installId = pendingInstallOn(host.hostId, a.id);
    const r = await app.request(url, { headers: basic(host.hostId, host.password) });
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(APK_V1)).toBe(true);
    expect(r.headers.get("etag")).toBe(`"${a.sha256}"`);
    expect((await app.request(url, { headers: basic(other.hostId, other.password) })).status).toBe(404);

    // Deleted by its owner while the install is pending: the file stays and the agent can still fetch it.
    const del = await json<DeleteAppResponse>(await app.request(`/api/apps/${a.id}`, { method: "DELETE", headers: alice.headers }));
    expect(del.fileRemoved).toBe(false);
    expect((await app.request(url, { headers: basic(host.hostId, host.password) })).status).toBe(200);
    // Once the result is in, the host's access ends.
    recordInstallResult(db, installId, "installed", null);
    expect((await app.request(url, { headers: basic(host.hostId, host.password) })).status).toBe(404);
  });

  it("a wrong, unknown or revoked host credential is 401", async () => {
    const a = await json<AppView>(await upload(alice.headers, APK_V1));
    const host = enrollTestHost(db);
    pendingInstallOn(host.hostId, a.id);
    const url = `/api/apps/${a.id}/download`;
    for (const headers of [basic(host.hostId, "wrong-password"), basic("no-such-host", host.password), { authorization: "Basic !!!" }]) {
      const r = await app.request(url, { headers });
      expect(r.status, headers.authorization).toBe(401);
      expect((await json<{ error: { code: string } }>(r)).error.code).toBe("invalid_credentials");
      expect(r.headers.get("www-authenticate")).toBe('Basic realm="cloudphone-agent"');
    }
    db.prepare("UPDATE hosts SET revoked_at = 1 WHERE id = ?").run(host.hostId);
    expect((await app.request(url, { headers: basic(host.hostId, host.password) })).status).toBe(401);
    // Basic is accepted on the download route only.
    expect((await app.request(`/api/apps/${a.id}`, { headers: basic(host.hostId, host.password) })).status).toBe(401);
    expect((await app.request("/api/apps", { headers: basic(host.hostId, host.password) })).status).toBe(401);
  });
});
