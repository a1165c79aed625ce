import type { DeviceRepo } from "../devices/repo.js";
import type { Logger } from "../log.js";
import { isFinal, type ApkRef } from "./cache.js";
import type { PackageManager, PmResult } from "./installer.js";
import type { AppJob, AppJobQueue, JobResult } from "./queue.js";

/**
 * Runs app jobs: per device strictly one at a time in arrival order, across devices concurrently up to
 * `concurrency`, and only while the device is `running` (ready). Jobs of a deleted device fail with a reason.
 * A job interrupted by a stop or crash stays queued and runs again (`pm install -r` and uninstall are idempotent
 * in effect). A failing adb step is retried a few times with back-off; pm's own answer is final.
 */

export interface ApkProvider {
  acquire(app: ApkRef, signal: AbortSignal): Promise<string>;
  release(sha256: string): void;
}

export interface AppWorkerOptions {
  queue: AppJobQueue;
  repo: Pick<DeviceRepo, "get">;
  /** null: no adb on this host, so jobs cannot run and fail with a reason. */
  pm: PackageManager | null;
  apks: ApkProvider;
  serialOf: (adbPort: number) => string;
  concurrency: number;
  installTimeoutMs: number;
  /** Attempts of a job whose adb step failed (device unreachable, stream broke, timeout) before it fails. */
  maxAttempts: number;
  retryBackoffMs: number;
  /** How often queued jobs are looked at without a kick (a device becoming ready). */
  pollMs: number;
  /** A job finished (its event is in the outbox). */
  onFinished: () => void;
  log: Logger;
  now?: () => number;
}

export class AppWorker {
  private readonly running = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly o: AppWorkerOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.kick(), this.o.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Looks for runnable jobs soon (a command arrived, a device changed state). */
  kick(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      try {
        this.pass();
      } catch (e) {
        this.o.log.error({ err: e }, "app job pass failed");
      }
    });
  }

  /** Stops taking jobs, aborts downloads and installs in progress (they stay queued) and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.abort.abort();
    await Promise.allSettled([...this.running.values()]);
  }

  /** Devices whose jobs are running now (for tests and stats). */
  get busy(): number {
    return this.running.size;
  }

  private pass(): void {
    const now = this.now();
    for (const deviceId of this.o.queue.devicesWithJobs()) {
      if (this.stopped || this.running.size >= this.o.concurrency) return;
      if (this.running.has(deviceId)) continue;
      const rec = this.o.repo.get(deviceId);
      if (!rec || rec.desired === "deleted" || rec.state === "deleted") {
        const n = this.o.queue.failAll(deviceId, `device ${deviceId} was deleted before the app job ran`, now);
        if (n > 0) this.o.onFinished();
        continue;
      }
      if (!this.o.pm) {
        const n = this.o.queue.failAll(deviceId, "the adb layer is disabled on this host (adb.enabled=false): apps cannot be installed", now);
        if (n > 0) this.o.onFinished();
        continue;
      }
      if (rec.state !== "running" || rec.adbPort === null) continue; // waits until the device is ready
      const head = this.o.queue.head(deviceId);
      if (!head || head.nextAttemptAt > now) continue;
      const run = this.runDevice(deviceId)
        .catch((e: unknown) => this.o.log.error({ err: e, deviceId }, "app jobs of a device failed unexpectedly"))
        .finally(() => {
          this.running.delete(deviceId);
          this.kick();
        });
      this.running.set(deviceId, run);
    }
  }

  private async runDevice(deviceId: string): Promise<void> {
    while (!this.stopped) {
      const rec = this.o.repo.get(deviceId);
      if (!rec || rec.state !== "running" || rec.adbPort === null || rec.desired === "deleted") return;
      const job = this.o.queue.head(deviceId);
      if (!job || job.nextAttemptAt > this.now()) return;
      await this.runJob(job, this.o.serialOf(rec.adbPort));
    }
  }

  private async runJob(job: AppJob, serial: string): Promise<void> {
    const started = this.now();
    let result: JobResult;
    try {
      result = job.action === "install" ? await this.install(job, serial) : await this.uninstall(job, serial);
    } catch (e) {
      if (this.stopped) return; // stays queued; runs again after the restart
      const msg = (e as Error).message;
      if (job.attempts + 1 < this.o.maxAttempts) {
        const at = this.now() + this.o.retryBackoffMs * 2 ** job.attempts;
        this.o.queue.retryLater(job, msg, at, this.now());
        this.o.log.warn({ installId: job.installId, deviceId: job.deviceId, attempt: job.attempts + 1, err: msg }, "app job failed; will retry");
        return;
      }
      result = { name: "app.install_failed", reason: msg };
    }
    if (this.o.queue.finish(job, result, this.now())) {
      this.o.onFinished();
      this.o.log.info(
        { installId: job.installId, deviceId: job.deviceId, appId: job.appId, packageName: job.packageName, event: result.name, reason: result.reason, ms: this.now() - started, requestId: job.requestId ?? undefined },
        "app job finished",
      );
    }
  }

  private async install(job: AppJob, serial: string): Promise<JobResult> {
    const pm = this.o.pm!;
    if (job.sha256 === null || job.size === null) return { name: "app.install_failed", reason: "the install command named no APK digest" };
    const app = { id: job.appId, sha256: job.sha256, size: job.size };
    let path: string;
    try {
      path = await this.o.apks.acquire(app, this.abort.signal);
    } catch (e) {
      if (this.stopped) throw e;
      // Download retries are done (p-retry in the cache); a digest mismatch or refusal is final anyway.
      const msg = (e as Error).message;
      return { name: "app.install_failed", reason: isFinal(e) ? msg : `download failed: ${msg}` };
    }
    let r: PmResult;
    try {
      r = await pm.install(serial, path, this.o.installTimeoutMs);
    } finally {
      this.o.apks.release(app.sha256);
    }
    if (r.timedOut) throw new Error(`pm install timed out after ${this.o.installTimeoutMs} ms`);
    if (!r.ok) return { name: "app.install_failed", reason: `pm install failed (exit ${r.exitCode}): ${r.output}` };
    const versionCode = await pm.versionCode(serial, job.packageName, 10_000).catch(() => undefined);
    return { name: "app.installed", ...(versionCode !== undefined ? { versionCode } : {}) };
  }

  private async uninstall(job: AppJob, serial: string): Promise<JobResult> {
    const r = await this.o.pm!.uninstall(serial, job.packageName, this.o.installTimeoutMs);
    if (r.timedOut) throw new Error(`pm uninstall timed out after ${this.o.installTimeoutMs} ms`);
    if (!r.ok) return { name: "app.install_failed", reason: `pm uninstall failed (exit ${r.exitCode}): ${r.output}` };
    return { name: "app.uninstalled" };
  }
}
