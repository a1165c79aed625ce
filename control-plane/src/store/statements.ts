import type Database from "better-sqlite3";
import type { Db } from "./db.js";

export type Statement = Database.Statement<unknown[]>;

const cache = new WeakMap<Db, Map<string, Statement>>();

function cached(db: Db, sql: string, pluck: boolean): Statement {
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  const key = `${pluck ? "1" : "0"}${sql}`;
  let st = m.get(key);
  if (!st) m.set(key, (st = pluck ? db.prepare(sql).pluck() : db.prepare(sql)));
  return st;
}

/**
 * A prepared statement cached per connection. Hot paths (allocation, quota, saga steps, platform events, device
 * listing) run the same few queries many times a second, where compiling the SQL each time costs more than running it.
 */
export function stmt(db: Db, sql: string): Statement {
  return cached(db, sql, false);
}

/** The same, returning the first column only (a separate statement: pluck mode sticks to the statement object). */
export function plucked(db: Db, sql: string): Statement {
  return cached(db, sql, true);
}
