/** Ordered schema migrations. Never edit an applied one: append a new version instead. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema",
    sql: `
CREATE TABLE enrollment_tokens (
  token_hash TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER,
  host_id    TEXT,
  note       TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE hosts (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  credential_hash TEXT NOT NULL,
  agent_version   TEXT,
  status          TEXT NOT NULL DEFAULT 'never' CHECK (status IN ('online','offline','never')),
  last_seen_at    INTEGER,
  status_seq      INTEGER NOT NULL DEFAULT -1,
  birth_seq       INTEGER NOT NULL DEFAULT -1,
  prev_birth_seq  INTEGER NOT NULL DEFAULT -1,
  capacity_seq    INTEGER NOT NULL DEFAULT -1,
  cpu_millis      INTEGER NOT NULL,
  memory_mb       INTEGER NOT NULL,
  disk_mb         INTEGER NOT NULL,
  device_slots    INTEGER NOT NULL,
  reported_used   TEXT,
  inventory       TEXT,
  created_at      INTEGER NOT NULL,
  revoked_at      INTEGER
);
CREATE TABLE devices (
  id           TEXT PRIMARY KEY,
  name         TEXT,
  owner_id     TEXT,
  host_id      TEXT NOT NULL REFERENCES hosts(id),
  spec         TEXT NOT NULL,
  cpu_millis   INTEGER NOT NULL,
  memory_mb    INTEGER NOT NULL,
  disk_mb      INTEGER NOT NULL,
  desired      TEXT NOT NULL CHECK (desired IN ('running','stopped','deleted')),
  generation   INTEGER NOT NULL,
  state        TEXT NOT NULL DEFAULT 'pending',
  state_seq    INTEGER,
  state_detail TEXT,
  error        TEXT,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  deleted_at   INTEGER
);
CREATE INDEX devices_host ON devices(host_id) WHERE deleted_at IS NULL;
CREATE TABLE commands (
  id             TEXT PRIMARY KEY,
  host_id        TEXT NOT NULL REFERENCES hosts(id),
  device_id      TEXT NOT NULL REFERENCES devices(id),
  generation     INTEGER NOT NULL,
  action         TEXT NOT NULL,
  payload        TEXT NOT NULL,
  request_id     TEXT,
  created_at     INTEGER NOT NULL,
  last_sent_at   INTEGER,
  send_count     INTEGER NOT NULL DEFAULT 0,
  result_outcome TEXT,
  result_error   TEXT,
  result_at      INTEGER
);
CREATE INDEX commands_pending ON commands(host_id) WHERE result_at IS NULL;
CREATE TABLE inbox (
  msg_id      TEXT PRIMARY KEY,
  host_id     TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  kind        TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE TABLE events (
  msg_id      TEXT PRIMARY KEY,
  host_id     TEXT NOT NULL,
  device_id   TEXT,
  name        TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  ts          INTEGER NOT NULL,
  data        TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX events_host_seq ON events(host_id, seq);
CREATE INDEX events_device ON events(device_id, host_id, seq);
CREATE TABLE usage_records (
  record_id   TEXT PRIMARY KEY,
  msg_id      TEXT NOT NULL,
  host_id     TEXT NOT NULL,
  device_id   TEXT NOT NULL,
  from_ms     INTEGER NOT NULL,
  to_ms       INTEGER NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX usage_device ON usage_records(device_id, from_ms);
CREATE TABLE rejected_messages (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  host_id         TEXT,
  topic           TEXT NOT NULL,
  code            TEXT NOT NULL,
  reason          TEXT NOT NULL,
  payload_excerpt TEXT NOT NULL,
  received_at     INTEGER NOT NULL
);
CREATE TABLE mqtt_credentials (
  username    TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  access      TEXT NOT NULL CHECK (access IN ('read','readwrite')),
  created_at  INTEGER NOT NULL
);
`,
  },
];
