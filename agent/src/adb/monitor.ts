import pRetry from "p-retry";
import type { Logger } from "../log.js";
import type { AdbClient } from "./client.js";
import { factsApply, type AdbFacts, type AdbStatus, type AdbWatch, type AdbWatcher } from "./facts.js";

export interface AdbMonitorOptions {
  client: Pick<AdbClient, "serial" | "connect" | "disconnect" | "waitForDevice" | "exec">;
  /** Pause between health checks of a ready device. */
  healthIntervalMs: number;
  /** Pause between the first readiness probes of a booting device; it grows to `maxProbeIntervalMs`. */
  probeIntervalMs: number;
  maxProbeIntervalMs?: number;
  /** Limit of each adb step (connect, wait for the transport, getprop). */
  commandTimeoutMs: number;
  /** Reconnect attempts after a failed health check before the device is reported unreachable. */
  maxReconnects: number;
  /** Delay before the second reconnect attempt; doubles with each further one. */
  reconnectBackoffMs: number;
  /** The facts of a device changed status: the loop should plan it again. */
  onChange: (deviceId: string) => void;
  log: Logger;
  now?: () => number;
}

interface Session {
  deviceId: string;
  mode: Exclude<AdbWatch, "none">;
  port: number;
  run: number | null;
  serial: string;
  abort: AbortController;
  timer: NodeJS.Timeout | null;
  busy: boolean;
  probes: number;
}

const BOOT_COMPLETED = "getprop sys.boot_completed";

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Watches each device's adb connection as the planner asks (boot: probe until ready; health: check
 * periodically, reconnect with back-off on failure) and keeps the resulting facts for the planner. Readiness and
 * health are the same test: adbd answers and `sys.boot_completed` is 1. All adb I/O of readiness and health is
 * here; decisions (states, events, restarts) are the planner's.
 */
export class AdbMonitor implements AdbWatcher {
  private readonly sessions = new Map<string, Session>();
  private readonly known = new Map<string, AdbFacts>();
  private stopped = false;

  constructor(private readonly o: AdbMonitorOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  facts(deviceId: string): AdbFacts | null {
    return this.known.get(deviceId) ?? null;
  }

  watch(deviceId: string, mode: AdbWatch, port: number | null, run: number | null): void {
    if (this.stopped) return;
    const cur = this.sessions.get(deviceId);
    if (mode === "none" || port === null) {
      if (cur) {
        this.end(cur);
        // Its container is stopped or being restarted: drop the transport so the adb server does not retry it.
        void this.o.client.disconnect(cur.port);
      }
      return;
    }
    if (cur && cur.mode === mode && cur.port === port && cur.run === run) return;
    if (cur) {
      this.end(cur);
      if (cur.port !== port) void this.o.client.disconnect(cur.port);
    }
    const prev = this.known.get(deviceId) ?? null;
    if (!factsApply(prev, run, port)) {
      this.known.set(deviceId, { run, port, status: "probing", since: this.now(), error: null });
    } else if (mode === "boot" && prev.status !== "ready") {
      this.known.set(deviceId, { ...prev, status: "probing", since: this.now() });
    }
    const s: Session = { deviceId, mode, port, run, serial: this.o.client.serial(port), abort: new AbortController(), timer: null, busy: false, probes: 0 };
    this.sessions.set(deviceId, s);
    this.o.log.debug({ deviceId, mode, port }, "adb watch");
    this.schedule(s, 0);
  }

  forget(deviceId: string): void {
    const cur = this.sessions.get(deviceId);
    if (cur) {
      this.end(cur);
      void this.o.client.disconnect(cur.port);
    }
    this.known.delete(deviceId);
  }

  /** A device the adb server reports gone or offline: check devices on that serial now rather than later. */
  checkSerial(serial: string): void {
    for (const s of this.sessions.values()) if (s.serial === serial && s.mode === "health") this.checkSoon(s);
  }

  /** The adb server came back (it forgets every TCP device when it restarts): check every ready device now. */
  checkAll(): void {
    for (const s of this.sessions.values()) if (s.mode === "health") this.checkSoon(s);
  }

  /** Stops every session; devices keep running and stay connected to the adb server. */
  stop(): void {
    this.stopped = true;
    for (const s of [...this.sessions.values()]) this.end(s);
  }

  private checkSoon(s: Session): void {
    if (s.busy || s.abort.signal.aborted) return;
    if (s.timer) clearTimeout(s.timer);
    this.schedule(s, 0);
  }

  private end(s: Session): void {
    s.abort.abort();
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
    if (this.sessions.get(s.deviceId) === s) this.sessions.delete(s.deviceId);
  }

  private live(s: Session): boolean {
    return !s.abort.signal.aborted && this.sessions.get(s.deviceId) === s;
  }

  private schedule(s: Session, delayMs: number): void {
    s.timer = setTimeout(() => {
      s.timer = null;
      if (!this.live(s)) return;
      s.busy = true;
      const work = s.mode === "boot" ? this.bootProbe(s) : this.healthCheck(s);
      void work
        .catch((e: unknown) => this.o.log.error({ deviceId: s.deviceId, err: message(e) }, "adb monitor step failed"))
        .finally(() => {
          s.busy = false;
        });
    }, delayMs);
    s.timer.unref();
  }

  /** Records a status (the error text is kept either way); tells the loop when the status changed. */
  private setFacts(s: Session, status: AdbStatus, error: string | null): void {
    if (!this.live(s)) return;
    const prev = this.known.get(s.deviceId) ?? null;
    const same = factsApply(prev, s.run, s.port) && prev.status === status;
    this.known.set(s.deviceId, { run: s.run, port: s.port, status, since: same ? prev.since : this.now(), error });
    if (same) return;
    const level = status === "lost" || status === "unreachable" ? "warn" : "info";
    this.o.log[level]({ deviceId: s.deviceId, serial: s.serial, adb: status, ...(error ? { err: error } : {}) }, "adb status");
    this.o.onChange(s.deviceId);
  }

  /**
   * The readiness test: `adb connect`, wait for the transport to be online, `getprop sys.boot_completed` = 1.
   * Returns null when ready, else what failed. A transport that does not come online is disconnected, so the
   * next attempt starts from a fresh connection instead of an adb server transport stuck offline.
   */
  private async check(s: Session): Promise<string | null> {
    const t = this.o.commandTimeoutMs;
    try {
      await this.o.client.connect(s.port, t);
    } catch (e) {
      return `adbd does not answer on ${s.serial}: ${message(e)}`;
    }
    try {
      await this.o.client.waitForDevice(s.serial, t);
    } catch (e) {
      await this.o.client.disconnect(s.port);
      return `adb transport ${s.serial} not online: ${message(e)}`;
    }
    return this.bootCompleted(s);
  }

  private async bootCompleted(s: Session): Promise<string | null> {
    try {
      const r = await this.o.client.exec(s.serial, BOOT_COMPLETED, { timeoutMs: this.o.commandTimeoutMs, maxOutputBytes: 4096 });
      if (r.timedOut) return `${BOOT_COMPLETED} timed out`;
      if (r.exitCode !== 0) return `${BOOT_COMPLETED} exited with ${r.exitCode}: ${r.stderr.toString("utf8").trim().slice(0, 200)}`;
      const value = r.stdout.toString("utf8").trim();
      return value === "1" ? null : `boot not completed (sys.boot_completed=${JSON.stringify(value)})`;
    } catch (e) {
      return `${BOOT_COMPLETED} failed: ${message(e)}`;
    }
  }

  private async bootProbe(s: Session): Promise<void> {
    // The adb server may still hold this serial's transport from an earlier run (offline, retrying on its own):
    // start from a fresh connection, or the first probes would wait on the stale one.
    if (s.probes === 0) await this.o.client.disconnect(s.port);
    if (!this.live(s)) return;
    const error = await this.check(s);
    if (!this.live(s)) return;
    if (error === null) {
      this.setFacts(s, "ready", null); // the planner switches the device to health checks
      return;
    }
    this.setFacts(s, "probing", error);
    s.probes++;
    const max = this.o.maxProbeIntervalMs ?? Math.max(this.o.probeIntervalMs, 2000);
    this.schedule(s, Math.min(max, Math.round(this.o.probeIntervalMs * 1.5 ** Math.max(0, s.probes - 4))));
  }

  private async healthCheck(s: Session): Promise<void> {
    // Cheap path first (one exec); then the full test, which also survives an adb server restart.
    let error = await this.bootCompleted(s);
    if (error !== null && this.live(s)) error = await this.check(s);
    if (!this.live(s)) return;
    if (error === null) {
      this.setFacts(s, "ready", null);
      this.schedule(s, this.o.healthIntervalMs);
      return;
    }
    this.setFacts(s, "lost", error);
    let last = error;
    if (this.o.maxReconnects === 0) {
      this.setFacts(s, "unreachable", error);
      return;
    }
    try {
      await pRetry(
        async () => {
          await this.o.client.disconnect(s.port);
          const e = await this.check(s);
          if (e !== null) {
            last = e;
            throw new Error(e);
          }
        },
        {
          retries: Math.max(0, this.o.maxReconnects - 1),
          minTimeout: this.o.reconnectBackoffMs,
          factor: 2,
          randomize: false,
          signal: s.abort.signal,
          unref: true,
        },
      );
    } catch {
      if (!this.live(s)) return;
      this.setFacts(s, "unreachable", `no adb connection after ${this.o.maxReconnects} reconnect attempt(s): ${last}`);
      return; // the planner restarts the container; a new run gets a new session
    }
    if (!this.live(s)) return;
    this.setFacts(s, "ready", null);
    this.schedule(s, this.o.healthIntervalMs);
  }
}
