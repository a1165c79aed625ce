import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { MIGRATIONS, type Migration } from "./migrations.js";

export type Db = Database.Database;

export interface OpenOptions {
  synchronous: "FULL" | "NORMAL";
}

/** Opens (creating if needed) the SQLite database with the project's pragmas and applies pending migrations. */
export function openDatabase(file: string, options: OpenOptions): Db {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  db.pragma(`synchronous = ${options.synchronous === "NORMAL" ? "NORMAL" : "FULL"}`);
  migrate(db, MIGRATIONS);
  return db;
}

/** Applies, in one transaction each, every migration whose version is not yet recorded. Returns the versions applied. */
export function migrate(db: Db, migrations: readonly Migration[]): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const applied = new Set(
    (db.prepare("SELECT version FROM schema_migrations").all() as { version: number }[]).map((r) => r.version),
  );
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  const done: number[] = [];
  for (const m of sorted) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(m.version, m.name, Date.now());
    }).immediate();
    done.push(m.version);
  }
  return done;
}

/** Liveness probe for /ready: a trivial query on the open connection. */
export function checkDatabase(db: Db): { ok: boolean; detail: string } {
  try {
    if (!db.open) return { ok: false, detail: "database is closed" };
    db.prepare("SELECT 1").get();
    return { ok: true, detail: "ok" };
  } catch (e) {
    return { ok: false, detail: (e as Error).message };
  }
}
