import { Readable, Transform, pipeline } from "node:stream";
import type { ReadableStream as NodeWebReadable } from "node:stream/web";
import { DevicePath, ExecParams, type RpcMethod, type RpcParamsInput, type RpcResult } from "@cloudphone/shared-protocol";
import type { Context } from "hono";
import { z } from "zod";
import { getDevice, type DeviceViewEx } from "../devices/registry.js";
import { canAccess, requireScope, type Scope } from "../auth/principal.js";
import { RpcCallError } from "../rpc/types.js";
import { toWebStream } from "../rpc/web-stream.js";
import type { App, AppDeps, AppEnv } from "./app.js";
import { ApiError, errorBody } from "./errors.js";
import { discardBody } from "./discard-body.js";
import { readJson, validate } from "./validate.js";

export const PathQuery = z.strictObject({ path: DevicePath });
/** File mode as octal digits (`644`, `0755`), as chmod takes it. */
export const PushQuery = z.strictObject({
  path: DevicePath,
  mode: z
    .string()
    .regex(/^0?[0-7]{3,4}$/, "must be octal digits such as 644 or 0755")
    .transform((m) => parseInt(m, 8))
    .refine((m) => m <= 0o7777, "must be at most 7777")
    .optional(),
});

/** Slack on top of a command's own timeout for the round trip to the agent. */
const EXEC_SLACK_MS = 5_000;
const META_TIMEOUT_MS = 15_000;
/** Transfers: time to reach the agent and start, then at least 1 MiB/s. */
const transferTimeoutMs = (size: number | null) => (size === null ? 30 * 60_000 : Math.min(3_600_000, 60_000 + Math.ceil(size / 1024 / 1024) * 1000));
const PULL_TIMEOUT_MS = 30 * 60_000;
const SCREENSHOT_TIMEOUT_MS = 30_000;

const notFound = (id: string) => new ApiError(404, "device_not_found", `device ${id} does not exist`);

class TooLargeError extends Error {
  constructor(limit: number) {
    super(`the file is larger than filesMaxPushBytes (${limit} bytes)`);
    this.name = "TooLargeError";
  }
}

/**
 * Device operations over RPC (A1): exec, file stat/list/push/pull, screenshot. Authorised like the other device
 * routes (owner or admin; another user's device is 404 like a missing one). Bulk data goes through a tunnel the
 * agent opens back to us, streamed both ways without buffering whole files.
 */
export function registerDeviceOpsRoutes(app: App, deps: AppDeps): void {
  const { db, log, config } = deps;
  const maxPush = config.filesMaxPushBytes;

  const device = (c: Context<AppEnv>, scope: Scope): DeviceViewEx => {
    const p = requireScope(c, scope);
    const id = c.req.param("id")!;
    const d = getDevice(db, id);
    if (!d || d.deletedAt !== null || !canAccess(p, d.ownerId)) throw notFound(id);
    return d;
  };

  const wiring = () => {
    if (!deps.rpc || !deps.tunnels) throw new ApiError(503, "not_available", "device operations are not enabled in this process");
    return { rpc: deps.rpc, tunnels: deps.tunnels };
  };

  /** One RPC; its failure becomes the HTTP answer the agent's code maps to, with the agent's message. */
  const call = async <M extends RpcMethod>(c: Context<AppEnv>, d: DeviceViewEx, method: M, params: RpcParamsInput<M>, timeoutMs: number): Promise<RpcResult<M>> => {
    const { rpc } = wiring();
    try {
      return await rpc.call(d.hostId, d.id, method, params, { timeoutMs, requestId: c.get("requestId") });
    } catch (e) {
      throw toApiError(e, d.id);
    }
  };

  app.post("/api/devices/:id/exec", async (c) => {
    requireScope(c, "devices:write");
    // Input first (400), then the device (404), as on every route.
    const body = await readJson(c, ExecParams);
    const d = device(c, "devices:write");
    return c.json(await call(c, d, "device.exec", body, body.timeoutMs + EXEC_SLACK_MS));
  });

  app.get("/api/devices/:id/files/stat", async (c) => {
    requireScope(c, "devices:read");
    const q = validate(PathQuery, c.req.query(), "query");
    const d = device(c, "devices:read");
    return c.json(await call(c, d, "device.files.stat", { path: q.path }, META_TIMEOUT_MS));
  });

  app.get("/api/devices/:id/files/list", async (c) => {
    requireScope(c, "devices:read");
    const q = validate(PathQuery, c.req.query(), "query");
    const d = device(c, "devices:read");
    return c.json(await call(c, d, "device.files.list", { path: q.path }, META_TIMEOUT_MS));
  });

  app.put("/api/devices/:id/files", async (c) => {
    requireScope(c, "devices:write");
    const q = validate(PushQuery, c.req.query(), "query");
    const d = device(c, "devices:write");
    const { tunnels } = wiring();
    const declared = c.req.header("content-length");
    const size = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : null;
    const requestId = c.get("requestId");
    // Refused before a byte goes anywhere; Connection: close after a bounded read of the rest, so the client,
    // still sending, gets to read the 413.
    if (size !== null && size > maxPush) {
      await discardBody(c.req.raw.body);
      return c.json(errorBody("payload_too_large", new TooLargeError(maxPush).message, requestId), 413, { Connection: "close" });
    }
    let received = 0;
    let tooLarge = false;
    const limiter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        if (received > maxPush) {
          tooLarge = true;
          cb(new TooLargeError(maxPush));
        } else cb(null, chunk);
      },
    });
    const raw = c.req.raw.body;
    const source = raw ? Readable.fromWeb(raw as NodeWebReadable<Uint8Array>) : Readable.from([]);
    pipeline(source, limiter, () => undefined); // a failure reaches the agent as a broken download
    const { ref } = tunnels.offerDownload(d.hostId, limiter, size);
    try {
      const r = await call(c, d, "device.files.push", { path: q.path, size, mode: q.mode ?? 0o644, tunnel: ref }, transferTimeoutMs(size));
      log.info({ requestId, deviceId: d.id, path: q.path, bytes: r.bytes }, "file pushed");
      return c.json({ path: q.path, bytes: r.bytes });
    } catch (e) {
      tunnels.cancel(ref.id, "the push failed");
      limiter.destroy();
      if (tooLarge) return c.json(errorBody("payload_too_large", new TooLargeError(maxPush).message, requestId), 413, { Connection: "close" });
      throw e;
    }
  });

  /** Pull and screenshot: the agent uploads through a tunnel, and its body is the response. */
  const streamBack = async <M extends "device.files.pull" | "device.screenshot">(
    c: Context<AppEnv>,
    d: DeviceViewEx,
    method: M,
    params: (tunnel: import("@cloudphone/shared-protocol").TunnelRef) => RpcParamsInput<M>,
    timeoutMs: number,
    contentType: string,
  ): Promise<Response> => {
    const { tunnels } = wiring();
    const { ref, body } = tunnels.expectUpload(d.hostId);
    const rpc = call(c, d, method, params(ref), timeoutMs);
    // The answer comes after the upload has been consumed: only its failure matters while we wait for the body.
    const first = await Promise.race([body.then((b) => ({ b })), rpc.then(() => ({ b: null }))]).catch((e: unknown) => {
      tunnels.cancel(ref.id, "the request failed");
      void body.then((b) => b.stream.destroy(), () => undefined);
      throw e;
    });
    if (!first.b) throw new ApiError(502, "tunnel_failed", "the agent answered without sending the data");
    const { stream, size } = first.b;
    rpc.catch((e: unknown) => log.warn({ requestId: c.get("requestId"), deviceId: d.id, method, err: (e as Error).message }, "transfer failed after it started"));
    const headers: Record<string, string> = { "content-type": contentType, "cache-control": "no-store" };
    if (size !== null) headers["content-length"] = String(size);
    return c.body(toWebStream(stream, () => undefined), 200, headers);
  };

  app.get("/api/devices/:id/files", async (c) => {
    requireScope(c, "devices:read");
    const q = validate(PathQuery, c.req.query(), "query");
    const d = device(c, "devices:read");
    return streamBack(c, d, "device.files.pull", (tunnel) => ({ path: q.path, tunnel }), PULL_TIMEOUT_MS, "application/octet-stream");
  });

  app.get("/api/devices/:id/screenshot", async (c) => {
    const d = device(c, "devices:read");
    return streamBack(c, d, "device.screenshot", (tunnel) => ({ tunnel }), SCREENSHOT_TIMEOUT_MS, "image/png");
  });
}

/** RpcCallError → the route's answer (status and code from the agent, or host_offline/timeout from the caller). */
export function toApiError(e: unknown, deviceId: string): Error {
  if (!(e instanceof RpcCallError)) return e instanceof Error ? e : new Error(String(e));
  if (e.code === "device_not_found") return new ApiError(404, "device_not_found", `device ${deviceId} is not on its host: ${e.message}`);
  return new ApiError(e.httpStatus, e.code, e.message);
}
