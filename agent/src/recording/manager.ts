import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { newId, type RecordingView } from "@cloudphone/shared-protocol";
import type { DeviceRecord } from "../devices/types.js";
import type { Logger } from "../log.js";
import type { Outbox } from "../outbox/outbox.js";
import { RpcFailure } from "../rpc/types.js";
import type { Db } from "../store/db.js";
import {
  deviceEndsSession,
  deviceFileOf,
  hostFileName,
  orphanFiles,
  planEnd,
  removeFileCommand,
  retentionCutoff,
  screenrecordCommand,
  signalCommand,
  type EndCause,
} from "./decide.js";
import { holdCommand, syncPull, type HeldProcess, type ProcessExit, type RecordingAdb } from "./device-io.js";
import { RecordingStore, viewOf, type RecordingRow } from "./store.js";

export interface RecordingManagerOptions {
  db: Db;
  outbox: Outbox;
  repo: { get(id: string): DeviceRecord | null };
  hostId: string;
  /** null: the adb layer is disabled; nothing can be recorded. */
  adb: RecordingAdb | null;
  dataDir: string;
  retentionDays: number;
  log: Logger;
  /** Called after every committed change (kicks the outbox pump). */
  onRecorded?: () => void;
  /** How long screenrecord may take to finish its file after SIGINT. */
  stopWaitMs?: number;
  pullTimeoutMs?: number;
  /** Limit of each short adb step (opening the stream, pkill, rm). */
  commandTimeoutMs?: number;
  /** Period of the device checks (stopped devices, pending device cleanups). */
  tickMs?: number;
  /** Least time between two cleanup attempts of one session on its device. */
  cleanupRetryMs?: number;
  now?: () => number;
}

interface Session {
  id: string;
  deviceId: string;
  serial: string;
  held: HeldProcess;
  timer: NodeJS.Timeout | null;
  /** Set once the device process has ended (or its stream broke). */
  exit: ProcessExit | null;
  ending: Promise<RecordingRow> | null;
}

const SWEEP_INTERVAL_MS = 3_600_000;
/** A screenrecord that fails at once (bad arguments, no encoder) does so within this; start answers the failure. */
const EARLY_EXIT_MS = 300;
const LIST_LIMIT = 200;

/**
 * Screen recording sessions (A3): at most one per device, each a `screenrecord` on the device held through an open
 * adb stream, always ended by the agent's own timer at its maximum duration (and by `--time-limit` on the device),
 * stopped by id, pulled to `<dataDir>/recordings/<id>.mp4`. Nothing is leaked: the device temp file is removed
 * after every session, and whatever an interrupted session left (agent restart, device stopped) is removed from the
 * device as soon as it is reachable and from the host at start.
 */
export class RecordingManager {
  readonly dir: string;
  private readonly store: RecordingStore;
  private readonly sessions = new Map<string, Session>();
  private readonly starting = new Set<string>();
  private readonly nextCleanupAt = new Map<string, number>();
  private readonly now: () => number;
  private readonly stopWaitMs: number;
  private readonly pullTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private tickTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private ticking = false;
  private closed = false;

  constructor(private readonly o: RecordingManagerOptions) {
    this.dir = join(o.dataDir, "recordings");
    this.store = new RecordingStore(o.db, o.outbox, o.hostId);
    this.now = o.now ?? Date.now;
    this.stopWaitMs = o.stopWaitMs ?? 10_000;
    this.pullTimeoutMs = o.pullTimeoutMs ?? 120_000;
    this.commandTimeoutMs = o.commandTimeoutMs ?? 5000;
  }

  /**
   * Start-up recovery, before any request: a session still `recording` was interrupted by the agent's exit, so it
   * fails (`agent_restarted`) and its device leftovers are queued for cleanup; host files no completed recording
   * names (partial pulls included) are deleted.
   */
  recover(): number {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const interrupted = this.store.allActive();
    for (const row of interrupted) {
      this.store.end(row.id, { status: "failed", endedAt: this.now(), bytes: null, reason: "agent_restarted", deviceCleanup: true });
      this.o.log.warn({ recordingId: row.id, deviceId: row.deviceId }, "recording interrupted by an agent restart: failed");
    }
    const orphans = orphanFiles(readdirSync(this.dir), this.store.completedIds());
    for (const f of orphans) rmSync(join(this.dir, f), { force: true, recursive: true });
    if (orphans.length > 0) this.o.log.info({ removed: orphans.length }, "removed orphan recording files");
    if (interrupted.length > 0) this.o.onRecorded?.();
    return interrupted.length;
  }

  /** Starts the periodic device checks and the hourly retention sweep. */
  startBackground(): void {
    const tickMs = this.o.tickMs ?? 1000;
    this.tickTimer = setInterval(() => void this.tick(), tickMs);
    this.tickTimer.unref();
    this.sweep();
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    void this.tick();
  }

  /**
   * Stops timers and lets go of the device streams (adbd hangs the processes up, which finishes their files). The
   * rows stay `recording`; the next start fails them as `agent_restarted` and cleans up.
   */
  close(): void {
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const s of this.sessions.values()) {
      if (s.timer) clearTimeout(s.timer);
      s.held.close();
    }
    this.sessions.clear();
  }

  async start(deviceId: string, params: { maxDurationMs: number; bitRate?: number | undefined }): Promise<RecordingView> {
    const adb = this.o.adb;
    if (!adb) throw new RpcFailure("device_not_ready", "the adb layer is disabled on this host (adb.enabled=false)");
    const dev = this.o.repo.get(deviceId);
    if (!dev || dev.state !== "running" || dev.adbPort === null || deviceEndsSession(dev)) {
      throw new RpcFailure("device_not_ready", `device ${deviceId} is ${dev?.state ?? "unknown"}; recording needs it running`);
    }
    if (this.starting.has(deviceId)) throw new RpcFailure("conflict", `a recording is being started on device ${deviceId}`);
    this.starting.add(deviceId);
    try {
      const id = newId(this.now());
      const row = this.store.start({ id, deviceId, startedAt: this.now(), maxDurationMs: params.maxDurationMs, bitRate: params.bitRate ?? null });
      if (!row) {
        const active = this.store.activeOn(deviceId);
        throw new RpcFailure("conflict", `device ${deviceId} is already recording (${active?.id ?? "?"})`);
      }
      this.o.onRecorded?.();
      const serial = adb.serial(dev.adbPort);
      let held: HeldProcess;
      try {
        held = await holdCommand(adb.server, serial, screenrecordCommand(id, params.maxDurationMs, params.bitRate), this.commandTimeoutMs);
      } catch (e) {
        const reason = `could not start screenrecord: ${(e as Error).message}`;
        this.store.end(id, { status: "failed", endedAt: this.now(), bytes: null, reason, deviceCleanup: true });
        this.o.onRecorded?.();
        throw new RpcFailure("failed", reason);
      }
      const s: Session = { id, deviceId, serial, held, timer: null, exit: null, ending: null };
      this.sessions.set(id, s);
      s.timer = setTimeout(() => this.endInBackground(s, { kind: "stop", reason: "max_duration" }), params.maxDurationMs);
      void held.exited.then((exit) => {
        s.exit = exit;
        if (s.ending || this.closed) return; // after close() the row stays `recording` for the next start to fail
        // A broken stream on a device that is going away is the device stopping, not a recorder failure.
        const cause: EndCause = exit.exitCode === null && deviceEndsSession(this.o.repo.get(deviceId)) ? { kind: "device_stopped" } : { kind: "exited", ...exit };
        this.endInBackground(s, cause);
      });
      const early = await Promise.race([held.exited.then(() => true), sleep(EARLY_EXIT_MS).then(() => false)]);
      if (early && s.ending) {
        const ended = await s.ending;
        if (ended.status === "failed") throw new RpcFailure("failed", ended.reason ?? "screenrecord failed");
      }
      this.o.log.info({ recordingId: id, deviceId, maxDurationMs: params.maxDurationMs }, "recording started");
      return viewOf(this.store.get(id) ?? row);
    } finally {
      this.starting.delete(deviceId);
    }
  }

  /** Stops a session by id and saves its file; an ended one is answered as it is (idempotent). */
  async stop(deviceId: string, recordingId: string): Promise<RecordingView> {
    const row = this.store.get(recordingId);
    if (!row || row.deviceId !== deviceId) throw new RpcFailure("not_found", `no recording ${recordingId} on device ${deviceId}`);
    if (row.status !== "recording") return viewOf(row);
    const s = this.sessions.get(recordingId);
    if (!s) {
      // Only after close(): nothing holds the process any more.
      const ended = this.store.end(recordingId, { status: "failed", endedAt: this.now(), bytes: null, reason: "agent_restarted", deviceCleanup: true });
      this.o.onRecorded?.();
      return viewOf(ended ?? row);
    }
    return viewOf(await this.end(s, { kind: "stop", reason: "stopped" }));
  }

  list(deviceId: string): RecordingView[] {
    return this.store.listByDevice(deviceId, LIST_LIMIT).map(viewOf);
  }

  /** The finished file of a completed recording; `not_found` when there is none. */
  file(deviceId: string, recordingId: string): { path: string; size: number } {
    const row = this.store.get(recordingId);
    if (!row || row.deviceId !== deviceId) throw new RpcFailure("not_found", `no recording ${recordingId} on device ${deviceId}`);
    if (row.status !== "completed") throw new RpcFailure("not_found", `recording ${recordingId} is ${row.status}: it has no file`);
    const path = join(this.dir, hostFileName(recordingId));
    try {
      return { path, size: statSync(path).size };
    } catch {
      throw new RpcFailure("not_found", `the file of recording ${recordingId} is gone (retention)`);
    }
  }

  /** Active sessions held by this process (for tests and metrics). */
  activeCount(): number {
    return this.sessions.size;
  }

  private end(s: Session, cause: EndCause): Promise<RecordingRow> {
    s.ending ??= this.finish(s, cause)
      .catch((e: unknown) => {
        // finish() handles every expected failure; this is the last resort so that a session always ends.
        this.o.log.error({ recordingId: s.id, err: e }, "ending a recording failed");
        return this.fail(s, `internal error: ${(e as Error).message}`, false);
      })
      .finally(() => {
        this.sessions.delete(s.id);
        this.o.onRecorded?.();
      });
    return s.ending;
  }

  /** end() where nobody waits for the outcome (timer, exit watcher, tick); a failure is only logged. */
  private endInBackground(s: Session, cause: EndCause): void {
    this.end(s, cause).catch((e: unknown) => this.o.log.error({ recordingId: s.id, err: e }, "recording could not be ended"));
  }

  private async finish(s: Session, cause: EndCause): Promise<RecordingRow> {
    if (s.timer) clearTimeout(s.timer);
    const plan = planEnd(cause);
    if (!plan.save) {
      s.held.close();
      return this.fail(s, plan.reason, await this.cleanupOnDevice(s.serial, s.id));
    }
    if (!s.exit) {
      // SIGINT makes screenrecord finish the MP4 (its index) and exit; the held stream reports the exit.
      await this.execQuiet(s.serial, signalCommand(s.id, "INT"));
      const exit = await Promise.race([s.held.exited, sleep(this.stopWaitMs).then(() => null)]);
      if (!exit) {
        s.held.close();
        return this.fail(s, `screenrecord did not finish within ${this.stopWaitMs} ms of SIGINT`, await this.cleanupOnDevice(s.serial, s.id));
      }
      if (exit.exitCode !== 0) {
        const failed = planEnd({ kind: "exited", ...exit });
        return this.fail(s, failed.reason, await this.cleanupOnDevice(s.serial, s.id));
      }
    }
    s.held.close();
    const adb = this.o.adb!;
    const part = join(this.dir, `${s.id}.mp4.part`);
    const final = join(this.dir, hostFileName(s.id));
    let bytes: number;
    try {
      bytes = await syncPull(adb.server, s.serial, deviceFileOf(s.id), part, this.pullTimeoutMs);
      if (bytes === 0) throw new Error("the recording is empty");
      renameSync(part, final);
    } catch (e) {
      rmSync(part, { force: true });
      return this.fail(s, `pulling the recording failed: ${(e as Error).message}`, await this.cleanupOnDevice(s.serial, s.id));
    }
    const cleaned = await this.cleanupOnDevice(s.serial, s.id);
    const row = this.store.end(s.id, { status: "completed", endedAt: this.now(), bytes, reason: plan.reason, deviceCleanup: !cleaned });
    this.o.log.info({ recordingId: s.id, deviceId: s.deviceId, bytes, reason: plan.reason }, "recording completed");
    if (!row || row.status !== "completed") rmSync(final, { force: true }); // ended elsewhere meanwhile: no completed row names it
    return row!;
  }

  private fail(s: Session, reason: string, cleanedUp: boolean): RecordingRow {
    rmSync(join(this.dir, `${s.id}.mp4.part`), { force: true });
    const row = this.store.end(s.id, { status: "failed", endedAt: this.now(), bytes: null, reason, deviceCleanup: !cleanedUp });
    this.o.log.warn({ recordingId: s.id, deviceId: s.deviceId, reason, cleanedUp }, "recording failed");
    return row!;
  }

  /** Kills the session's process (if any) and removes its device temp file; true when the file is surely gone. */
  private async cleanupOnDevice(serial: string, recordingId: string): Promise<boolean> {
    await this.execQuiet(serial, signalCommand(recordingId, "KILL")); // 1 when nothing is left to kill
    return (await this.execQuiet(serial, removeFileCommand(recordingId))) === 0;
  }

  /** Runs a short command; its exit status, or null when adb failed. */
  private async execQuiet(serial: string, cmd: string): Promise<number | null> {
    if (!this.o.adb) return null;
    try {
      return (await this.o.adb.exec(serial, cmd, { timeoutMs: this.commandTimeoutMs, maxOutputBytes: 4096 })).exitCode;
    } catch (e) {
      this.o.log.debug({ serial, err: (e as Error).message }, "recording: device command failed");
      return null;
    }
  }

  /** Ends sessions of devices that are going away; retries device cleanups of ended sessions on ready devices. */
  async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      for (const s of [...this.sessions.values()]) {
        if (!s.ending && deviceEndsSession(this.o.repo.get(s.deviceId))) this.endInBackground(s, { kind: "device_stopped" });
      }
      const now = this.now();
      for (const row of this.store.cleanupPending()) {
        if ((this.nextCleanupAt.get(row.id) ?? 0) > now) continue;
        const dev = this.o.repo.get(row.deviceId);
        if (!dev || dev.state === "deleted") {
          this.store.markCleanedUp(row.id); // the container and its data volume are gone
          continue;
        }
        if (dev.state !== "running" || dev.adbPort === null || !this.o.adb) continue;
        this.nextCleanupAt.set(row.id, now + (this.o.cleanupRetryMs ?? 5000));
        if (await this.cleanupOnDevice(this.o.adb.serial(dev.adbPort), row.id)) {
          this.store.markCleanedUp(row.id);
          this.nextCleanupAt.delete(row.id);
          this.o.log.info({ recordingId: row.id, deviceId: row.deviceId }, "recording leftovers removed from the device");
        }
      }
    } catch (e) {
      this.o.log.error({ err: e }, "recording tick failed");
    } finally {
      this.ticking = false;
    }
  }

  /** Retention: removes ended recordings (rows and files) older than `retentionDays`. */
  sweep(): number {
    try {
      const expired = this.store.expired(retentionCutoff(this.now(), this.o.retentionDays));
      for (const row of expired) {
        rmSync(join(this.dir, hostFileName(row.id)), { force: true });
        this.store.delete(row.id);
      }
      if (expired.length > 0) this.o.log.info({ removed: expired.length }, "recording retention sweep");
      return expired.length;
    } catch (e) {
      this.o.log.error({ err: e }, "recording retention sweep failed");
      return 0;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
