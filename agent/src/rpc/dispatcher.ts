import {
  RPC_METHODS,
  RpcRequestMessage,
  SCHEMA_VERSION,
  describeIssues,
  newId,
  parsePayload,
  type RpcErrorCode,
  type RpcMethod,
  type RpcResponseMessage,
} from "@cloudphone/shared-protocol";
import type { DeviceRepo } from "../devices/repo.js";
import type { Logger } from "../log.js";
import { RpcFailure, type RpcContext, type RpcHandler, type RpcHandlers, type TunnelClient } from "./types.js";

export interface DispatcherOptions {
  hostId: string;
  repo: Pick<DeviceRepo, "get">;
  handlers: RpcHandlers;
  tunnels: TunnelClient;
  /** adb serial for a device's adbd port (null when adb is disabled). */
  serialOf: (adbPort: number) => string | null;
  /** Sends one answer (QoS 1 to `rpc/responses`, not through the outbox); resolves when sent or rejects. */
  send: (response: RpcResponseMessage) => Promise<void>;
  log: Logger;
  /** Requests running at once per device; more are answered `conflict`. */
  maxConcurrentPerDevice?: number;
  now?: () => number;
}

export interface DispatcherCounters {
  received: number;
  invalid: number;
  expired: number;
  answered: number;
  failed: number;
  busy: number;
}

/**
 * Runs RPC requests from the control plane: validates them, drops those past their deadline (nobody waits any
 * more), looks the device up, and calls the method's handler with an AbortSignal that fires at the deadline. Each
 * request runs on its own (a slow one never blocks others), at most `maxConcurrentPerDevice` per device.
 */
export class RpcDispatcher {
  readonly counters: DispatcherCounters = { received: 0, invalid: 0, expired: 0, answered: 0, failed: 0, busy: 0 };
  private readonly running = new Map<string, number>();
  private readonly controllers = new Set<AbortController>();
  private readonly now: () => number;
  private seq = Date.now() * 1000;
  private closed = false;

  constructor(private readonly o: DispatcherOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Requests being handled now. */
  active(): number {
    return this.controllers.size;
  }

  /** One `rpc/requests` payload. Returns the handling promise (tests await it; the link does not). */
  handle(payload: Buffer | string): Promise<void> {
    this.counters.received++;
    const parsed = parsePayload(RpcRequestMessage, payload);
    if (!parsed.ok) {
      // Without a valid id there is nobody to answer.
      this.counters.invalid++;
      this.o.log.warn({ reason: parsed.reason }, "invalid rpc request dropped");
      return Promise.resolve();
    }
    const req = parsed.value;
    if (req.hostId !== this.o.hostId) {
      this.counters.invalid++;
      this.o.log.warn({ requestHost: req.hostId }, "rpc request for another host dropped");
      return Promise.resolve();
    }
    if (req.deadline <= this.now()) {
      this.counters.expired++;
      this.o.log.info({ rpcId: req.id, method: req.method, requestId: req.requestId }, "rpc request past its deadline dropped");
      return Promise.resolve();
    }
    return this.run(req).catch((e: unknown) => this.o.log.error({ err: e, rpcId: req.id }, "rpc dispatch failed"));
  }

  private async run(req: RpcRequestMessage): Promise<void> {
    const fail = (code: RpcErrorCode, message: string) => this.answer(req, { ok: false, code, message: message.slice(0, 2000) });
    if (this.closed) return fail("failed", "the agent is shutting down");
    const method = req.method as RpcMethod;
    const handler = this.o.handlers[method] as RpcHandler<RpcMethod> | undefined;
    if (!handler) return fail("unknown_method", `this agent does not handle ${method}`);
    const params = RPC_METHODS[method].params.safeParse(req.params);
    if (!params.success) return fail("bad_params", describeIssues(params.error));
    const device = this.o.repo.get(req.deviceId);
    if (!device || device.desired === "deleted" || device.state === "deleted") return fail("device_not_found", `device ${req.deviceId} is not on this host`);

    const max = this.o.maxConcurrentPerDevice ?? 8;
    const n = this.running.get(req.deviceId) ?? 0;
    if (n >= max) {
      this.counters.busy++;
      return fail("conflict", `device ${req.deviceId} already has ${n} requests running; retry shortly`);
    }
    this.running.set(req.deviceId, n + 1);
    const controller = new AbortController();
    this.controllers.add(controller);
    const timer = setTimeout(() => controller.abort(new Error("the request's deadline passed")), Math.max(0, req.deadline - this.now()));
    const ctx: RpcContext = {
      deviceId: req.deviceId,
      device,
      serial: device.adbPort !== null ? this.o.serialOf(device.adbPort) : null,
      signal: controller.signal,
      deadline: req.deadline,
      requestId: req.requestId,
      tunnels: this.o.tunnels,
    };
    const started = this.now();
    try {
      const result = await handler(params.data, ctx);
      await this.answer(req, { ok: true, result });
      this.o.log.info({ rpcId: req.id, method, deviceId: req.deviceId, ms: this.now() - started, requestId: req.requestId }, "rpc answered");
    } catch (e) {
      this.counters.failed++;
      if (controller.signal.aborted) {
        // Aborted at the deadline (or on shutdown): the caller no longer waits, so there is nobody to answer.
        this.counters.expired++;
        this.o.log.info({ rpcId: req.id, method, deviceId: req.deviceId, requestId: req.requestId }, "rpc aborted at its deadline");
      } else {
        const f = e instanceof RpcFailure ? e : null;
        if (!f) this.o.log.warn({ err: e, rpcId: req.id, method, deviceId: req.deviceId, requestId: req.requestId }, "rpc handler failed");
        await fail(f?.code ?? "failed", f?.message ?? `${method} failed: ${(e as Error).message}`);
      }
    } finally {
      clearTimeout(timer);
      this.controllers.delete(controller);
      const left = (this.running.get(req.deviceId) ?? 1) - 1;
      if (left <= 0) this.running.delete(req.deviceId);
      else this.running.set(req.deviceId, left);
    }
  }

  private async answer(req: RpcRequestMessage, outcome: RpcResponseMessage["outcome"]): Promise<void> {
    // Past the deadline the caller has given up: an answer would only be counted as late and dropped.
    if (this.now() >= req.deadline) {
      this.counters.expired++;
      return;
    }
    const ts = this.now();
    const msg: RpcResponseMessage = {
      id: newId(ts),
      seq: ++this.seq,
      ts,
      v: SCHEMA_VERSION,
      ...(req.requestId ? { requestId: req.requestId } : {}),
      hostId: this.o.hostId,
      replyTo: req.id,
      outcome,
    };
    try {
      await this.o.send(msg);
      this.counters.answered++;
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message, rpcId: req.id }, "rpc answer could not be sent");
    }
  }

  /** Aborts every running request (agent shutdown). */
  close(): void {
    this.closed = true;
    for (const c of this.controllers) c.abort(new Error("the agent is shutting down"));
  }
}
