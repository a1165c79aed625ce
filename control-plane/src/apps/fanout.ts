import type { AppInstallAction, AppInstallRefusal } from "@cloudphone/shared-protocol";
import { canAccess, type Principal } from "../auth/principal.js";

/**
 * Pure planning of an install/uninstall fan-out: one app, a list of device ids → one `app_installs` row per device
 * that may receive it, and a per-device refusal for the others. No I/O: the caller loads `devices` and `pending`
 * and writes the rows (installs.ts does both in one transaction).
 */

export interface PlanApp {
  id: string;
  ownerId: string;
  deletedAt: number | null;
}

export interface PlanDevice {
  id: string;
  ownerId: string | null;
  hostId: string;
  desired: string;
  deletedAt: number | null;
  hostRevoked: boolean;
}

export interface PlanInput {
  caller: Principal;
  app: PlanApp | undefined;
  action: AppInstallAction;
  /** In the caller's order; repeats are refused as `duplicate_device`. */
  deviceIds: readonly string[];
  /** The devices of `deviceIds` that exist (missing ones are simply absent). */
  devices: ReadonlyMap<string, PlanDevice>;
  /** Device ids that already have a request pending for this app. */
  pending: ReadonlySet<string>;
  requestId: string | null;
  now: number;
  newId: () => string;
}

/** A row to insert into `app_installs` (status `pending`), with the device's host for the command. */
export interface PlannedInstall {
  id: string;
  appId: string;
  deviceId: string;
  hostId: string;
  action: AppInstallAction;
  requestId: string | null;
  createdAt: number;
}

export type PlanOutcome =
  | { ok: true; installs: PlannedInstall[]; refused: AppInstallRefusal[] }
  | { ok: false; code: "app_not_found"; message: string };

export function planAppInstalls(input: PlanInput): PlanOutcome {
  const { app, caller } = input;
  // Another user's app answers like a missing one.
  if (!app || app.deletedAt !== null || !canAccess(caller, app.ownerId)) {
    return { ok: false, code: "app_not_found", message: app ? `app ${app.id} does not exist` : "the app does not exist" };
  }
  const installs: PlannedInstall[] = [];
  const refused: AppInstallRefusal[] = [];
  const seen = new Set<string>();
  for (const deviceId of input.deviceIds) {
    const refuse = (code: AppInstallRefusal["code"], message: string) => refused.push({ deviceId, code, message });
    if (seen.has(deviceId)) {
      refuse("duplicate_device", `device ${deviceId} is listed more than once`);
      continue;
    }
    seen.add(deviceId);
    const d = input.devices.get(deviceId);
    // Another user's device answers like a missing one (no existence oracle).
    if (!d || !canAccess(caller, d.ownerId)) {
      refuse("device_not_found", `device ${deviceId} does not exist`);
    } else if (d.deletedAt !== null || d.desired === "deleted") {
      refuse("device_deleted", `device ${deviceId} is deleted or being deleted`);
    } else if (d.hostRevoked) {
      refuse("host_revoked", `the host of device ${deviceId} is revoked`);
    } else if (input.pending.has(deviceId)) {
      refuse("install_pending", `device ${deviceId} already has a request for this app in progress`);
    } else {
      installs.push({
        id: input.newId(),
        appId: app.id,
        deviceId,
        hostId: d.hostId,
        action: input.action,
        requestId: input.requestId,
        createdAt: input.now,
      });
    }
  }
  return { ok: true, installs, refused };
}
