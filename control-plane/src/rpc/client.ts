import {
  RPC_METHODS,
  RpcResponseMessage,
  SCHEMA_VERSION,
  describeIssues,
  newId,
  parsePayload,
  topics,
  type RpcErrorCode,
  type RpcMethod,
  type RpcParamsInput,
  type RpcRequestMessage,
  type RpcResult,
} from "@cloudphone/shared-protocol";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import type { Bus } from "../mqtt/bus.js";
import { HostBreakers, type BreakerView } from "./breaker.js";
import { RpcCallError, type RpcCaller } from "./types.js";

export interface RpcClientOptions {
  db: Db;
  log: Logger;
  /** The bus once it is up (null while starting or after close). */
  bus: () => Bus | null;
  /** Per-call default when the caller gives none. */
  defaultTimeoutMs?: number;
  /** Consecutive timeouts that open a host's breaker, and how long it stays open before one probe. */
  breakerFailures?: number;
  breakerOpenMs?: number;
  now?: () => number;
}

export interface RpcCounters {
  calls: number;
  ok: number;
  failed: number;
  timeouts: number;
  refused: number;
  /** Answers nobody waits for any more (after the timeout) or that name an unknown request. */
  lateResponses: number;
  invalidResponses: number;
}

interface Pending {
  hostId: string;
  method: RpcMethod;
  resolve: (v: unknown) => void;
  reject: (e: RpcCallError) => void;
  timer: NodeJS.Timeout;
}

/** HTTP status for an agent's error code (see `RpcErrorCode` in shared-protocol). */
export function httpStatusOf(code: RpcErrorCode): RpcCallError["httpStatus"] {
  switch (code) {
    case "bad_params":
      return 400;
    case "not_found":
    case "device_not_found":
      return 404;
    case "conflict":
    case "device_not_ready":
      return 409;
    case "too_large":
      return 413;
    case "timeout":
      return 504;
    default:
      return 502;
  }
}

/**
 * RpcCaller over the Bus: publishes each request QoS 1 to the host's `rpc/requests` and waits for the answer the
 * broker hands to `handleResponse` (matched by `replyTo` and the sending host). Fails fast with `host_offline` when
 * the host is not online or revoked, or its breaker is open; times out otherwise. Answers arriving after their
 * caller gave up are counted and dropped.
 */
export class RpcClient implements RpcCaller {
  readonly counters: RpcCounters = { calls: 0, ok: 0, failed: 0, timeouts: 0, refused: 0, lateResponses: 0, invalidResponses: 0 };
  private readonly pending = new Map<string, Pending>();
  private readonly breakers: HostBreakers;
  private readonly hostRow;
  private readonly now: () => number;
  // Envelope seq of control-plane requests: increasing within and (being time-based) across restarts.
  private seq: number;

  constructor(private readonly o: RpcClientOptions) {
    this.now = o.now ?? Date.now;
    this.breakers = new HostBreakers({ failureThreshold: o.breakerFailures ?? 3, openMs: o.breakerOpenMs ?? 10_000 });
    this.hostRow = o.db.prepare<[string], { status: string; revoked_at: number | null }>("SELECT status, revoked_at FROM hosts WHERE id = ?");
    this.seq = Date.now() * 1000;
  }

  /** Calls in flight (for tests and metrics). */
  inFlight(): number {
    return this.pending.size;
  }

  breakerViews(): BreakerView[] {
    return this.breakers.views(this.now());
  }

  call<M extends RpcMethod>(
    hostId: string,
    deviceId: string,
    method: M,
    params: RpcParamsInput<M>,
    opts: { timeoutMs?: number; requestId?: string } = {},
  ): Promise<RpcResult<M>> {
    this.counters.calls++;
    const parsed = RPC_METHODS[method].params.safeParse(params);
    if (!parsed.success) return this.refuse(new RpcCallError("bad_params", describeIssues(parsed.error), 400));
    const host = this.hostRow.get(hostId);
    if (!host || host.revoked_at !== null) return this.refuse(new RpcCallError("host_offline", `host ${hostId} is not enrolled or was revoked`, 503));
    if (host.status !== "online") return this.refuse(new RpcCallError("host_offline", `host ${hostId} is offline`, 503));
    const bus = this.o.bus();
    if (!bus?.ready()) return this.refuse(new RpcCallError("host_offline", "the message broker is not available", 503));
    const now = this.now();
    if (!this.breakers.admit(hostId, now)) {
      return this.refuse(new RpcCallError("host_offline", `host ${hostId} did not answer recent requests (circuit open); retry shortly`, 503));
    }

    const timeoutMs = opts.timeoutMs ?? this.o.defaultTimeoutMs ?? 15_000;
    const id = newId(now);
    const msg: RpcRequestMessage = {
      id,
      seq: ++this.seq,
      ts: now,
      v: SCHEMA_VERSION,
      ...(opts.requestId ? { requestId: opts.requestId } : {}),
      hostId,
      deviceId,
      method,
      params: parsed.data as Record<string, unknown>,
      deadline: now + timeoutMs,
    };
    return new Promise<RpcResult<M>>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        this.counters.timeouts++;
        this.breakers.failure(hostId, this.now());
        reject(new RpcCallError("timeout", `host ${hostId} did not answer ${method} within ${timeoutMs} ms`, 504));
      }, timeoutMs);
      this.pending.set(id, { hostId, method, resolve: resolve as (v: unknown) => void, reject, timer });
      bus.publish(topics.rpcRequests(hostId), JSON.stringify(msg), { qos: 1, retain: false }).catch((e: unknown) => {
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        clearTimeout(p.timer);
        this.breakers.failure(hostId, this.now());
        this.counters.failed++;
        this.o.log.warn({ err: e, hostId, method, requestId: opts.requestId }, "rpc publish failed");
        reject(new RpcCallError("host_offline", `could not send ${method} to host ${hostId}: ${(e as Error).message}`, 503));
      });
    });
  }

  /** An `rpc/responses` message from `senderHostId` (the broker's hook; never throws). */
  readonly handleResponse = (senderHostId: string, payload: Buffer): void => {
    const r = parsePayload(RpcResponseMessage, payload);
    if (!r.ok) {
      this.counters.invalidResponses++;
      this.o.log.warn({ hostId: senderHostId, reason: r.reason }, "invalid rpc response dropped");
      return;
    }
    const msg = r.value;
    const p = this.pending.get(msg.replyTo);
    // The sender must be the host the request went to: another host cannot answer for it.
    if (!p || p.hostId !== senderHostId || msg.hostId !== senderHostId) {
      this.counters.lateResponses++;
      this.o.log.debug({ hostId: senderHostId, replyTo: msg.replyTo }, "rpc response nobody waits for dropped");
      return;
    }
    this.pending.delete(msg.replyTo);
    clearTimeout(p.timer);
    this.breakers.success(senderHostId);
    const outcome = msg.outcome;
    if (!outcome.ok) {
      this.counters.failed++;
      p.reject(new RpcCallError(outcome.code, outcome.message, httpStatusOf(outcome.code)));
      return;
    }
    const result = RPC_METHODS[p.method].result.safeParse(outcome.result);
    if (!result.success) {
      this.counters.invalidResponses++;
      this.counters.failed++;
      p.reject(new RpcCallError("failed", `host ${senderHostId} answered ${p.method} with an invalid result: ${describeIssues(result.error)}`, 502));
      return;
    }
    this.counters.ok++;
    p.resolve(result.data);
  };

  /** Rejects every call in flight (shutdown). */
  close(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RpcCallError("host_offline", "the control plane is shutting down", 503));
      this.pending.delete(id);
    }
  }

  private refuse(e: RpcCallError): Promise<never> {
    this.counters.refused++;
    return Promise.reject(e);
  }
}
