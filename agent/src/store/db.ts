import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { MIGRATIONS, type Migration } from "./migrations.js";

export type Db = Database.Database;

export interface OpenOptions {
  /** Directory holding agent.db; ":memory:" is not supported on purpose (the outbox must be durable). */
  dataDir: string;
  synchronous: "FULL" | "NORMAL";
}

export function openDatabase(opts: OpenOptions): Db {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const db = new Database(join(opts.dataDir, "agent.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  db.pragma(`synchronous = ${opts.synchronous}`);
  applyMigrations(db, MIGRATIONS);
  return db;
}

/** Applies every migration not yet recorded, each in its own transaction, in version order. */
export function applyMigrations(db: Db, migrations: readonly Migration[]): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const applied = new Set(
    (db.prepare("SELECT version FROM schema_migrations").all() as { version: number }[]).map((r) => r.version),
  );
  const done: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(m.version, m.name, Date.now());
    })();
    done.push(m.version);
  }
  return done;
}

/**
 * Next per-host sequence number. Call it inside the transaction that writes the message, so that the
 * order of seq is the order of commits.
 */
export function nextSeq(db: Db): number {
  const row = db.prepare("UPDATE seq_counter SET value = value + 1 WHERE id = 1 RETURNING value").get() as { value: number };
  return row.value;
}
