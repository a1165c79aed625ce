import type { Readable } from "node:stream";
import type { RpcErrorCode, RpcMethod, RpcParamsInput, RpcResult, TunnelRef } from "@cloudphone/shared-protocol";
import type { WSContext } from "hono/ws";
import type WebSocket from "ws";

/**
 * The control plane's side of RPC (shared-protocol/rpc.ts): a request to one device's agent over MQTT, answered on
 * `rpc/responses`. Every call has a timeout, and each host has a circuit breaker (open after consecutive timeouts,
 * visible in metrics and `/ready` detail) so that a dead agent fails fast instead of tying up requests.
 */
export interface RpcCaller {
  call<M extends RpcMethod>(
    hostId: string,
    deviceId: string,
    method: M,
    params: RpcParamsInput<M>,
    opts?: { timeoutMs?: number; requestId?: string },
  ): Promise<RpcResult<M>>;
}

/**
 * A failed call: the agent's own error code, or `timeout` (no answer in time), `host_offline` (the host is not
 * connected, or its breaker is open). `httpStatus` is what a route should answer.
 */
export class RpcCallError extends Error {
  constructor(
    readonly code: RpcErrorCode | "host_offline",
    message: string,
    readonly httpStatus: 400 | 404 | 409 | 413 | 502 | 503 | 504,
  ) {
    super(message);
    this.name = "RpcCallError";
  }
}

/**
 * One-time data connections the agent opens back to the control plane (`/api/agent/tunnels/{id}`). Each is bound to
 * one host, expires if the agent has not come within `ttlMs`, and is consumed by the first valid connection.
 */
export interface TunnelBroker {
  /** The agent will GET `source` (e.g. a file the user pushes); `size` is sent as Content-Length (null: unknown, chunked). */
  offerDownload(hostId: string, source: Readable, size: number | null, opts?: { ttlMs?: number }): { ref: TunnelRef; done: Promise<void> };
  /** The agent will POST a body; `body` resolves with it as a stream (rejects when the tunnel expires). */
  expectUpload(hostId: string, opts?: { ttlMs?: number }): { ref: TunnelRef; body: Promise<{ stream: Readable; size: number | null; contentType: string | null }> };
  /** The agent will open a WebSocket; resolves with it once connected. */
  expectDuplex(hostId: string, opts?: { ttlMs?: number }): { ref: TunnelRef; socket: Promise<WebSocket> };
  /** Open tunnels (waiting or streaming), for metrics and leak tests. */
  openCount(): number;
  /** Gives up on a tunnel the agent has not connected to yet (e.g. its RPC failed); a no-op otherwise. */
  cancel(id: string, reason?: string): void;
}

/** A browser WebSocket as Hono's node adapter hands it to a route (for shell and logcat relays). */
export type BrowserSocket = WSContext;
