import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeviceSpec } from "@cloudphone/shared-protocol";
import { DeviceRepo } from "../devices/repo.js";
import type { ObserveContext } from "../devices/observe.js";
import { Outbox } from "../outbox/outbox.js";
import { openDatabase, type Db } from "../store/db.js";

export const SPEC: DeviceSpec = { cpuMillis: 1000, memoryMb: 512, diskMb: 1024, width: 720, height: 1280, dpi: 320, fps: 30 };

export interface TestStore {
  dir: string;
  db: Db;
  outbox: Outbox;
  repo: DeviceRepo;
  ctx: ObserveContext;
  clock: { now: number };
  cleanup(): void;
}

/** A real SQLite database in a fresh temp directory with a controllable clock. */
export function makeStore(hostId = "host-1"): TestStore {
  const dir = mkdtempSync(join(tmpdir(), "cp-agent-test-"));
  const db = openDatabase({ dataDir: dir, synchronous: "NORMAL" });
  const clock = { now: 1_700_000_000_000 };
  const outbox = new Outbox(db, { maxBackoffMs: 30_000, retentionDays: 7, baseBackoffMs: 500, now: () => clock.now });
  const repo = new DeviceRepo(db);
  return {
    dir,
    db,
    outbox,
    repo,
    clock,
    ctx: { db, repo, outbox, hostId, now: () => clock.now },
    cleanup() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
