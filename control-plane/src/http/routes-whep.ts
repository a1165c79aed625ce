import { MAX_SDP_BYTES, MessageId, newId } from "@cloudphone/shared-protocol";
import type { Context } from "hono";
import { z } from "zod";
import { TICKET_PREFIX, type DeviceTickets } from "../auth/device-tickets.js";
import { canAccess, requireScope, type Principal } from "../auth/principal.js";
import { getDevice, type DeviceViewEx } from "../devices/registry.js";
import { WhepSessions, iceServerLinks, sdpProblem } from "../stream/sdp.js";
import { getUserById } from "../users/store.js";
import type { App, AppDeps, AppEnv } from "./app.js";
import { ApiError } from "./errors.js";
import { toApiError } from "./routes-device-ops.js";
import { validate } from "./validate.js";

/**
 * WHEP signaling for the live screen (S3), relayed to the device's agent over RPC:
 *
 *   POST   /api/devices/:id/whep[?ticket=]       body: SDP offer (application/sdp) → 201, answer SDP, Location
 *   DELETE /api/devices/:id/whep/:sessionId      → 204 (ends the viewer's session on the agent)
 *
 * Authorised by a bearer token (JWT or API token with devices:write) or a one-time `stream` ticket; owner or
 * admin, another user's device is 404 like a missing one. ICE servers come from `webrtcIceServers`.
 */

export const WhepQuery = z.strictObject({
  ticket: z.string().min(TICKET_PREFIX.length + 1).max(128).optional().describe("a one-time `stream` ticket (POST /api/devices/{id}/tickets) instead of a bearer header"),
});
export const WhepSessionParams = { sessionId: MessageId };

const OFFER_TIMEOUT_MS = 20_000;
const CLOSE_TIMEOUT_MS = 10_000;

const notFound = (id: string) => new ApiError(404, "device_not_found", `device ${id} does not exist`);
const badTicket = () => new ApiError(401, "invalid_ticket", "the ticket is unknown, used, expired, or for another device or purpose; ask for a new one");

/** Reads at most `max` bytes of the body; 413 as soon as it is larger. */
async function readLimited(c: Context<AppEnv>, max: number): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > max) throw new ApiError(413, "too_large", `the SDP offer is larger than ${max} bytes`);
  const body = c.req.raw.body;
  if (!body) return "";
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > max) {
      await reader.cancel().catch(() => undefined);
      throw new ApiError(413, "too_large", `the SDP offer is larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export class WhepRoutes {
  readonly sessions = new WhepSessions();

  constructor(
    private readonly deps: AppDeps,
    private readonly tickets: DeviceTickets,
  ) {}

  /** Before bearer authentication: an offer that carries only `?ticket=` is served here. */
  registerTicketGate(app: App): void {
    app.use("/api/devices/:id/whep", async (c, next) => {
      if (c.req.method !== "POST" || c.req.header("authorization") !== undefined || c.req.query("ticket") === undefined) return next();
      return this.offer(c, null);
    });
  }

  registerRoutes(app: App): void {
    // WHEP clients that do not trickle ask for the ICE servers before making their offer.
    app.options("/api/devices/:id/whep", (c) => {
      this.visible(requireScope(c, "devices:read"), c.req.param("id"));
      const res = new Response(null, { status: 204, headers: { allow: "OPTIONS, POST" } });
      for (const link of iceServerLinks(this.deps.config.webrtcIceServers)) res.headers.append("link", link);
      return res;
    });
    app.post("/api/devices/:id/whep", (c) => this.offer(c, requireScope(c, "devices:write")));
    app.delete("/api/devices/:id/whep/:sessionId", async (c) => {
      const p = requireScope(c, "devices:write");
      const sessionId = validate(z.strictObject({ sessionId: MessageId }), { sessionId: c.req.param("sessionId") }, "path").sessionId;
      const d = this.visible(p, c.req.param("id"));
      const s = this.sessions.get(sessionId);
      // Only the session's owner (or an admin) may end it; anyone else sees no such session.
      if (!s || s.deviceId !== d.id || (s.userId !== p.userId && p.role !== "admin")) {
        throw new ApiError(404, "session_not_found", `no stream session ${sessionId} on device ${d.id}`);
      }
      this.sessions.delete(sessionId);
      const rpc = this.rpc();
      try {
        await rpc.call(s.hostId, d.id, "device.stream.close", { sessionId }, { timeoutMs: CLOSE_TIMEOUT_MS, requestId: c.get("requestId") });
      } catch (e) {
        // The session is gone from our side either way; the agent ends it by its heartbeat if it missed this.
        this.deps.log.info({ deviceId: d.id, sessionId, err: (e as Error).message }, "stream close not confirmed by the agent");
      }
      return c.body(null, 204);
    });
  }

  private rpc() {
    if (!this.deps.rpc) throw new ApiError(503, "not_available", "streaming is not enabled in this process");
    return this.deps.rpc;
  }

  private visible(p: Principal, id: string): DeviceViewEx {
    const d = getDevice(this.deps.db, id);
    if (!d || d.deletedAt !== null || !canAccess(p, d.ownerId)) throw notFound(id);
    return d;
  }

  /** `principal` null: authenticate with the query's ticket (consumed whatever happens next). */
  private async offer(c: Context<AppEnv>, principal: Principal | null): Promise<Response> {
    const id = c.req.param("id")!;
    const q = validate(WhepQuery, c.req.query(), "query");
    let p = principal;
    if (!p) {
      const r = this.tickets.redeem(q.ticket!, id, "stream");
      if (!r.ok) throw badTicket();
      const u = getUserById(this.deps.db, r.grant.principal.userId);
      if (!u || u.status !== "active") throw badTicket();
      p = { ...r.grant.principal, role: u.role };
    }
    const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/sdp") throw new ApiError(415, "unsupported_media_type", "send the offer as Content-Type: application/sdp");
    const sdp = await readLimited(c, MAX_SDP_BYTES);
    const problem = sdpProblem(sdp);
    if (problem) throw new ApiError(400, "invalid_sdp", problem);
    const d = this.visible(p, id);
    const rpc = this.rpc();
    const sessionId = newId();
    const iceServers = this.deps.config.webrtcIceServers;
    let answer;
    try {
      answer = await rpc.call(d.hostId, d.id, "device.stream.offer", { sessionId, sdp, userId: p.userId, iceServers }, { timeoutMs: OFFER_TIMEOUT_MS, requestId: c.get("requestId") });
    } catch (e) {
      throw toApiError(e, d.id);
    }
    this.sessions.add({ sessionId, deviceId: d.id, hostId: d.hostId, userId: p.userId, createdAt: Date.now() });
    this.deps.log.info({ deviceId: d.id, sessionId, userId: p.userId, control: answer.control, via: principal ? "bearer" : "ticket" }, "stream session opened");
    const headers: Record<string, string | string[]> = {
      "content-type": "application/sdp",
      location: `/api/devices/${d.id}/whep/${sessionId}`,
      "x-stream-control": answer.control ? "holder" : "view-only",
    };
    const res = new Response(answer.sdp, { status: 201, headers: headers as Record<string, string> });
    for (const link of iceServerLinks(iceServers)) res.headers.append("link", link);
    res.headers.set("x-request-id", c.get("requestId"));
    return res;
  }
}

