import type { AppInstallAction } from "@cloudphone/shared-protocol";
import type { Principal } from "../auth/principal.js";
import { insertCommand } from "../devices/commands.js";
import type { Db } from "../store/db.js";
import { attachCommand, requestInstalls, type RequestInstallsOutcome } from "./installs.js";

/**
 * Starts an install/uninstall fan-out: the `app_installs` rows, one durable command per device (re-sent by the
 * CommandPublisher until the agent's result arrives) and their links, all in one IMMEDIATE transaction (a savepoint
 * inside the caller's, e.g. the inbox batch for preinstalls). The caller publishes `commandIds` after commit.
 */
export type DispatchOutcome =
  | (Extract<RequestInstallsOutcome, { ok: true }> & { commandIds: string[] })
  | Extract<RequestInstallsOutcome, { ok: false }>;

export interface DispatchRequest {
  caller: Principal;
  appId: string;
  action: AppInstallAction;
  deviceIds: readonly string[];
  /** Groups the rows of one fan-out (`app_installs.request_id`), e.g. the HTTP request id or `preinstall:<deviceId>`. */
  requestId: string | null;
  /** HTTP request id carried on the commands (logs across HTTP and MQTT). */
  traceId?: string;
}

export function dispatchInstalls(db: Db, r: DispatchRequest, now = Date.now()): DispatchOutcome {
  return db
    .transaction((): DispatchOutcome => {
      const planned = requestInstalls(db, { caller: r.caller, appId: r.appId, action: r.action, deviceIds: r.deviceIds, requestId: r.requestId, now });
      if (!planned.ok) return planned;
      const app = db.prepare("SELECT id, sha256, size, package_name FROM apps WHERE id = ?").get(r.appId) as {
        id: string;
        sha256: string;
        size: number;
        package_name: string;
      };
      const generationOf = db.prepare("SELECT generation FROM devices WHERE id = ?").pluck();
      const commandIds: string[] = [];
      const installs = planned.installs.map((i) => {
        const command =
          r.action === "install"
            ? { action: "app_install" as const, installId: i.id, app: { id: app.id, sha256: app.sha256, size: app.size, packageName: app.package_name } }
            : { action: "app_uninstall" as const, installId: i.id, appId: app.id, packageName: app.package_name };
        // The device's current generation, for information: app commands never take part in lifecycle ordering.
        const generation = generationOf.get(i.deviceId) as number;
        const cmd = insertCommand(db, { hostId: i.hostId, deviceId: i.deviceId, generation, requestId: r.traceId, command }, now);
        attachCommand(db, i.id, cmd.id);
        commandIds.push(cmd.id);
        return { ...i, commandId: cmd.id };
      });
      return { ok: true, installs, refused: planned.refused, commandIds };
    })
    .immediate();
}
