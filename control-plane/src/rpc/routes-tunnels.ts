import { Readable, Transform, pipeline } from "node:stream";
import { finished } from "node:stream/promises";
import { TUNNEL_TOKEN_HEADER } from "@cloudphone/shared-protocol";
import type { Context } from "hono";
import type WebSocket from "ws";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import { authenticateHostBasic } from "../apps/host-auth.js";
import type { Tunnels } from "./tunnels.js";
import type { UpgradeWebSocket } from "./websocket.js";
import { toWebStream } from "./web-stream.js";

export interface TunnelRouteDeps {
  db: Db;
  log: Logger;
  tunnels?: Tunnels;
  upgradeWebSocket?: UpgradeWebSocket;
}

/** A duplex tunnel claimed by a valid upgrade request must be open within this long, or it is failed. */
const UPGRADE_GRACE_MS = 10_000;

type Json = { error: { code: string; message: string }; requestId?: string };
const body = (c: Context, code: string, message: string): Json => {
  const requestId = c.get("requestId") as string | undefined;
  return { error: { code, message }, ...(requestId ? { requestId } : {}) };
};

// Minimal structural type so this file does not depend on the app's env type (routes are registered on it).
interface RouteApp {
  get(path: string, handler: (c: Context) => Response | Promise<Response | void>): unknown;
  post(path: string, handler: (c: Context) => Response | Promise<Response>): unknown;
}

/**
 * The agent-facing data endpoint `GET|POST /api/agent/tunnels/:id` (and the WebSocket upgrade on the same path).
 * Authenticated by the host's Basic credential plus the tunnel's own `X-Tunnel-Token`; registered before the
 * bearer authentication middleware, which it does not need.
 */
export function registerTunnelRoutes(app: RouteApp, deps: TunnelRouteDeps): void {
  const { db, log } = deps;

  const authenticate = (c: Context): string | Response => {
    const hostId = authenticateHostBasic(db, c.req.header("authorization"));
    if (hostId === null) {
      c.header("WWW-Authenticate", 'Basic realm="cloudphone-agent"');
      return c.json(body(c, "invalid_credentials", "tunnels take the host's Basic credential (host id and MQTT password)"), 401);
    }
    return hostId;
  };

  app.get("/api/agent/tunnels/:id", async (c) => {
    const tunnels = deps.tunnels;
    if (!tunnels) return c.json(body(c, "not_available", "tunnels are not enabled in this process"), 503);
    const hostId = authenticate(c);
    if (hostId instanceof Response) return hostId;
    const id = c.req.param("id") ?? "";
    const token = c.req.header(TUNNEL_TOKEN_HEADER);
    const isUpgrade = c.req.header("upgrade")?.toLowerCase() === "websocket";

    if (isUpgrade) {
      const upgrade = deps.upgradeWebSocket;
      if (!upgrade) return c.json(body(c, "not_available", "WebSocket tunnels are not enabled in this process"), 503);
      const claimed = tunnels.claim(id, hostId, token, "duplex");
      if ("status" in claimed) return c.json(body(c, claimed.code, claimed.message), claimed.status);
      if (claimed.kind !== "duplex") throw new Error("unreachable: duplex claim of another kind");
      let opened = false;
      const grace = setTimeout(() => {
        if (!opened) claimed.fail(new Error(`tunnel ${id}: the WebSocket upgrade did not complete`));
      }, UPGRADE_GRACE_MS);
      grace.unref();
      log.debug({ tunnelId: id, hostId }, "duplex tunnel connecting");
      const handler = upgrade(() => ({
        onOpen: (_ev, ws) => {
          opened = true;
          clearTimeout(grace);
          claimed.accept(ws.raw as WebSocket);
        },
      }));
      return (await handler(c, async () => undefined)) ?? c.body(null, 500);
    }

    const claimed = tunnels.claim(id, hostId, token, "download");
    if ("status" in claimed) return c.json(body(c, claimed.code, claimed.message), claimed.status);
    if (claimed.kind !== "download") throw new Error("unreachable: download claim of another kind");
    const stream = toWebStream(claimed.source, (err) => {
      if (err) log.warn({ tunnelId: id, hostId, err: err.message }, "download tunnel ended early");
      claimed.finish(err);
    });
    const headers: Record<string, string> = { "content-type": "application/octet-stream", "cache-control": "no-store" };
    if (claimed.size !== null) headers["content-length"] = String(claimed.size);
    return c.body(stream, 200, headers);
  });

  app.post("/api/agent/tunnels/:id", async (c) => {
    const tunnels = deps.tunnels;
    if (!tunnels) return c.json(body(c, "not_available", "tunnels are not enabled in this process"), 503);
    const hostId = authenticate(c);
    if (hostId instanceof Response) return hostId;
    const id = c.req.param("id") ?? "";
    const claimed = tunnels.claim(id, hostId, c.req.header(TUNNEL_TOKEN_HEADER), "upload");
    if ("status" in claimed) return c.json(body(c, claimed.code, claimed.message), claimed.status);
    if (claimed.kind !== "upload") throw new Error("unreachable: upload claim of another kind");

    const declared = c.req.header("content-length");
    const size = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : null;
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        cb(null, chunk);
      },
    });
    const raw = c.req.raw.body;
    const source = raw ? Readable.fromWeb(raw as import("node:stream/web").ReadableStream<Uint8Array>) : Readable.from([]);
    pipeline(source, counter, () => undefined); // errors surface on `counter`, which the consumer reads
    claimed.accept(counter, size, c.req.header("content-type") ?? null);
    try {
      // Answer only once the consumer has taken all of it, so the agent's "accepted" means delivered.
      await finished(counter);
    } catch (e) {
      log.warn({ tunnelId: id, hostId, bytes, err: (e as Error).message }, "upload tunnel ended early");
      return c.json(body(c, "tunnel_aborted", `the upload did not complete after ${bytes} bytes: ${(e as Error).message}`), 502);
    }
    return c.json({ bytes });
  });
}
