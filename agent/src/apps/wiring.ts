import { join } from "node:path";
import type { AdbClient } from "../adb/client.js";
import type { AgentConfig } from "../config/schema.js";
import type { DeviceRepo } from "../devices/repo.js";
import type { Credentials } from "../enroll/credentials.js";
import type { Logger } from "../log.js";
import type { Outbox } from "../outbox/outbox.js";
import type { Db } from "../store/db.js";
import { ApkCache } from "./cache.js";
import { controlPlaneApkSource } from "./fetch.js";
import { AdbPackageManager } from "./installer.js";
import { AppJobQueue } from "./queue.js";
import { AppWorker } from "./worker.js";

export interface AppsDeps {
  config: AgentConfig;
  db: Db;
  outbox: Outbox;
  repo: DeviceRepo;
  hostId: string;
  creds: Credentials;
  adbClient: AdbClient | null;
  onFinished: () => void;
  log: Logger;
}

/** Builds the app worker (A2) of the composition root: queue, APK cache (swept now), package manager over adb. */
export function createAppWorker(d: AppsDeps): AppWorker {
  const queue = AppJobQueue.of(d.db, d.outbox, d.hostId);
  const removed = queue.cleanup(Date.now());
  if (removed > 0) d.log.info({ removed }, "old app jobs removed");
  const cache = new ApkCache({
    dir: join(d.config.dataDir, "apk-cache"),
    maxBytes: d.config.apps.cacheMaxBytes,
    retries: d.config.apps.downloadRetries,
    source: controlPlaneApkSource({
      controlPlaneUrl: d.config.controlPlaneUrl,
      username: d.creds.mqtt.username,
      password: d.creds.mqtt.password,
      timeoutMs: 30_000,
    }),
    log: d.log,
  });
  const swept = cache.sweep();
  d.log.info({ cacheBytes: swept.bytes, removed: swept.removed }, "APK cache swept");
  const client = d.adbClient;
  return new AppWorker({
    queue,
    repo: d.repo,
    pm: client ? new AdbPackageManager(client.server, (serial, cmd, opts) => client.exec(serial, cmd, opts)) : null,
    apks: cache,
    serialOf: (port) => client?.serial(port) ?? `127.0.0.1:${port}`,
    concurrency: d.config.apps.concurrency,
    installTimeoutMs: d.config.apps.installTimeoutMs,
    maxAttempts: d.config.apps.maxAttempts,
    retryBackoffMs: 2000,
    pollMs: 1000,
    onFinished: d.onFinished,
    log: d.log,
  });
}
