import type { EventName } from "@cloudphone/shared-protocol";
import { observe, type ObserveContext } from "../devices/observe.js";
import type { Observation } from "../devices/types.js";
import type { Logger } from "../log.js";
import type { DockerRuntime } from "../runtime/docker.js";
import { plan, type RecoveryPolicy } from "./plan.js";
import { KeyedSerialScheduler } from "./scheduler.js";

export interface LoopOptions {
  ctx: ObserveContext;
  runtime: DockerRuntime;
  policy: RecoveryPolicy;
  intervalMs: number;
  log: Logger;
  concurrency?: number;
  /** An event was recorded (the pump should publish it). */
  onRecorded: (event: EventName | null) => void;
}

/** Upper bound of plan/act steps in one pass, so that a flapping container cannot spin a pass forever. */
const MAX_STEPS = 12;
const CAPACITY_EVENTS: ReadonlySet<EventName> = new Set(["device.created", "device.deleted", "device.creation_failed"]);

export { CAPACITY_EVENTS };

/**
 * Drives every device towards its desired state. Triggered by commands, Docker events and a periodic tick;
 * one pass per device at a time, a few devices in parallel. Each pass: inspect → plan → record → act, repeated.
 */
export class ReconcileLoop {
  private readonly scheduler: KeyedSerialScheduler;
  private tick: NodeJS.Timeout | null = null;

  constructor(private readonly o: LoopOptions) {
    this.scheduler = new KeyedSerialScheduler(o.concurrency ?? 4, (id) => this.pass(id));
  }

  /** Removes orphans (containers/volumes of this host whose device is unknown), then reconciles everything. */
  async start(): Promise<void> {
    await this.removeOrphans().catch((e) => this.o.log.error({ err: (e as Error).message }, "orphan sweep failed; retrying on the next tick"));
    this.reconcileAll();
    this.tick = setInterval(() => this.reconcileAll(), this.o.intervalMs);
    this.tick.unref();
  }

  trigger(deviceId: string): void {
    this.scheduler.schedule(deviceId);
  }

  reconcileAll(): void {
    for (const rec of this.o.ctx.repo.all()) {
      if (rec.desired === "deleted" && rec.state === "deleted") continue;
      this.scheduler.schedule(rec.id);
    }
  }

  idle(): Promise<void> {
    return this.scheduler.idle();
  }

  async stop(): Promise<void> {
    if (this.tick) clearInterval(this.tick);
    await this.scheduler.stop();
  }

  async removeOrphans(): Promise<number> {
    const known = new Map(this.o.ctx.repo.all().map((d) => [d.id, d]));
    let removed = 0;
    for (const c of await this.o.runtime.listManaged()) {
      const rec = c.deviceId ? known.get(c.deviceId) : undefined;
      if (!rec || (rec.desired === "deleted" && rec.state === "deleted")) {
        this.o.log.warn({ containerId: c.containerId, deviceId: c.deviceId }, "removing orphan container");
        await this.o.runtime.removeContainer(c.containerId);
        removed++;
      }
    }
    for (const v of await this.o.runtime.listManagedVolumes()) {
      const rec = v.deviceId ? known.get(v.deviceId) : undefined;
      if (!rec || (rec.desired === "deleted" && rec.state === "deleted")) {
        this.o.log.warn({ volume: v.name, deviceId: v.deviceId }, "removing orphan volume");
        await this.o.runtime.removeVolume(v.name).catch((e) => this.o.log.warn({ err: (e as Error).message }, "orphan volume removal failed"));
      }
    }
    return removed;
  }

  private record(deviceId: string, obs: Observation): void {
    const r = observe(this.o.ctx, deviceId, obs);
    if (r.changed) {
      if (r.event) this.o.log.info({ deviceId, event: r.event.name, state: obs.state }, "device event");
      this.o.onRecorded(r.event ? obs.event : null);
    }
  }

  private async pass(deviceId: string): Promise<void> {
    const { ctx, runtime, log } = this.o;
    try {
      for (let step = 0; step < MAX_STEPS; step++) {
        const rec = ctx.repo.get(deviceId);
        if (!rec) return;
        const obs = await runtime.inspect(deviceId);
        const p = plan(rec, obs, Date.now(), this.o.policy);
        for (const o of p.record) this.record(deviceId, o);
        if (p.wakeAfterMs !== undefined) this.scheduler.scheduleAfter(deviceId, p.wakeAfterMs);
        if (p.action === "none" || p.action === "give_up") return;
        log.debug({ deviceId, action: p.action, state: rec.state, desired: rec.desired }, "reconcile action");
        await this.act(p.action, deviceId);
      }
      log.warn({ deviceId }, "reconcile pass hit its step limit; continuing on the next trigger");
      this.scheduler.scheduleAfter(deviceId, this.o.intervalMs);
    } catch (e) {
      log.error({ deviceId, err: (e as Error).message }, "reconcile pass failed; retrying later");
      this.scheduler.scheduleAfter(deviceId, Math.min(this.o.intervalMs, 5000));
    }
  }

  private async act(action: "create" | "start" | "stop" | "remove" | "restart" | "recover", deviceId: string): Promise<void> {
    const { ctx, runtime } = this.o;
    const rec = ctx.repo.get(deviceId);
    if (!rec) return;
    switch (action) {
      case "create": {
        this.record(deviceId, { state: "creating", event: null });
        try {
          const { containerId } = await runtime.create({ id: rec.id, spec: rec.spec, ownerId: rec.ownerId });
          const state = rec.desired === "running" ? "starting" : "stopped";
          this.record(deviceId, { state, event: "device.created", containerId, error: null, exitCode: null, oomKilled: null });
        } catch (e) {
          const msg = (e as Error).message;
          this.record(deviceId, { state: "failed", event: "device.creation_failed", error: msg.slice(0, 2000), reason: msg });
        }
        return;
      }
      case "start":
      case "recover":
        if (rec.restartRequested) ctx.repo.setRestartRequested(deviceId, false, Date.now());
        try {
          await runtime.start(deviceId);
        } catch (e) {
          const msg = (e as Error).message;
          // A start that Docker refuses is an unexpected failure: report it and let recovery (with back-off) retry.
          this.record(deviceId, { state: "error", event: "device.error", error: msg.slice(0, 2000), reason: msg });
        }
        return;
      case "stop":
        await runtime.stop(deviceId);
        return;
      case "restart":
        await runtime.stop(deviceId);
        ctx.db.transaction(() => {
          ctx.repo.setRestartRequested(deviceId, false, Date.now());
          this.record(deviceId, { state: "stopped", event: "device.stopped", adbPort: null, reason: "restart requested" });
        })();
        return;
      case "remove":
        this.record(deviceId, { state: "deleting", event: null });
        await runtime.remove(deviceId);
        this.record(deviceId, { state: "deleted", event: "device.deleted", containerId: null, adbPort: null });
        return;
    }
  }
}
