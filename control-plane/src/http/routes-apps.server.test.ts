import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "./app.js";
import type { Db } from "../store/db.js";
import { tempDb, testAppDeps } from "../testing/fixtures.js";
import { testUser } from "../users/testing.js";
import { buildTestApk } from "../apps/testing/apk.js";

// The same routes behind a real @hono/node-server listener on loopback: the body arrives as a socket stream, so this
// shows the 413 reaches a client that is still sending, and that the upload and download really stream.

const MiB = 1024 * 1024;
const APK = buildTestApk({ packageName: "org.cloudphone.wire", versionCode: 3, versionName: "3.0" });

let db: Db;
let dir: string;
let cleanup: () => void;
let server: Server;
let port: number;
let auth: string;
let logLines: { msg: string; level: number }[];

beforeEach(async () => {
  ({ db, dir, cleanup } = tempDb());
  logLines = [];
  const log = pino({ level: "warn" }, { write: (line: string) => void logLines.push(JSON.parse(line) as { msg: string; level: number }) });
  const deps = testAppDeps(db, { log, config: { dataDir: dir, apkMaxBytes: 2 * MiB } });
  auth = `Bearer ${testUser(db, deps.config).token}`;
  server = createAdaptorServer({ fetch: createApp(deps).fetch }) as Server;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  cleanup();
});

interface Reply {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
  /** Bytes the client had written when the response head arrived. */
  sentBeforeResponse: number;
}

/** POSTs `total` bytes in 64 KiB chunks (chunked encoding unless `declare`), honouring back-pressure. */
function send(path: string, chunks: Buffer[], headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = request({ host: "127.0.0.1", port, path, method: "POST", headers }, (res) => {
      answered = true;
      const sentBeforeResponse = sent;
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => parts.push(b));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), sentBeforeResponse }));
      res.on("error", reject);
    });
    // The server may close the connection while we still send: expected after a 413.
    req.on("error", (e) => (answered ? undefined : reject(e)));
    let i = 0;
    const pump = () => {
      while (i < chunks.length && !answered) {
        const chunk = chunks[i++]!;
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

const split = (b: Buffer, size = 64 * 1024) => Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size));

describe("APK upload over a real HTTP listener", () => {
  it("answers 413 to a chunked 100 MiB upload while the client is still sending, and keeps nothing", async () => {
    // 100 MiB offered (one 64 KiB buffer, 1600 times): far more than loopback socket buffers hold.
    const chunk = Buffer.alloc(64 * 1024, 1);
    const r = await send("/api/apps", Array.from({ length: 1600 }, () => chunk), { authorization: auth, "content-type": "application/octet-stream" });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body.toString()).error.code).toBe("payload_too_large");
    expect(r.headers.connection).toBe("close");
    expect(r.sentBeforeResponse).toBeLessThan(50 * MiB);
    const appsDir = join(dir, "apks");
    expect(readdirSync(appsDir)).toEqual([".tmp"]);
    expect(readdirSync(join(appsDir, ".tmp"))).toEqual([]);
    expect(db.prepare("SELECT COUNT(*) FROM apps").pluck().get()).toBe(0);
  });

  it("answers 413 before reading the body when Content-Length declares too much", async () => {
    const r = await send("/api/apps", split(Buffer.alloc(3 * MiB, 1)), {
      authorization: auth, "content-type": "application/octet-stream", "content-length": String(3 * MiB),
    });
    expect(r.status).toBe(413);
    expect(existsSync(join(dir, "apks"))).toBe(false);
  });

  it("leaves no file behind when the client hangs up mid-upload", async () => {
    const tmp = join(dir, "apks", ".tmp");
    const req = request({ host: "127.0.0.1", port, path: "/api/apps", method: "POST", headers: { authorization: auth, "content-type": "application/octet-stream" } });
    req.on("error", () => undefined);
    req.write(Buffer.alloc(MiB, 1));
    // Wait until the server has started writing the temp file, then drop the connection.
    for (let i = 0; i < 100 && !(existsSync(tmp) && readdirSync(tmp).length > 0); i++) await new Promise((r) => setTimeout(r, 20));
    expect(readdirSync(tmp)).toHaveLength(1);
    req.destroy();
    for (let i = 0; i < 100 && readdirSync(tmp).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(readdirSync(tmp)).toEqual([]);
    expect(readdirSync(join(dir, "apks"))).toEqual([".tmp"]);
    expect(db.prepare("SELECT COUNT(*) FROM apps").pluck().get()).toBe(0);
    // Logged as the client's doing (warn), not as a server error.
    for (let i = 0; i < 50 && logLines.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(logLines.map((l) => l.msg)).toEqual(["APK upload aborted by the client"]);
  });

  it("streams a real APK in and out", async () => {
    const up = await send("/api/apps", split(APK, 1000), { authorization: auth, "content-type": "application/vnd.android.package-archive" });
    expect(up.status).toBe(201);
    const app = JSON.parse(up.body.toString()) as { id: string; sha256: string; packageName: string };
    expect(app).toMatchObject({ packageName: "org.cloudphone.wire", sha256: createHash("sha256").update(APK).digest("hex") });
    const res = await fetch(`http://127.0.0.1:${port}/api/apps/${app.id}/download`, { headers: { authorization: auth } });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(APK)).toBe(true);
  });
});
