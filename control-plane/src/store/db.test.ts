import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { migrate, openDatabase } from "./db.js";
import { MIGRATIONS } from "./migrations.js";
import { tempDir } from "../testing/fixtures.js";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe("openDatabase", () => {
  it("sets the pragmas and records every migration once", () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const file = join(t.dir, "sub", "cp.db");
    const db = openDatabase(file, { synchronous: "FULL" });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(db.pragma("busy_timeout", { simple: true })).toBe(5000);
    expect(db.pragma("synchronous", { simple: true })).toBe(2); // FULL
    const versions = db.prepare("SELECT version FROM schema_migrations ORDER BY version").all() as { version: number }[];
    expect(versions.map((v) => v.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(migrate(db, MIGRATIONS)).toEqual([]);
    db.close();
    const again = openDatabase(file, { synchronous: "NORMAL" });
    expect(again.pragma("synchronous", { simple: true })).toBe(1);
    expect((again.prepare("SELECT COUNT(*) AS n FROM schema_migrations").get() as { n: number }).n).toBe(MIGRATIONS.length);
    again.close();
  });

  it("rolls back a failing migration completely", () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const db = openDatabase(join(t.dir, "cp.db"), { synchronous: "FULL" });
    const bad = [...MIGRATIONS, { version: 999, name: "broken", sql: "CREATE TABLE x (a INTEGER); SELECT * FROM no_such_table;" }];
    expect(() => migrate(db, bad)).toThrow(/no_such_table/);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'x'").get()).toBeUndefined();
    expect(db.prepare("SELECT version FROM schema_migrations WHERE version = 999").get()).toBeUndefined();
    db.close();
  });
});
