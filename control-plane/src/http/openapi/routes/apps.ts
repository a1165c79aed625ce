import { AppView, DeleteAppResponse, ListAppsQuery, ListAppsResponse } from "@cloudphone/shared-protocol";
import { err, type RouteDoc } from "../types.js";

const notFound = err(404, "app_not_found", "unknown or deleted app, or another user's (same answer)");

/** The APK library (A2). */
export const APP_ROUTES: readonly RouteDoc[] = [
  {
    method: "post", path: "/api/apps", tag: "apps", auth: "bearer", scope: "devices:write", summary: "Upload an APK to the caller's library",
    description:
      "The body is the APK file itself (`Content-Type: application/vnd.android.package-archive` or `application/octet-stream`), " +
      "streamed to disk while hashed (SHA-256) and counted, never held in memory. Stored once per content (`<appsDir>/<sha256>.apk`). " +
      "The archive must be a zip with a compiled `AndroidManifest.xml`; its package name, version code and name, label and minSdk are kept. " +
      "Uploading content the caller already has answers 200 with the existing app.",
    response: { status: 201, description: "the new app", schema: AppView },
    alsoSucceeds: [{ status: 200, description: "the caller already has this content: the existing app" }],
    errors: [
      err(400, "invalid_apk", "empty body, not a zip, no AndroidManifest.xml, or a manifest that cannot be parsed (the message says which); nothing stored"),
      err(400, "upload_aborted", "the client closed the connection mid-upload; nothing stored"),
      err(413, "payload_too_large", "over `apkMaxBytes` (declared Content-Length, or as soon as the stream crosses it); nothing stored"),
      err(415, "unsupported_media_type", "another Content-Type"),
    ],
  },
  {
    method: "get", path: "/api/apps", tag: "apps", auth: "bearer", scope: "devices:read", summary: "Apps in the library (own; admins all or one user's)",
    query: ListAppsQuery,
    response: { status: 200, description: "a page of apps, newest first", schema: ListAppsResponse },
  },
  {
    method: "get", path: "/api/apps/:id", tag: "apps", auth: "bearer", scope: "devices:read", summary: "One app",
    response: { status: 200, description: "the app", schema: AppView },
    errors: [notFound],
  },
  {
    method: "delete", path: "/api/apps/:id", tag: "apps", auth: "bearer", scope: "devices:write", summary: "Delete an app (its file goes when nothing needs it)",
    description: "Soft delete. The stored file is removed unless another live app has the same content or an install of it is still pending.",
    response: { status: 200, description: "the deleted app and whether its file was removed", schema: DeleteAppResponse },
    errors: [notFound],
  },
  {
    method: "get", path: "/api/apps/:id/download", tag: "apps", auth: "bearer", scope: "devices:read", summary: "Download the APK file",
    description:
      "Streams the file with `ETag: \"<sha256>\"`, `Repr-Digest: sha-256=:<base64>:` (and the older `Digest`); `If-None-Match` → 304. " +
      "Agents authenticate instead with `Authorization: Basic base64(<hostId>:<MQTT password>)` (their enrollment credential) and may " +
      "fetch an app only while one of their devices has an install of it pending (even if the app was deleted since).",
    response: { status: 200, description: "the APK", contentType: "application/vnd.android.package-archive" },
    alsoSucceeds: [{ status: 304, description: "`If-None-Match` matches the ETag" }],
    errors: [
      notFound,
      err(401, "invalid_credentials", "Basic credential of an unknown or revoked host"),
      err(500, "apk_file_missing", "the stored file is gone (logged)"),
    ],
  },
];
