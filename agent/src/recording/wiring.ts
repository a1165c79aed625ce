import type { AdbClient } from "../adb/client.js";
import type { AgentConfig } from "../config/schema.js";
import type { DeviceRepo } from "../devices/repo.js";
import type { Logger } from "../log.js";
import type { Outbox } from "../outbox/outbox.js";
import type { RpcHandlers } from "../rpc/types.js";
import type { Db } from "../store/db.js";
import { recordingHandlers } from "./handlers.js";
import { RecordingManager } from "./manager.js";

export interface RecordingsDeps {
  config: AgentConfig;
  db: Db;
  outbox: Outbox;
  repo: DeviceRepo;
  hostId: string;
  adbClient: AdbClient | null;
  onRecorded: () => void;
  log: Logger;
}

/**
 * Recording sessions (A3) for the composition root: recovers what an earlier run left (synchronously, before any
 * request can arrive), and gives the RPC handlers plus start/close for the agent's lifecycle.
 */
export function createRecordings(d: RecordingsDeps): { handlers: RpcHandlers; start(): void; close(): void } {
  const manager = new RecordingManager({
    db: d.db,
    outbox: d.outbox,
    repo: d.repo,
    hostId: d.hostId,
    adb: d.adbClient,
    dataDir: d.config.dataDir,
    retentionDays: d.config.recording.retentionDays,
    commandTimeoutMs: d.config.adb.commandTimeoutMs,
    onRecorded: d.onRecorded,
    log: d.log,
  });
  manager.recover();
  return { handlers: recordingHandlers(manager), start: () => manager.startBackground(), close: () => manager.close() };
}
