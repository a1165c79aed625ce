import { MessageId, type RecordingView, type TunnelRef } from "@cloudphone/shared-protocol";
import type { Context } from "hono";
import { canAccess, requireScope, type Scope } from "../auth/principal.js";
import { getDevice, type DeviceViewEx } from "../devices/registry.js";
import { RecordingStore } from "../recordings/store.js";
import { ListRecordingsQuery, StartRecordingBody } from "../recordings/schemas.js";
import { RpcCallError } from "../rpc/types.js";
import { toWebStream } from "../rpc/web-stream.js";
import type { App, AppDeps, AppEnv } from "./app.js";
import { ApiError } from "./errors.js";
import { toApiError } from "./routes-device-ops.js";
import { readJson, validate } from "./validate.js";

const START_TIMEOUT_MS = 15_000;
/** Stopping waits for screenrecord to finish its file (up to 10 s on the agent) and then pulls it from the device. */
const STOP_TIMEOUT_MS = 120_000;
const LIST_TIMEOUT_MS = 5_000;
const DOWNLOAD_TIMEOUT_MS = 30 * 60_000;

const deviceNotFound = (id: string) => new ApiError(404, "device_not_found", `device ${id} does not exist`);
const recordingNotFound = (id: string) => new ApiError(404, "recording_not_found", `recording ${id} does not exist on this device`);

/**
 * Screen recording sessions (A3) over RPC to the device's agent. The control plane keeps its own copy of each
 * session (from RPC answers and the agent's `recording.*` events), so listings answer while the agent is offline.
 * Owner or admin; another user's device is 404 like a missing one.
 */
export function registerRecordingRoutes(app: App, deps: AppDeps): void {
  const { db, log } = deps;
  const store = new RecordingStore(db);

  const device = (c: Context<AppEnv>, scope: Scope): DeviceViewEx => {
    const p = requireScope(c, scope);
    const id = c.req.param("id")!;
    const d = getDevice(db, id);
    if (!d || d.deletedAt !== null || !canAccess(p, d.ownerId)) throw deviceNotFound(id);
    return d;
  };

  /** The recording id from the path; a malformed one is simply not found. */
  const recordingId = (c: Context<AppEnv>): string => {
    const rid = c.req.param("rid")!;
    if (!MessageId.safeParse(rid).success) throw recordingNotFound(rid);
    return rid;
  };

  const wiring = () => {
    if (!deps.rpc || !deps.tunnels) throw new ApiError(503, "not_available", "device operations are not enabled in this process");
    return { rpc: deps.rpc, tunnels: deps.tunnels };
  };

  const remember = (d: DeviceViewEx, v: RecordingView) => store.mergeView(v, d.hostId, Date.now());

  app.post("/api/devices/:id/recordings", async (c) => {
    requireScope(c, "devices:write");
    const body = await readJson(c, StartRecordingBody); // input errors first, like every route (nothing looked up)
    const d = device(c, "devices:write");
    try {
      const v = await wiring().rpc.call(d.hostId, d.id, "device.recording.start", body, { timeoutMs: START_TIMEOUT_MS, requestId: c.get("requestId") });
      remember(d, v);
      log.info({ requestId: c.get("requestId"), deviceId: d.id, recordingId: v.id, maxDurationMs: v.maxDurationMs }, "recording started");
      return c.json(v, 201);
    } catch (e) {
      if (e instanceof RpcCallError && e.code === "conflict") throw new ApiError(409, "recording_active", e.message);
      throw toApiError(e, d.id);
    }
  });

  app.post("/api/devices/:id/recordings/:rid/stop", async (c) => {
    const d = device(c, "devices:write");
    const rid = recordingId(c);
    try {
      const v = await wiring().rpc.call(d.hostId, d.id, "device.recording.stop", { recordingId: rid }, { timeoutMs: STOP_TIMEOUT_MS, requestId: c.get("requestId") });
      remember(d, v);
      return c.json(v);
    } catch (e) {
      if (e instanceof RpcCallError && e.code === "not_found") throw recordingNotFound(rid);
      throw toApiError(e, d.id);
    }
  });

  app.get("/api/devices/:id/recordings", async (c) => {
    const d = device(c, "devices:read");
    let live = false;
    if (deps.rpc) {
      try {
        const r = await deps.rpc.call(d.hostId, d.id, "device.recording.list", {}, { timeoutMs: LIST_TIMEOUT_MS, requestId: c.get("requestId") });
        const now = Date.now();
        db.transaction(() => {
          for (const v of r.recordings) store.mergeView(v, d.hostId, now);
        })();
        live = true;
      } catch (e) {
        // Offline host, open breaker, timeout: answer from what the agent reported before.
        log.debug({ requestId: c.get("requestId"), deviceId: d.id, err: (e as Error).message }, "recording list from the store");
      }
    }
    return c.json({ recordings: store.listByDevice(d.id), live });
  });

  app.get("/api/recordings", (c) => {
    const p = requireScope(c, "devices:read");
    const q = validate(ListRecordingsQuery, c.req.query(), "query");
    return c.json({ recordings: store.list({ ownerId: p.role === "admin" ? null : p.userId, status: q.status, limit: q.limit }) });
  });

  app.get("/api/devices/:id/recordings/:rid/file", async (c) => {
    const d = device(c, "devices:read");
    const rid = recordingId(c);
    const { rpc, tunnels } = wiring();
    const { ref, body } = tunnels.expectUpload(d.hostId);
    const params: { recordingId: string; tunnel: TunnelRef } = { recordingId: rid, tunnel: ref };
    const call = rpc.call(d.hostId, d.id, "device.recording.download", params, { timeoutMs: DOWNLOAD_TIMEOUT_MS, requestId: c.get("requestId") });
    // The answer comes after the upload was consumed: while waiting for the body only a failure of the call matters.
    const first = await Promise.race([body.then((b) => ({ b })), call.then(() => ({ b: null }))]).catch((e: unknown) => {
      tunnels.cancel(ref.id, "the request failed");
      void body.then((b) => b.stream.destroy(), () => undefined);
      if (e instanceof RpcCallError && e.code === "not_found") throw new ApiError(404, "recording_not_found", e.message);
      throw toApiError(e, d.id);
    });
    if (!first.b) throw new ApiError(502, "tunnel_failed", "the agent answered without sending the file");
    const { stream, size } = first.b;
    call.catch((e: unknown) => log.warn({ requestId: c.get("requestId"), deviceId: d.id, recordingId: rid, err: (e as Error).message }, "recording download failed after it started"));
    const headers: Record<string, string> = {
      "content-type": "video/mp4",
      "cache-control": "no-store",
      "content-disposition": `attachment; filename="recording-${rid}.mp4"`,
    };
    if (size !== null) headers["content-length"] = String(size);
    return c.body(toWebStream(stream, () => undefined), 200, headers);
  });
}
