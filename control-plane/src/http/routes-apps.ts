import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { APK_CONTENT_TYPES, ListAppsQuery } from "@cloudphone/shared-protocol";
import type { Context } from "hono";
import { requireScope, canAccess, type Principal } from "../auth/principal.js";
import { readApkInfo } from "../apps/apk-reader.js";
import { authenticateHostBasic } from "../apps/host-auth.js";
import { InvalidApkError, type ApkInfo } from "../apps/manifest.js";
import { ApkStorage, PayloadTooLargeError, appsDirOf, type ReceivedFile } from "../apps/storage.js";
import { AppStore, apkInfoOf, appView, type AppRow } from "../apps/store.js";
import type { App, AppDeps, AppEnv } from "./app.js";
import { ApiError, errorBody } from "./errors.js";
import { validate } from "./validate.js";

const APK_TYPE = "application/vnd.android.package-archive";

/** Another user's app answers exactly like a missing (or deleted) one. */
const notFound = (id: string) => new ApiError(404, "app_not_found", `app ${id} does not exist`);
const invalidApk = (message: string) => new ApiError(400, "invalid_apk", message);

function checkContentType(c: Context): void {
  const raw = c.req.header("content-type");
  const type = raw?.split(";")[0]!.trim().toLowerCase();
  if (!type || !(APK_CONTENT_TYPES as readonly string[]).includes(type)) {
    throw new ApiError(
      415,
      "unsupported_media_type",
      `send the APK file as the raw request body with Content-Type ${APK_CONTENT_TYPES.join(" or ")} (got ${raw === undefined ? "none" : JSON.stringify(raw)})`,
    );
  }
}

export function registerAppRoutes(app: App, deps: AppDeps): void {
  const { db, log, config } = deps;
  const store = new AppStore(db);
  const storage = new ApkStorage(appsDirOf(config));
  const limit = config.apkMaxBytes;

  const visible = (p: Principal, id: string): AppRow => {
    const row = store.get(id);
    if (!row || row.deleted_at !== null || !canAccess(p, row.owner_id)) throw notFound(id);
    return row;
  };

  // 413 answered directly (not thrown) so that it can ask the client to close: the rest of its body is not read.
  const tooLarge = (c: Context<AppEnv>) =>
    c.json(errorBody("payload_too_large", `the APK is larger than apkMaxBytes (${limit} bytes)`, c.get("requestId")), 413, { Connection: "close" });

  app.post("/api/apps", async (c) => {
    const p = requireScope(c, "devices:write");
    checkContentType(c);
    const declared = c.req.header("content-length");
    if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > limit) return tooLarge(c);
    const body = c.req.raw.body;
    if (!body) throw invalidApk("the request body is empty: send the APK file itself as the body");

    let file: ReceivedFile;
    try {
      file = await storage.receive(body, limit);
    } catch (e) {
      if (e instanceof PayloadTooLargeError) return tooLarge(c);
      // The temp file is gone already; a client that hung up is not a server error.
      if (c.req.raw.signal.aborted) {
        log.warn({ requestId: c.get("requestId"), err: e }, "APK upload aborted by the client");
        throw new ApiError(400, "upload_aborted", "the connection closed before the whole APK arrived");
      }
      throw e;
    }
    try {
      if (file.size === 0) throw invalidApk("the request body is empty: send the APK file itself as the body");
      // Content validated before (by anyone) needs no second parse: same bytes, same manifest.
      const known = store.anyByContent(file.sha256);
      let info: ApkInfo;
      if (known) info = apkInfoOf(known);
      else {
        try {
          info = await readApkInfo(file.tempPath);
        } catch (e) {
          if (e instanceof InvalidApkError) throw invalidApk(`not an APK: ${e.message}`);
          throw e;
        }
      }
      // From here on synchronous: storing the file and recording the row cannot interleave with a delete.
      const now = Date.now();
      const existing = store.liveByContent(p.userId, file.sha256);
      const placed = storage.commit(file);
      const row = existing ?? store.insert({ ownerId: p.userId, sha256: file.sha256, size: file.size, info, now });
      log.info(
        { requestId: c.get("requestId"), appId: row.id, ownerId: row.owner_id, sha256: row.sha256, size: row.size, packageName: row.package_name, versionCode: row.version_code, duplicate: existing !== undefined, file: placed },
        "APK uploaded",
      );
      return c.json(appView(row), existing ? 200 : 201);
    } finally {
      storage.discard(file); // no-op once committed (the temp file was renamed or removed)
    }
  });

  app.get("/api/apps", (c) => {
    const p = requireScope(c, "devices:read");
    const q = validate(ListAppsQuery, c.req.query(), "query");
    const ownerId = p.role === "admin" ? q.ownerId : p.userId;
    const page = store.list({
      limit: q.limit,
      ...(ownerId !== undefined ? { ownerId } : {}),
      ...(q.packageName !== undefined ? { packageName: q.packageName } : {}),
      ...(q.before !== undefined ? { before: q.before } : {}),
    });
    return c.json({ apps: page.apps.map(appView), ...(page.nextBefore ? { nextBefore: page.nextBefore } : {}) });
  });

  app.get("/api/apps/:id", (c) => {
    const p = requireScope(c, "devices:read");
    return c.json(appView(visible(p, c.req.param("id"))));
  });

  app.delete("/api/apps/:id", (c) => {
    const p = requireScope(c, "devices:write");
    const id = c.req.param("id");
    const row = visible(p, id);
    const now = Date.now();
    // Synchronous, like the upload's commit: the reference check and the unlink see the same state.
    const unreferenced = db
      .transaction(() => {
        if (!store.softDelete(id, now)) throw notFound(id);
        return !store.isContentReferenced(row.sha256);
      })
      .immediate();
    const fileRemoved = unreferenced && storage.remove(row.sha256);
    log.info({ requestId: c.get("requestId"), appId: id, sha256: row.sha256, fileRemoved }, "app deleted");
    return c.json({ app: appView(store.get(id)!), fileRemoved });
  });

  app.get("/api/apps/:id/download", async (c) => {
    const id = c.req.param("id");
    let row: AppRow;
    let hostId: string | null = null;
    if (c.get("principal")) {
      row = visible(requireScope(c, "devices:read"), id);
    } else {
      // No bearer token: the auth middleware let a Basic credential through to this route (agents).
      hostId = authenticateHostBasic(db, c.req.header("authorization"));
      if (hostId === null) {
        c.header("WWW-Authenticate", 'Basic realm="cloudphone-agent"');
        throw new ApiError(401, "invalid_credentials", "unknown or revoked host credential");
      }
      const r = store.get(id);
      // A host may fetch an app (even one deleted since) only while one of its devices has an install of it pending.
      if (!r || !store.hostHasPendingInstall(id, hostId)) throw notFound(id);
      row = r;
    }
    const etag = `"${row.sha256}"`;
    const digest = Buffer.from(row.sha256, "hex").toString("base64");
    const headers: Record<string, string> = {
      "Content-Type": APK_TYPE,
      ETag: etag,
      "Repr-Digest": `sha-256=:${digest}:`,
      Digest: `sha-256=${digest}`,
      "Cache-Control": "private, max-age=31536000, immutable",
      "X-Content-Type-Options": "nosniff",
      "Accept-Ranges": "none",
    };
    const ifNoneMatch = c.req.header("if-none-match");
    if (ifNoneMatch !== undefined && ifNoneMatch.split(",").some((t) => t.trim() === etag || t.trim() === "*")) {
      return c.body(null, 304, headers);
    }
    headers["Content-Length"] = String(row.size);
    headers["Content-Disposition"] = `attachment; filename="${row.package_name}-${row.version_code}.apk"`;
    if (c.req.method === "HEAD") return c.body(null, 200, headers);
    let fh;
    try {
      fh = await open(storage.pathOf(row.sha256), "r");
    } catch (e) {
      log.error({ requestId: c.get("requestId"), appId: id, sha256: row.sha256, err: e }, "stored APK file is missing");
      throw new ApiError(500, "apk_file_missing", "the stored APK file is missing; see the control plane log for this request id");
    }
    if (hostId) log.info({ requestId: c.get("requestId"), appId: id, hostId }, "APK fetched by agent");
    // The stream closes the file handle when it ends or is destroyed (client gone).
    const stream = Readable.toWeb(fh.createReadStream()) as ReadableStream<Uint8Array>;
    return c.body(stream, 200, headers);
  });
}
