import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfigObject } from "../config.js";
import { resolveJwtSecret } from "../auth/jwt-secret.js";
import { verifyPassword } from "../auth/password.js";
import type { Db } from "../store/db.js";
import { silentLogger, tempDb } from "../testing/fixtures.js";
import { bootstrapAdminId, ensureBootstrapAdmin } from "./bootstrap.js";
import { getUserById } from "./store.js";
import { insertTestUser } from "./testing.js";

let db: Db;
let dir: string;
let cleanup: () => void;
beforeEach(() => ({ db, dir, cleanup } = tempDb()));
afterEach(() => cleanup());

const log = silentLogger();

describe("bootstrap admin and signing key", () => {
  it("creates the admin once (no password by default) and generates the JWT key file with mode 0600", () => {
    const config = parseConfigObject({ dataDir: dir });
    const id = ensureBootstrapAdmin(db, config, log);
    expect(ensureBootstrapAdmin(db, config, log)).toBe(id);
    expect(bootstrapAdminId(db, config)).toBe(id);
    expect(getUserById(db, id)).toMatchObject({ email: "admin@cloudphone.local", role: "admin", status: "active", password_hash: null });
    const file = join(dir, "jwt-secret");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const secret = readFileSync(file, "utf8").trim();
    expect(secret.length).toBeGreaterThanOrEqual(32);
    // A restart (new config object) reads the same key.
    expect(resolveJwtSecret(parseConfigObject({ dataDir: dir })).secret).toBe(secret);
    expect(resolveJwtSecret(parseConfigObject({ dataDir: dir, jwtSecret: "x".repeat(32) })).source).toBe("config");
  });

  it("sets the configured password only while the account has none, and promotes an existing user", async () => {
    insertTestUser(db, { email: "ops@example.com", role: "user" });
    const config = parseConfigObject({ dataDir: dir, bootstrapAdminEmail: "OPS@example.com", bootstrapAdminPassword: "bootstrap-password-1" });
    const id = ensureBootstrapAdmin(db, config, log);
    const u = getUserById(db, id)!;
    expect(u).toMatchObject({ email: "ops@example.com", role: "admin" });
    expect(await verifyPassword("bootstrap-password-1", u.password_hash)).toBe(true);
    db.prepare("UPDATE users SET password_hash = 'changed' WHERE id = ?").run(id);
    ensureBootstrapAdmin(db, parseConfigObject({ dataDir: dir, bootstrapAdminEmail: "ops@example.com", bootstrapAdminPassword: "another-password-2" }), log);
    expect(getUserById(db, id)!.password_hash).toBe("changed");
  });
});
