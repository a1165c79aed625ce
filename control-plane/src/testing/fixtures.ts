import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SCHEMA_VERSION, newId, topics } from "@cloudphone/shared-protocol";
import { pino, type Logger } from "pino";
import { openDatabase, type Db } from "../store/db.js";
import { createEnrollmentToken, enrollHost } from "../hosts/enrollment.js";
import type { AppDeps } from "../http/app.js";
import { parseConfigObject, type ConfigInput } from "../config.js";
import { Inbox } from "../inbox/inbox.js";
import { CommandPublisher } from "../devices/publisher.js";
import { Ledger } from "../billing/ledger.js";
import { Notifier } from "../notify/notifier.js";
import { Metrics } from "../metrics/metrics.js";
import { ensureAdminUser } from "../users/bootstrap.js";

/** Shared helpers for the control plane's unit tests (real SQLite in a temp dir, silent logger). */
export function tempDir(prefix = "cp-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

export function tempDb(): { db: Db; dir: string; cleanup: () => void } {
  const t = tempDir();
  const db = openDatabase(join(t.dir, "control-plane.db"), { synchronous: "FULL" });
  return {
    db,
    dir: t.dir,
    cleanup: () => {
      if (db.open) db.close();
      t.cleanup();
    },
  };
}

export const DEFAULT_CAPACITY = { cpuMillis: 16_000, memoryMb: 32_768, diskMb: 500_000, deviceSlots: 5 };

export function enrollTestHost(db: Db, capacity = DEFAULT_CAPACITY): { hostId: string; password: string } {
  const { token } = createEnrollmentToken(db, 3600, "test");
  const r = enrollHost(db, { token, hostname: "test-host", agentVersion: "0.0.1", capacity });
  if (!r.ok) throw new Error(`enroll failed: ${r.reason}`);
  return { hostId: r.hostId, password: r.password };
}

const envelope = (seq: number) => ({ id: newId(), seq, ts: Date.now(), v: SCHEMA_VERSION });

export function statusMessage(hostId: string, status: "online" | "offline", seq: number) {
  return { topic: topics.status(hostId), body: { ...envelope(seq), hostId, status } };
}

export function deviceStateMessage(hostId: string, deviceId: string, state: string, seq: number, desired = "running") {
  return {
    topic: topics.deviceState(hostId, deviceId),
    body: { ...envelope(seq), hostId, deviceId, state, desired, generation: 1, since: Date.now() },
  };
}

export function eventMessage(hostId: string, name: string, seq: number, deviceId?: string) {
  return { topic: topics.event(hostId, name), body: { ...envelope(seq), hostId, name, ...(deviceId ? { deviceId } : {}), data: {} } };
}

export function resultMessage(hostId: string, deviceId: string, commandId: string, seq: number, outcome = "applied") {
  return { topic: topics.results(hostId), body: { ...envelope(seq), hostId, deviceId, commandId, outcome } };
}

export const payloadOf = (m: { body: unknown }): Buffer => Buffer.from(JSON.stringify(m.body));

/** Full `AppDeps` over a real temp database, for in-process HTTP tests (`app.request(...)`). */
export function testAppDeps(db: Db, overrides: Omit<Partial<AppDeps>, "config"> & { config?: ConfigInput } = {}): AppDeps {
  const log = overrides.log ?? silentLogger();
  const config = parseConfigObject({
    dataDir: "/nonexistent",
    logLevel: "silent",
    jwtSecret: "test-jwt-secret-0123456789abcdefghijklmnopqrstuv",
    ...(overrides.config ?? {}),
  });
  // As at start-up: the admin token acts as this account, which exists before the first request.
  ensureAdminUser(db, config, log);
  const { config: _ignored, ...rest } = overrides;
  const inbox = overrides.inbox ?? new Inbox(db, log);
  const notifier = overrides.notifier ?? new Notifier();
  return {
    db,
    log,
    config,
    adminToken: "admin-token-for-tests-0123456789",
    inbox,
    publisher: new CommandPublisher(db, log, 10_000),
    ledger: new Ledger(db, { lowBalanceThresholdMinor: config.lowBalanceThresholdMinor }),
    notifier,
    metrics: new Metrics({ db, inboxStats: inbox.stats, notifier }),
    bus: () => null,
    mqttPublicUrl: () => "mqtt://127.0.0.1:1883",
    ...rest,
  };
}
