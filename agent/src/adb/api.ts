import { DeviceId } from "@cloudphone/shared-protocol";
import type { Hono } from "hono";
import { z } from "zod";
import type { DeviceRepo } from "../devices/repo.js";
import type { Logger } from "../log.js";
import type { AdbClient } from "./client.js";
import { AdbExecError } from "./exec.js";
import { AdbFailError, AdbTimeoutError } from "./smart-socket.js";

export interface AdbApiDeps {
  repo: DeviceRepo;
  /** null: the adb layer is disabled (adb.enabled=false). */
  client: Pick<AdbClient, "serial" | "exec"> | null;
  maxOutputBytes: number;
  log: Logger;
}

const MAX_CMD = 64 * 1024;

export const ExecBody = z.strictObject({
  /** A command line for the device's shell, or an argv (each argument quoted for it). */
  cmd: z.union([z.string().min(1).max(MAX_CMD), z.array(z.string().max(MAX_CMD)).min(1).max(1000)]),
  timeoutMs: z.number().int().min(1).max(600_000).default(30_000),
  /** UTF-8 text for the command's stdin (closed afterwards). */
  stdin: z.string().max(1024 * 1024).optional(),
});

/** States in which a device's container runs, so that adbd may answer. */
const UP = new Set(["running", "booting", "error", "restarting"]);

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** zod issues → "field: message; …", naming each field by its path. */
function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.map(String).join(".") || "(body)"}: ${i.message}`).join("; ");
}

/**
 * Loopback API routes of the adb layer. `POST /v1/devices/:id/exec` runs a command with shell protocol v2 and
 * answers its exit code and separate stdout and stderr (UTF-8 text), `timedOut` when the timeout ended it, and
 * `truncated` when output beyond adb.execMaxOutputBytes was dropped. Register before the generic device routes.
 */
export function registerAdbRoutes(app: Hono, d: AdbApiDeps): void {
  app.post("/v1/devices/:id/exec", async (c) => {
    const id = c.req.param("id");
    if (!DeviceId.safeParse(id).success) return c.json(errorBody("invalid_device_id", "id: must be 1-64 of [A-Za-z0-9_.-]"), 400);
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      return c.json(errorBody("invalid_body", "body: must be a JSON object"), 400);
    }
    const parsed = ExecBody.safeParse(raw);
    if (!parsed.success) return c.json(errorBody("invalid_body", describe(parsed.error)), 400);
    const rec = d.repo.get(id);
    if (!rec || rec.desired === "deleted") return c.json(errorBody("device_not_found", `device ${id} is not on this host`), 404);
    if (!d.client) return c.json(errorBody("adb_disabled", "the adb layer is disabled on this host (adb.enabled=false)"), 503);
    if (!UP.has(rec.state) || rec.adbPort === null) {
      return c.json(errorBody("device_not_ready", `device ${id} is ${rec.state}; exec needs its container running with adbd`), 409);
    }
    const body = parsed.data;
    try {
      const r = await d.client.exec(d.client.serial(rec.adbPort), body.cmd, {
        timeoutMs: body.timeoutMs,
        maxOutputBytes: d.maxOutputBytes,
        ...(body.stdin !== undefined ? { stdin: body.stdin } : {}),
      });
      return c.json({
        exitCode: r.exitCode,
        stdout: r.stdout.toString("utf8"),
        stderr: r.stderr.toString("utf8"),
        timedOut: r.timedOut,
        truncated: r.truncated,
        durationMs: r.durationMs,
      });
    } catch (e) {
      const msg = (e as Error).message;
      d.log.warn({ deviceId: id, err: msg }, "exec failed");
      if (e instanceof AdbTimeoutError) return c.json(errorBody("adb_timeout", msg), 504);
      if (e instanceof AdbFailError || e instanceof AdbExecError) return c.json(errorBody("adb_unavailable", msg), 502);
      return c.json(errorBody("adb_unavailable", `adb server: ${msg}`), 502);
    }
  });
}
