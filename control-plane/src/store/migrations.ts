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
  {
    version: 2,
    name: "users, tokens, quotas, plans, orders, sagas, ledger, metering, invoices, alerts, platform outbox",
    sql: `
CREATE TABLE users (
  id              TEXT PRIMARY KEY,
  email           TEXT NOT NULL UNIQUE COLLATE NOCASE,
  password_hash   TEXT,
  role            TEXT NOT NULL CHECK (role IN ('user','admin')),
  status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','deleted')),
  token_version   INTEGER NOT NULL DEFAULT 0,
  failed_logins   INTEGER NOT NULL DEFAULT 0,
  locked_until    INTEGER,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  deleted_at      INTEGER
);
CREATE TABLE refresh_tokens (
  id          TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL REFERENCES users(id),
  token_hash  TEXT NOT NULL UNIQUE,
  expires_at  INTEGER NOT NULL,
  revoked_at  INTEGER,
  created_at  INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users(id),
  name         TEXT NOT NULL,
  token_hash   TEXT NOT NULL UNIQUE,
  scopes       TEXT NOT NULL,
  expires_at   INTEGER,
  last_used_at INTEGER,
  revoked_at   INTEGER,
  created_at   INTEGER NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);
CREATE TABLE quotas (
  user_id        TEXT PRIMARY KEY REFERENCES users(id),
  max_devices    INTEGER NOT NULL CHECK (max_devices >= 0),
  max_cpu_millis INTEGER NOT NULL CHECK (max_cpu_millis >= 0),
  max_memory_mb  INTEGER NOT NULL CHECK (max_memory_mb >= 0),
  max_disk_mb    INTEGER NOT NULL CHECK (max_disk_mb >= 0),
  source         TEXT NOT NULL CHECK (source IN ('default','plan','admin')),
  updated_at     INTEGER NOT NULL
);
CREATE TABLE plans (
  id               TEXT PRIMARY KEY,
  name             TEXT NOT NULL,
  description      TEXT NOT NULL DEFAULT '',
  price_minor      INTEGER NOT NULL CHECK (price_minor >= 0),
  usage_model      TEXT NOT NULL CHECK (usage_model IN ('per_minute','per_hour','per_day','monthly')),
  usage_rate_minor INTEGER NOT NULL CHECK (usage_rate_minor >= 0),
  spec             TEXT NOT NULL,
  quota            TEXT,
  active           INTEGER NOT NULL DEFAULT 1,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE TABLE orders (
  id              TEXT PRIMARY KEY,
  user_id         TEXT NOT NULL REFERENCES users(id),
  plan_id         TEXT NOT NULL REFERENCES plans(id),
  status          TEXT NOT NULL CHECK (status IN ('pending','active','failed','cancelled')),
  amount_minor    INTEGER NOT NULL CHECK (amount_minor >= 0),
  device_id       TEXT,
  failure_code    TEXT,
  failure_message TEXT,
  request_id      TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  activated_at    INTEGER
);
CREATE INDEX orders_user ON orders(user_id, created_at);
CREATE TABLE sagas (
  id              TEXT PRIMARY KEY,
  kind            TEXT NOT NULL,
  order_id        TEXT NOT NULL UNIQUE REFERENCES orders(id),
  user_id         TEXT NOT NULL,
  step            TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('running','compensating','completed','compensated','compensation_failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  deadline_at     INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  last_error      TEXT,
  data            TEXT NOT NULL DEFAULT '{}',
  request_id      TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX sagas_open ON sagas(next_attempt_at) WHERE status IN ('running','compensating');
CREATE TABLE saga_log (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  saga_id  TEXT NOT NULL REFERENCES sagas(id),
  step     TEXT NOT NULL,
  outcome  TEXT NOT NULL,
  detail   TEXT,
  at       INTEGER NOT NULL
);
CREATE INDEX saga_log_saga ON saga_log(saga_id, id);
CREATE TABLE ledger_entries (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id             TEXT NOT NULL REFERENCES users(id),
  kind                TEXT NOT NULL CHECK (kind IN ('recharge','deduct','refund','usage','adjustment')),
  amount_minor        INTEGER NOT NULL,
  balance_after_minor INTEGER NOT NULL,
  idempotency_key     TEXT NOT NULL UNIQUE,
  order_id            TEXT,
  device_id           TEXT,
  description         TEXT NOT NULL DEFAULT '',
  request_id          TEXT,
  created_at          INTEGER NOT NULL
);
CREATE INDEX ledger_user ON ledger_entries(user_id, id);
CREATE TABLE balances (
  user_id          TEXT PRIMARY KEY REFERENCES users(id),
  balance_minor    INTEGER NOT NULL,
  low_notified     INTEGER NOT NULL DEFAULT 0,
  depleted_since   INTEGER,
  updated_at       INTEGER NOT NULL
);
CREATE TABLE device_meters (
  device_id      TEXT PRIMARY KEY,
  metered_ms     INTEGER NOT NULL DEFAULT 0,
  charged_units  INTEGER NOT NULL DEFAULT 0,
  charged_minor  INTEGER NOT NULL DEFAULT 0,
  updated_at     INTEGER NOT NULL
);
ALTER TABLE usage_records ADD COLUMN charged_at INTEGER;
ALTER TABLE usage_records ADD COLUMN charge_minor INTEGER;
CREATE INDEX usage_uncharged ON usage_records(received_at) WHERE charged_at IS NULL;
ALTER TABLE devices ADD COLUMN plan_id TEXT;
ALTER TABLE devices ADD COLUMN order_id TEXT;
ALTER TABLE devices ADD COLUMN suspended_at INTEGER;
CREATE INDEX devices_owner ON devices(owner_id) WHERE deleted_at IS NULL;
CREATE TABLE invoices (
  id             TEXT PRIMARY KEY,
  user_id        TEXT NOT NULL REFERENCES users(id),
  period         TEXT NOT NULL,
  opening_minor  INTEGER NOT NULL,
  credits_minor  INTEGER NOT NULL,
  debits_minor   INTEGER NOT NULL,
  closing_minor  INTEGER NOT NULL,
  lines          TEXT NOT NULL,
  status         TEXT NOT NULL CHECK (status IN ('open','final')),
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  UNIQUE (user_id, period)
);
CREATE TABLE alerts (
  id          TEXT PRIMARY KEY,
  kind        TEXT NOT NULL,
  severity    TEXT NOT NULL CHECK (severity IN ('warning','critical')),
  subject_id  TEXT,
  message     TEXT NOT NULL,
  data        TEXT NOT NULL DEFAULT '{}',
  created_at  INTEGER NOT NULL,
  resolved_at INTEGER,
  resolved_by TEXT
);
CREATE INDEX alerts_open ON alerts(created_at) WHERE resolved_at IS NULL;
CREATE TABLE platform_outbox (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT NOT NULL UNIQUE,
  name            TEXT NOT NULL,
  user_id         TEXT,
  device_id       TEXT,
  data            TEXT NOT NULL,
  request_id      TEXT,
  status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','published','failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT,
  next_attempt_at INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  published_at    INTEGER
);
CREATE INDEX platform_outbox_pending ON platform_outbox(status, seq);
CREATE INDEX platform_outbox_user ON platform_outbox(user_id, seq);
`,
  },
  {
    version: 3,
    name: "APK library (apps) and per-device install requests (app_installs)",
    sql: `
CREATE TABLE apps (
  id           TEXT PRIMARY KEY,
  owner_id     TEXT NOT NULL REFERENCES users(id),
  sha256       TEXT NOT NULL CHECK (length(sha256) = 64),
  size         INTEGER NOT NULL CHECK (size > 0),
  package_name TEXT NOT NULL,
  version_code INTEGER NOT NULL CHECK (version_code >= 0),
  version_name TEXT,
  label        TEXT,
  min_sdk      INTEGER,
  created_at   INTEGER NOT NULL,
  deleted_at   INTEGER
);
CREATE UNIQUE INDEX apps_owner_sha ON apps(owner_id, sha256) WHERE deleted_at IS NULL;
CREATE INDEX apps_owner ON apps(owner_id, id) WHERE deleted_at IS NULL;
CREATE INDEX apps_sha ON apps(sha256);
CREATE TABLE app_installs (
  id          TEXT PRIMARY KEY,
  app_id      TEXT NOT NULL REFERENCES apps(id),
  device_id   TEXT NOT NULL REFERENCES devices(id),
  action      TEXT NOT NULL CHECK (action IN ('install','uninstall')),
  status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','installed','failed','uninstalled')),
  error       TEXT,
  command_id  TEXT,
  request_id  TEXT,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  CHECK (status IN ('pending','failed') OR (action = 'install' AND status = 'installed') OR (action = 'uninstall' AND status = 'uninstalled'))
);
CREATE UNIQUE INDEX app_installs_one_pending ON app_installs(app_id, device_id) WHERE status = 'pending';
CREATE UNIQUE INDEX app_installs_command ON app_installs(command_id) WHERE command_id IS NOT NULL;
CREATE INDEX app_installs_device ON app_installs(device_id, created_at);
CREATE INDEX app_installs_app ON app_installs(app_id, status);
`,
  },
  {
    version: 4,
    name: "billing indexes: ledger by time (invoices, revenue), devices by plan and by funds suspension",
    sql: `
CREATE INDEX ledger_user_time ON ledger_entries(user_id, created_at);
CREATE INDEX ledger_time ON ledger_entries(created_at);
CREATE INDEX devices_plan ON devices(plan_id) WHERE plan_id IS NOT NULL;
CREATE INDEX devices_suspended ON devices(owner_id) WHERE suspended_at IS NOT NULL;
`,
  },
  {
    version: 5,
    name: "preinstall lists (plan and user) and the once-only preinstall mark of a device",
    sql: `
CREATE TABLE preinstall_lists (
  scope      TEXT NOT NULL CHECK (scope IN ('plan','user')),
  owner_id   TEXT NOT NULL,
  app_ids    TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (scope, owner_id)
);
ALTER TABLE devices ADD COLUMN preinstall_at INTEGER;
UPDATE devices SET preinstall_at = created_at;
`,
  },
  {
    version: 6,
    name: "recordings: screen recording sessions as the agents report them (A3)",
    sql: `
CREATE TABLE recordings (
  id              TEXT PRIMARY KEY,
  device_id       TEXT NOT NULL,
  host_id         TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('recording','completed','failed')),
  started_at      INTEGER NOT NULL,
  ended_at        INTEGER,
  max_duration_ms INTEGER,
  bytes           INTEGER,
  reason          TEXT,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX recordings_device ON recordings(device_id, started_at);
CREATE INDEX recordings_active ON recordings(status) WHERE status = 'recording';
`,
  },
];
