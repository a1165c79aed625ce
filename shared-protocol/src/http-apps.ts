import { z } from "zod";

/** HTTP bodies of the APK library (A2): `POST /api/apps` (raw APK body), `GET /api/apps[/:id]`, delete, download. */

/** Request content types `POST /api/apps` accepts; the body is the APK itself, not JSON. */
export const APK_CONTENT_TYPES = ["application/vnd.android.package-archive", "application/octet-stream"] as const;

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits");

export const AppView = z.object({
  id: z.string(),
  ownerId: z.string(),
  /** SHA-256 of the APK file (lowercase hex): its name in the content-addressed store and its `ETag`. */
  sha256: Sha256Hex,
  size: z.number().int(),
  packageName: z.string(),
  versionCode: z.number().int(),
  /** Null when the manifest has none, or names a resource instead of a literal. */
  versionName: z.string().nullable(),
  label: z.string().nullable(),
  minSdk: z.number().int().nullable(),
  createdAt: z.number().int(),
  deletedAt: z.number().int().nullable(),
});
export type AppView = z.infer<typeof AppView>;

export const ListAppsQuery = z.object({
  /** Admins only: one user's apps (others always see their own). */
  ownerId: z.string().min(1).max(64).optional(),
  packageName: z.string().min(1).max(255).optional(),
  /** Paging: apps older than this app id (ids are time-ordered). */
  before: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export type ListAppsQuery = z.infer<typeof ListAppsQuery>;

export const ListAppsResponse = z.object({
  apps: z.array(AppView),
  /** Pass as `before` for the next page; absent on the last page. */
  nextBefore: z.string().optional(),
});
export type ListAppsResponse = z.infer<typeof ListAppsResponse>;

export const DeleteAppResponse = z.object({
  app: AppView,
  /** Whether the stored file went too (no other live app and no pending install uses the same content). */
  fileRemoved: z.boolean(),
});
export type DeleteAppResponse = z.infer<typeof DeleteAppResponse>;

// Install fan-out: one row per device in `app_installs`; the agent reports a result per row.
export const AppInstallAction = z.enum(["install", "uninstall"]);
export type AppInstallAction = z.infer<typeof AppInstallAction>;
export const AppInstallStatus = z.enum(["pending", "installed", "failed", "uninstalled"]);
export type AppInstallStatus = z.infer<typeof AppInstallStatus>;

export const MAX_INSTALL_DEVICES = 500;
export const AppInstallRequest = z.strictObject({
  deviceIds: z.array(z.string().min(1).max(64)).min(1).max(MAX_INSTALL_DEVICES),
});
export type AppInstallRequest = z.infer<typeof AppInstallRequest>;

export const AppInstallView = z.object({
  id: z.string(),
  appId: z.string(),
  deviceId: z.string(),
  action: AppInstallAction,
  status: AppInstallStatus,
  error: z.string().nullable(),
  commandId: z.string().nullable(),
  requestId: z.string().nullable(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});
export type AppInstallView = z.infer<typeof AppInstallView>;

/** Why one device of a fan-out was refused (the others go ahead). */
export const AppInstallRefusalCode = z.enum(["device_not_found", "device_deleted", "host_revoked", "install_pending", "duplicate_device"]);
export type AppInstallRefusalCode = z.infer<typeof AppInstallRefusalCode>;
export const AppInstallRefusal = z.object({ deviceId: z.string(), code: AppInstallRefusalCode, message: z.string() });
export type AppInstallRefusal = z.infer<typeof AppInstallRefusal>;

export const AppInstallResponse = z.object({ installs: z.array(AppInstallView), refused: z.array(AppInstallRefusal) });
export type AppInstallResponse = z.infer<typeof AppInstallResponse>;

export const ListInstallsResponse = z.object({ installs: z.array(AppInstallView) });
export type ListInstallsResponse = z.infer<typeof ListInstallsResponse>;

/** Preinstall lists (A2): apps installed once on a device when it first runs (the plan's, then the owner's). */
export const MAX_PREINSTALL_APPS = 50;
export const PreinstallListRequest = z.strictObject({
  appIds: z.array(z.string().min(1).max(64)).max(MAX_PREINSTALL_APPS),
});
export type PreinstallListRequest = z.infer<typeof PreinstallListRequest>;
export const PreinstallListView = z.object({ appIds: z.array(z.string()), updatedAt: z.number().int().nullable() });
export type PreinstallListView = z.infer<typeof PreinstallListView>;
