import type { Readable } from "node:stream";
import type { RpcErrorCode, RpcMethod, RpcParams, RpcResult, TunnelRef } from "@cloudphone/shared-protocol";
import type WebSocket from "ws";
import type { DeviceRecord } from "../devices/types.js";

/**
 * The agent's side of RPC (shared-protocol/rpc.ts). The dispatcher validates params against `RPC_METHODS`, looks up
 * the device (404 `device_not_found` for an unknown or deleted one) and calls the handler registered for the method
 * with an abort signal that fires at the request's deadline. Handlers own one responsibility each (exec, files,
 * recordings, shell, logcat, WebRTC) and live next to what they drive (`adb/`, `recording/`, `stream/`).
 */
export interface RpcContext {
  deviceId: string;
  device: DeviceRecord;
  /** adb serial of the device (`127.0.0.1:<port>`) when its container runs with adbd; null otherwise. */
  serial: string | null;
  /** Fires at the request's deadline (or on agent shutdown). */
  signal: AbortSignal;
  deadline: number;
  /** HTTP request id carried from the control plane, for logs. */
  requestId: string | undefined;
  tunnels: TunnelClient;
}

export type RpcHandler<M extends RpcMethod> = (params: RpcParams<M>, ctx: RpcContext) => Promise<RpcResult<M>>;

/** Registry the composition root fills: one handler per method. */
export type RpcHandlers = { [M in RpcMethod]?: RpcHandler<M> };

/** Thrown by handlers for an expected failure: the code and message go back to the caller as they are. */
export class RpcFailure extends Error {
  constructor(
    readonly code: RpcErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "RpcFailure";
  }
}

/** Opens the data connections a request's `TunnelRef` names, to the control plane, with the host's credentials. */
export interface TunnelClient {
  /** `download`: the bytes the control plane holds for us (e.g. a file to push). */
  download(ref: TunnelRef, signal: AbortSignal): Promise<Readable>;
  /** `upload`: streams `body` to the control plane; resolves with the byte count once it accepted all of it. */
  upload(ref: TunnelRef, body: Readable, signal: AbortSignal, meta?: { contentType?: string; size?: number }): Promise<number>;
  /** `duplex`: an open WebSocket to the control plane, relayed to the user's browser. */
  duplex(ref: TunnelRef, signal: AbortSignal): Promise<WebSocket>;
}
