import { topics, type DeviceCommand, type EventMessage, type EventName } from "@cloudphone/shared-protocol";
import type { Outbox } from "../outbox/outbox.js";
import type { Db } from "../store/db.js";

/**
 * The durable queue of app jobs (A2): one row per install/uninstall command, committed in the command's own
 * transaction (`applyCommand`), finished together with its result event in the outbox. Callers own no transaction:
 * each method is one statement or opens its own (nesting into an outer one as a savepoint).
 */

export type AppCommand = Extract<DeviceCommand, { action: "app_install" | "app_uninstall" }>;

export interface AppJob {
  seq: number;
  installId: string;
  commandId: string;
  deviceId: string;
  action: "install" | "uninstall";
  appId: string;
  packageName: string;
  sha256: string | null;
  size: number | null;
  attempts: number;
  nextAttemptAt: number;
  requestId: string | null;
}

interface JobRow {
  seq: number;
  install_id: string;
  command_id: string;
  device_id: string;
  action: "install" | "uninstall";
  app_id: string;
  package_name: string;
  sha256: string | null;
  size: number | null;
  attempts: number;
  next_attempt_at: number;
  request_id: string | null;
}

const fromRow = (r: JobRow): AppJob => ({
  seq: r.seq,
  installId: r.install_id,
  commandId: r.command_id,
  deviceId: r.device_id,
  action: r.action,
  appId: r.app_id,
  packageName: r.package_name,
  sha256: r.sha256,
  size: r.size,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  requestId: r.request_id,
});

export const isAppCommand = (c: DeviceCommand): c is AppCommand => c.action === "app_install" || c.action === "app_uninstall";

export interface JobResult {
  name: Extract<EventName, "app.installed" | "app.install_failed" | "app.uninstalled">;
  reason?: string;
  versionCode?: number;
}

const FINISHED_RETENTION_MS = 7 * 86_400_000;

const byDb = new WeakMap<Db, AppJobQueue>();

export class AppJobQueue {
  private readonly s;

  /** One queue (and its prepared statements) per connection. */
  static of(db: Db, outbox: Outbox, hostId: string): AppJobQueue {
    let q = byDb.get(db);
    if (!q) byDb.set(db, (q = new AppJobQueue(db, outbox, hostId)));
    return q;
  }

  constructor(
    private readonly db: Db,
    private readonly outbox: Outbox,
    private readonly hostId: string,
  ) {
    this.s = {
      insert: db.prepare(
        `INSERT OR IGNORE INTO app_jobs (install_id, command_id, device_id, action, app_id, package_name, sha256, size, request_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      devices: db.prepare("SELECT device_id FROM app_jobs WHERE status = 'queued' GROUP BY device_id ORDER BY MIN(seq)").pluck(),
      head: db.prepare("SELECT * FROM app_jobs WHERE status = 'queued' AND device_id = ? ORDER BY seq LIMIT 1"),
      queuedOf: db.prepare("SELECT * FROM app_jobs WHERE status = 'queued' AND device_id = ? ORDER BY seq"),
      finish: db.prepare("UPDATE app_jobs SET status = ?, error = ?, updated_at = ? WHERE seq = ? AND status = 'queued'"),
      retry: db.prepare("UPDATE app_jobs SET attempts = attempts + 1, next_attempt_at = ?, error = ?, updated_at = ? WHERE seq = ? AND status = 'queued'"),
      get: db.prepare("SELECT * FROM app_jobs WHERE install_id = ?"),
      cleanup: db.prepare("DELETE FROM app_jobs WHERE status != 'queued' AND updated_at < ?"),
    };
  }

  /** Queues the job of an app command (call inside applyCommand's transaction). A re-sent command queues nothing. */
  enqueue(cmd: AppCommand, now: number): boolean {
    const install = cmd.action === "app_install";
    return (
      this.s.insert.run(
        cmd.installId,
        cmd.id,
        cmd.deviceId,
        install ? "install" : "uninstall",
        install ? cmd.app.id : cmd.appId,
        install ? cmd.app.packageName : cmd.packageName,
        install ? cmd.app.sha256 : null,
        install ? cmd.app.size : null,
        cmd.requestId ?? null,
        now,
        now,
      ).changes === 1
    );
  }

  /** Devices with queued jobs, the one waiting longest first. */
  devicesWithJobs(): string[] {
    return this.s.devices.all() as string[];
  }

  /** The next job of a device (jobs of one device run strictly in arrival order). */
  head(deviceId: string): AppJob | null {
    const r = this.s.head.get(deviceId) as JobRow | undefined;
    return r ? fromRow(r) : null;
  }

  get(installId: string): (AppJob & { status: string; error: string | null }) | null {
    const r = this.s.get.get(installId) as (JobRow & { status: string; error: string | null }) | undefined;
    return r ? { ...fromRow(r), status: r.status, error: r.error } : null;
  }

  /** Ends a job and commits its result event, in one transaction. False when it was no longer queued. */
  finish(job: AppJob, result: JobResult, now: number): boolean {
    return this.db.transaction((): boolean => {
      const status = result.name === "app.install_failed" ? "failed" : "done";
      if (this.s.finish.run(status, result.reason ?? null, now, job.seq).changes === 0) return false;
      const data: EventMessage["data"] = { installId: job.installId, appId: job.appId, packageName: job.packageName };
      if (result.reason !== undefined) data.reason = result.reason.slice(0, 2000);
      if (result.versionCode !== undefined) data.versionCode = result.versionCode;
      this.outbox.enqueue(
        topics.event(this.hostId, result.name),
        (): Omit<EventMessage, "id" | "seq" | "ts" | "v"> => ({
          hostId: this.hostId,
          name: result.name,
          deviceId: job.deviceId,
          data,
          ...(job.requestId ? { requestId: job.requestId } : {}),
        }),
        { deviceId: job.deviceId },
      );
      return true;
    })();
  }

  /** Fails every queued job of a device (deleted), each with its own event. */
  failAll(deviceId: string, reason: string, now: number): number {
    return this.db.transaction((): number => {
      const jobs = (this.s.queuedOf.all(deviceId) as JobRow[]).map(fromRow);
      for (const j of jobs) this.finish(j, { name: "app.install_failed", reason }, now);
      return jobs.length;
    })();
  }

  /** Keeps the job queued for another attempt no earlier than `at`. */
  retryLater(job: AppJob, error: string, at: number, now: number): void {
    this.s.retry.run(at, error.slice(0, 2000), now, job.seq);
  }

  /** Drops finished jobs older than a week (their events were committed with them). */
  cleanup(now: number): number {
    return this.s.cleanup.run(now - FINISHED_RETENTION_MS).changes;
  }
}
