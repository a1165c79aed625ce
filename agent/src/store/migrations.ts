/** Ordered, append-only: never edit an applied migration, add a new one. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial",
    sql: `
      CREATE TABLE seq_counter (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        value INTEGER NOT NULL
      );
      INSERT INTO seq_counter (id, value) VALUES (1, 0);

      CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        owner_id TEXT,
        desired TEXT NOT NULL CHECK (desired IN ('running','stopped','deleted')),
        generation INTEGER NOT NULL,
        state TEXT NOT NULL,
        state_since INTEGER NOT NULL,
        container_id TEXT,
        adb_port INTEGER,
        exit_code INTEGER,
        oom_killed INTEGER,
        error TEXT,
        recovery_attempts INTEGER NOT NULL DEFAULT 0,
        restart_requested INTEGER NOT NULL DEFAULT 0,
        deleted_at INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );

      CREATE TABLE command_inbox (
        command_id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        generation INTEGER NOT NULL,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        received_at INTEGER NOT NULL
      );

      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        retain INTEGER NOT NULL DEFAULT 0,
        device_id TEXT,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','published','failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        published_at INTEGER
      );
      CREATE INDEX outbox_status_seq ON outbox (status, seq);
      CREATE INDEX outbox_published_at ON outbox (published_at) WHERE status = 'published';
    `,
  },
  {
    version: 2,
    name: "meter",
    // One row per device being metered (recorded state running): the start of its not yet reported running time.
    sql: `
      CREATE TABLE meter (
        device_id TEXT PRIMARY KEY,
        open_from INTEGER NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: "recordings",
    // Screen recording sessions (A3). At most one `recording` row per device (the partial unique index).
    // device_cleanup = 1: the session's screenrecord process and device temp file may still exist and are removed
    // as soon as the device is reachable.
    sql: `
      CREATE TABLE recordings (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('recording','completed','failed')),
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        max_duration_ms INTEGER NOT NULL,
        bit_rate INTEGER,
        bytes INTEGER,
        reason TEXT,
        device_cleanup INTEGER NOT NULL DEFAULT 0
      );
      CREATE UNIQUE INDEX recordings_one_active ON recordings (device_id) WHERE status = 'recording';
      CREATE INDEX recordings_device ON recordings (device_id, started_at);
      CREATE INDEX recordings_cleanup ON recordings (device_cleanup) WHERE device_cleanup = 1;
    `,
  },
  {
    version: 4,
    name: "app jobs",
    // Install/uninstall commands (A2) accepted from the control plane, processed per device in seq order. A job is
    // queued until its result event is committed to the outbox in the same transaction as its final status.
    sql: `
      CREATE TABLE app_jobs (
        seq INTEGER PRIMARY KEY,
        install_id TEXT NOT NULL UNIQUE,
        command_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('install','uninstall')),
        app_id TEXT NOT NULL,
        package_name TEXT NOT NULL,
        sha256 TEXT,
        size INTEGER,
        status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued','done','failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        request_id TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX app_jobs_queued ON app_jobs (device_id, seq) WHERE status = 'queued';
    `,
  },
];
