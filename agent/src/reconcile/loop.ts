import type { EventName } from "@cloudphone/shared-protocol";
import type { AdbWatcher } from "../adb/facts.js";
import { formatPortRange, pickPort, type PortRange } from "../adb/ports.js";
import { observe, type ObserveContext } from "../devices/observe.js";
import type { Observation } from "../devices/types.js";
import type { Logger } from "../log.js";
import type { DockerRuntime } from "../runtime/docker.js";
import type { ContainerObservation } from "../runtime/observation.js";
import { plan, type AdbView, type RecoveryPolicy } from "./plan.js";
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
  /**
   * The adb layer: readiness and health facts, and what to watch. Absent: a running container counts as ready
   * (hosts without adb; runtime tests).
   */
  adb?: { watcher: AdbWatcher; bootTimeoutMs: number };
  /** Host network mode: the range each device's own adbd port is allocated from, and a check that it is free. */
  adbPorts?: { range: PortRange; isFree: (port: number) => Promise<boolean> };
}

/** How many ports allocation tries before it reports the range as exhausted (each try is checked with isFree). */
const PORT_TRIES = 20;

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
        const p = plan(rec, obs, Date.now(), this.o.policy, this.adbView(deviceId));
        for (const o of p.record) this.record(deviceId, o);
        this.o.adb?.watcher.watch(deviceId, p.watch, obs.running ? obs.adbPort : null, obs.startedAt);
        if (p.wakeAfterMs !== undefined) this.scheduler.scheduleAfter(deviceId, p.wakeAfterMs);
        if (p.action === "none") return;
        if (p.action === "give_up") {
          await this.giveUp(deviceId, obs);
          return;
        }
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

  private adbView(deviceId: string): AdbView | null {
    const adb = this.o.adb;
    return adb ? { facts: adb.watcher.facts(deviceId), bootTimeoutMs: adb.bootTimeoutMs } : null;
  }

  /** Recovery gave up (device.failed is recorded): a container still running (broken adb) is stopped. */
  private async giveUp(deviceId: string, obs: ContainerObservation): Promise<void> {
    if (!obs.running) return;
    this.o.log.warn({ deviceId }, "recovery gave up; stopping the device's container");
    await this.o.runtime.stop(deviceId);
  }

  /**
   * Host network mode: gives the device its own adbd port, recorded with `creating` in the same synchronous step
   * that picks it (no await in between), so two passes never take the same port. Ports of live devices, of
   * containers of any agent on this Docker host, and ports something already listens on are skipped.
   */
  private async allocateAdbPort(deviceId: string): Promise<number> {
    const { ctx, runtime } = this.o;
    const cfg = this.o.adbPorts!; // only called when adbPorts is configured (see act)
    const onDocker = await runtime.adbPortsInUse();
    const rejected = new Set<number>();
    for (let i = 0; i < PORT_TRIES; i++) {
      const port = ctx.db.transaction((): number | null => {
        const taken = new Set([...ctx.repo.liveAdbPorts(), ...onDocker, ...rejected]);
        const p = pickPort(cfg.range, taken, Math.random());
        if (p !== null) this.record(deviceId, { state: "creating", event: null, adbPort: p });
        return p;
      })();
      if (port === null) break;
      if (await cfg.isFree(port)) return port;
      this.o.log.warn({ deviceId, port }, "adb port is in use by another program; trying another");
      rejected.add(port);
      this.record(deviceId, { state: "creating", event: null, adbPort: null });
    }
    throw new Error(`no free adb port in ${formatPortRange(cfg.range)} (adb.portRange)`);
  }

  private async act(action: "create" | "start" | "stop" | "remove" | "restart" | "recover", deviceId: string): Promise<void> {
    const { ctx, runtime } = this.o;
    const rec = ctx.repo.get(deviceId);
    if (!rec) return;
    switch (action) {
      case "create": {
        try {
          let adbPort: number | null = null;
          if (runtime.needsOwnAdbPorts && this.o.adbPorts) adbPort = rec.adbPort ?? (await this.allocateAdbPort(deviceId));
          this.record(deviceId, { state: "creating", event: null });
          const { containerId } = await runtime.create({ id: rec.id, spec: rec.spec, ownerId: rec.ownerId, adbPort });
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
          // A recovery boots afresh: a container that still runs (adbd gone, boot stuck) is stopped first.
          if (action === "recover") await runtime.restart(deviceId);
          else await runtime.start(deviceId);
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
          // adbPort stays: in host mode it is the device's own; in bridge mode the next inspect clears it.
          this.record(deviceId, { state: "stopped", event: "device.stopped", reason: "restart requested" });
        })();
        return;
      case "remove":
        this.record(deviceId, { state: "deleting", event: null });
        this.o.adb?.watcher.forget(deviceId);
        await runtime.remove(deviceId);
        // The device's adbd port (host mode) is free again.
        this.record(deviceId, { state: "deleted", event: "device.deleted", containerId: null, adbPort: null });
        return;
    }
  }
}
