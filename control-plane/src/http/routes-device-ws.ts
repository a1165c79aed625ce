import { LogcatFilter, type RpcMethod, type RpcParamsInput } from "@cloudphone/shared-protocol";
import type { Context, Next } from "hono";
import type { Logger } from "pino";
import type WebSocket from "ws";
import { z } from "zod";
import { DeviceTickets, TICKET_PREFIX, TicketPurpose, TooManyTicketsError, isDeviceTicketRequest, type TicketPurpose as Purpose } from "../auth/device-tickets.js";
import { canAccess, requireScope, type Principal, type Scope } from "../auth/principal.js";
import { getDevice, type DeviceViewEx } from "../devices/registry.js";
import { RpcCallError, type RpcCaller, type TunnelBroker } from "../rpc/types.js";
import type { UpgradeWebSocket } from "../rpc/websocket.js";
import type { Db } from "../store/db.js";
import { getUserById } from "../users/store.js";
import type { App, AppEnv } from "./app.js";
import { SocketRelay } from "./device-ws-relay.js";
import { ApiError } from "./errors.js";
import { readJson, validate } from "./validate.js";

/**
 * Interactive shell and live logcat over WebSocket (issue 4: A1), and the tickets browsers use for them.
 *
 *   POST /api/devices/:id/tickets {purpose}      → {ticket, expiresAt}   (bearer; 30 s, single use)
 *   GET  /api/devices/:id/shell?ticket=&cols=&rows=                         (WebSocket upgrade)
 *   GET  /api/devices/:id/logcat?ticket=&specs=&priority=&buffers=&contains=&dump=   (WebSocket upgrade)
 *
 * The WebSocket routes take a ticket (browsers cannot send Authorization) or a bearer header (other clients).
 * Query, credential and device are checked before the upgrade (HTTP 400/401/403/404); the agent is asked only
 * once the socket is open, and its failures arrive as `{"type":"error",…}` and close code `4000 + HTTP status`
 * (e.g. 4409 when the device already has its maximum of shells), which a browser can read, unlike an upgrade's
 * HTTP status. Then the browser's socket is piped to the agent's duplex tunnel (device-ws-relay.ts).
 */

const Ticket = z.string().min(TICKET_PREFIX.length + 1).max(128);
const Dim = (d: number) => z.coerce.number().int().min(1).max(1000).default(d);
const csv = (s: string | undefined): string[] => (s === undefined || s === "" ? [] : s.split(","));

export const TicketRequest = z.strictObject({ purpose: TicketPurpose });
export const TicketAnswer = z.object({ ticket: z.string(), expiresAt: z.number().int() });

export const ShellQuery = z.strictObject({ ticket: Ticket.optional(), cols: Dim(80), rows: Dim(24) });

export const LogcatQuery = z.strictObject({
  ticket: Ticket.optional(),
  specs: z.string().max(32 * 70).optional().describe("comma-separated `tag:priority` specs, e.g. `ActivityManager:I,*:S`").transform(csv).pipe(LogcatFilter.shape.specs.unwrap()),
  priority: LogcatFilter.shape.priority,
  buffers: z.string().max(100).optional().describe("comma-separated: main, system, crash, events, radio").transform(csv).pipe(LogcatFilter.shape.buffers.unwrap()),
  contains: LogcatFilter.shape.contains.describe("plain substring each line must contain"),
  dump: z.enum(["true", "false"]).default("false").describe("true: what is buffered, then close (1000)"),
});

/** Scope an API token needs to open (or get a ticket for) each kind of socket. */
const SCOPE_OF: Record<Purpose, Scope> = { shell: "devices:write", logcat: "devices:read", stream: "devices:write" };

/** Unsent bytes per direction the control plane holds for one relay before pausing the sender. */
const RELAY_HIGH_WATER_BYTES = 1024 * 1024;
const OPEN_TIMEOUT_MS = 15_000;
const TUNNEL_TTL_MS = 10_000;

export interface DeviceWsDeps {
  db: Db;
  log: Logger;
  rpc?: RpcCaller;
  tunnels?: TunnelBroker;
  upgradeWebSocket?: UpgradeWebSocket;
}

const notFound = (id: string) => new ApiError(404, "device_not_found", `device ${id} does not exist`);
const badTicket = () => new ApiError(401, "invalid_ticket", "the ticket is unknown, used, expired, or for another device or purpose; ask for a new one");

/** The error frame and close code an RPC failure becomes on the browser's socket. */
export function closeFor(e: unknown): { code: number; reason: string; frame: string } {
  const status = e instanceof RpcCallError ? e.httpStatus : 502;
  const code = e instanceof RpcCallError ? e.code : "failed";
  const message = e instanceof Error ? e.message : String(e);
  return { code: 4000 + status, reason: code, frame: JSON.stringify({ type: "error", code, message }) };
}

export class DeviceWsRoutes {
  constructor(
    private readonly deps: DeviceWsDeps,
    /** Shared by the ticket route and the WebSocket routes (and issue 5's stream route, purpose "stream"). */
    readonly tickets: DeviceTickets = new DeviceTickets(),
  ) {}

  /**
   * Before bearer authentication: WebSocket requests that carry only a ticket are served here (the middleware
   * would refuse them for lack of an Authorization header); everything else goes on.
   */
  registerTicketGate(app: App): void {
    const gate = (purpose: Purpose) => async (c: Context<AppEnv>, next: Next) => {
      if (!isDeviceTicketRequest(c.req.method, c.req.path, c.req.header("authorization"), c.req.query("ticket"))) return next();
      return this.serve(c, next, purpose, null);
    };
    app.use("/api/devices/:id/shell", gate("shell"));
    app.use("/api/devices/:id/logcat", gate("logcat"));
  }

  /** After bearer authentication: the ticket route, and the WebSocket routes for callers with a bearer header. */
  registerRoutes(app: App): void {
    app.post("/api/devices/:id/tickets", async (c) => {
      // Every ticket needs devices:read; the purpose may need more (checked once the body says which).
      requireScope(c, "devices:read");
      const body = await readJson(c, TicketRequest);
      const p = requireScope(c, SCOPE_OF[body.purpose]);
      const d = this.visible(p, c.req.param("id"));
      try {
        return c.json(this.tickets.issue(p, d.id, body.purpose), 201);
      } catch (e) {
        if (e instanceof TooManyTicketsError) throw new ApiError(429, "too_many_tickets", e.message);
        throw e;
      }
    });
    app.get("/api/devices/:id/shell", (c, next) => this.serve(c, next, "shell", requireScope(c, SCOPE_OF.shell)));
    app.get("/api/devices/:id/logcat", (c, next) => this.serve(c, next, "logcat", requireScope(c, SCOPE_OF.logcat)));
  }

  private visible(p: Principal, id: string): DeviceViewEx {
    const d = getDevice(this.deps.db, id);
    if (!d || d.deletedAt !== null || !canAccess(p, d.ownerId)) throw notFound(id);
    return d;
  }

  /** The ticket's principal with the user's current role; a deleted user's ticket is refused. */
  private redeem(ticket: string, deviceId: string, purpose: Purpose): Principal {
    const r = this.tickets.redeem(ticket, deviceId, purpose);
    if (!r.ok) throw badTicket();
    const u = getUserById(this.deps.db, r.grant.principal.userId);
    if (!u || u.status !== "active") throw badTicket();
    return { ...r.grant.principal, role: u.role };
  }

  /** `principal` null: authenticate with the query's ticket. */
  private async serve(c: Context<AppEnv>, next: Next, purpose: Purpose, principal: Principal | null): Promise<Response | void> {
    const id = c.req.param("id")!;
    const { method, params } = purpose === "shell" ? this.shellParams(c) : this.logcatParams(c);
    const ticket = c.req.query("ticket");
    const p = principal ?? this.redeem(ticket!, id, purpose);
    const d = this.visible(p, id);
    const { rpc, tunnels, upgradeWebSocket } = this.deps;
    if (!rpc || !tunnels || !upgradeWebSocket) throw new ApiError(503, "not_available", "device sockets are not enabled in this process");
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new ApiError(426, "upgrade_required", "this route is a WebSocket: send Upgrade: websocket");

    const requestId = c.get("requestId");
    const what = `${purpose} ${d.id}`;
    let relay: SocketRelay | null = null;
    const handler = upgradeWebSocket(() => ({
      onOpen: (_ev, ws) => {
        relay = new SocketRelay(ws.raw as WebSocket, { highWaterBytes: RELAY_HIGH_WATER_BYTES, log: this.deps.log, what });
        void this.connect(relay, d, method, params, requestId, rpc, tunnels);
      },
      onMessage: (ev) => relay?.fromBrowser(ev.data as string | ArrayBuffer),
      onClose: () => relay?.browserClosed(),
    }));
    this.deps.log.info({ requestId, deviceId: d.id, userId: p.userId, purpose, via: principal ? "bearer" : "ticket" }, "device socket opening");
    return handler(c, next);
  }

  private shellParams(c: Context<AppEnv>): { method: RpcMethod; params: Omit<RpcParamsInput<"device.shell.open">, "tunnel"> } {
    const q = validate(ShellQuery, c.req.query(), "query");
    return { method: "device.shell.open", params: { cols: q.cols, rows: q.rows } };
  }

  private logcatParams(c: Context<AppEnv>): { method: RpcMethod; params: Omit<RpcParamsInput<"device.logcat.open">, "tunnel"> } {
    const q = validate(LogcatQuery, c.req.query(), "query");
    const filter = { specs: q.specs, priority: q.priority, buffers: q.buffers, dump: q.dump === "true", ...(q.contains !== undefined ? { contains: q.contains } : {}) };
    return { method: "device.logcat.open", params: { filter } };
  }

  /**
   * Asks the agent to open the session on a new duplex tunnel and relays; failures close the browser's socket.
   * The tunnel is attached the moment it connects, not after the RPC answer: a short session (a logcat dump) can
   * send everything and close before the answer arrives, and none of that may be lost.
   */
  private async connect(
    relay: SocketRelay,
    d: DeviceViewEx,
    method: RpcMethod,
    params: Record<string, unknown>,
    requestId: string,
    rpc: RpcCaller,
    tunnels: TunnelBroker,
  ): Promise<void> {
    const { ref, socket } = tunnels.expectDuplex(d.hostId, { ttlMs: TUNNEL_TTL_MS });
    const attached = socket.then(
      (s) => {
        relay.attachAgent(s);
        return true;
      },
      // Expired or cancelled; the RPC's outcome says why.
      () => false,
    );
    try {
      // why: the method is one of the two socket methods, whose params are `params` plus the tunnel
      await rpc.call(d.hostId, d.id, method, { ...params, tunnel: ref } as RpcParamsInput<"device.shell.open">, { timeoutMs: OPEN_TIMEOUT_MS, requestId });
    } catch (e) {
      tunnels.cancel(ref.id, "the agent did not open the session");
      const f = closeFor(e);
      this.deps.log.info({ requestId, deviceId: d.id, method, code: f.reason, err: (e as Error).message }, "device socket refused");
      relay.fail(f.code, f.reason, f.frame); // also closes the tunnel if it did connect
      return;
    }
    // The agent connects the tunnel before it answers, so this is settled by now or very soon.
    if (await attached) relay.start();
    else relay.fail(4502, "tunnel_failed", JSON.stringify({ type: "error", code: "tunnel_failed", message: "the agent's tunnel did not open" }));
  }
}
