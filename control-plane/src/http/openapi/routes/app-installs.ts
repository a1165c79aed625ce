import { AppInstallRequest, AppInstallResponse, ListInstallsResponse, PreinstallListRequest, PreinstallListView } from "@cloudphone/shared-protocol";
import { err, type RouteDoc } from "../types.js";

const appNotFound = err(404, "app_not_found", "unknown or deleted app, or another user's (same answer)");
const fanOutDescription = (what: string) =>
  `One request for up to 500 devices: each device that may receive it gets an \`app_installs\` row (status \`pending\`) and a durable ` +
  `command to its agent, re-sent until the agent answers; the agent ${what} and reports a result per device ` +
  "(`app.installed` / `app.uninstalled` / `app.install_failed` events, also on the owner's notification stream). " +
  "Devices that may not receive it are refused one by one (`refused`, with a code): unknown or another user's (`device_not_found`), " +
  "deleted, host revoked, a request for this app already pending, or listed twice. The others go ahead.";
const listDescription =
  "Apps installed once on a device when it first becomes `running` after creation: the plan's list, then the owner's, each app once " +
  "(request id `preinstall:<deviceId>`). Every id must be a live app the caller may use (400 names the entry).";

/** App installs on devices and preinstall lists (A2). */
export const APP_INSTALL_ROUTES: readonly RouteDoc[] = [
  {
    method: "post", path: "/api/apps/:id/install", tag: "apps", auth: "bearer", scope: "devices:write", summary: "Install an app on devices (fan-out)",
    description: fanOutDescription("fetches the APK from the control plane (digest checked, cached), installs it"),
    body: AppInstallRequest,
    response: { status: 202, description: "the accepted per-device requests and the refused devices", schema: AppInstallResponse },
    errors: [appNotFound],
  },
  {
    method: "post", path: "/api/apps/:id/uninstall", tag: "apps", auth: "bearer", scope: "devices:write", summary: "Uninstall an app from devices (fan-out)",
    description: fanOutDescription("uninstalls the app's package"),
    body: AppInstallRequest,
    response: { status: 202, description: "the accepted per-device requests and the refused devices", schema: AppInstallResponse },
    errors: [appNotFound],
  },
  {
    method: "get", path: "/api/apps/:id/installs", tag: "apps", auth: "bearer", scope: "devices:read", summary: "Install/uninstall requests of an app",
    description: "Oldest first; users see those on their own devices. A deleted app keeps its history.",
    response: { status: 200, description: "the requests", schema: ListInstallsResponse },
    errors: [err(404, "app_not_found", "unknown app, or another user's (same answer)")],
  },
  {
    method: "get", path: "/api/devices/:id/apps", tag: "apps", auth: "bearer", scope: "devices:read", summary: "Install/uninstall requests of a device",
    response: { status: 200, description: "the requests, oldest first", schema: ListInstallsResponse },
    errors: [err(404, "device_not_found", "unknown device, or another user's (same answer)")],
  },
  {
    method: "get", path: "/api/me/preinstall", tag: "apps", auth: "bearer", scope: "account:read", summary: "The caller's preinstall list",
    description: listDescription,
    response: { status: 200, description: "the list (empty and `updatedAt` null when never set)", schema: PreinstallListView },
  },
  {
    method: "put", path: "/api/me/preinstall", tag: "apps", auth: "bearer", scope: "account:write", summary: "Set the caller's preinstall list",
    description: listDescription,
    body: PreinstallListRequest,
    response: { status: 200, description: "the list as stored (duplicates removed)", schema: PreinstallListView },
  },
  {
    method: "get", path: "/api/admin/plans/:id/preinstall", tag: "admin", auth: "admin", summary: "A plan's preinstall list",
    description: listDescription,
    response: { status: 200, description: "the list", schema: PreinstallListView },
    errors: [err(404, "plan_not_found", "unknown plan id")],
  },
  {
    method: "put", path: "/api/admin/plans/:id/preinstall", tag: "admin", auth: "admin", summary: "Set a plan's preinstall list",
    description: listDescription,
    body: PreinstallListRequest,
    response: { status: 200, description: "the list as stored (duplicates removed)", schema: PreinstallListView },
    errors: [err(404, "plan_not_found", "unknown plan id")],
  },
];
