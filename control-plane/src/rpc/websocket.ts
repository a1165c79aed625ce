import type { Server } from "node:http";
import type { Http2SecureServer, Http2Server } from "node:http2";
import { createNodeWebSocket, type NodeWebSocket } from "@hono/node-ws";
import type { Hono } from "hono";

export type UpgradeWebSocket = NodeWebSocket["upgradeWebSocket"];

export interface WebSockets {
  /** Route helper: `upgradeWebSocket((c) => ({ onOpen, onMessage, onClose }))` (`ws.raw` is a `ws` WebSocket). */
  upgradeWebSocket: UpgradeWebSocket;
  /** Routes upgrade requests of `server` through `app`; call once, where the node server is created. */
  inject(server: Server | Http2Server | Http2SecureServer, app: Hono<never> | { request: Hono["request"] }): void;
}

/**
 * WebSocket support (@hono/node-ws) created before the app exists: routes need `upgradeWebSocket` while being
 * registered, and node-ws needs the app only when an upgrade arrives, so it is handed in by `inject`.
 */
export function createWebSockets(): WebSockets {
  let target: { request: Hono["request"] } | null = null;
  // node-ws calls only `app.request(url, init, env)`; forward it to the app given to inject().
  const proxy = {
    request: (...args: Parameters<Hono["request"]>) => {
      if (!target) throw new Error("WebSocket upgrade before inject()");
      return target.request(...args);
    },
  } as unknown as Hono; // why: node-ws types its option as a full Hono, but uses request() only
  const nws = createNodeWebSocket({ app: proxy });
  return {
    upgradeWebSocket: nws.upgradeWebSocket,
    inject(server, app) {
      target = app as { request: Hono["request"] };
      nws.injectWebSocket(server);
    },
  };
}
