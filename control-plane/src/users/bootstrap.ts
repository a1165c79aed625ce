import { newId } from "@cloudphone/shared-protocol";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import { hashPasswordSync } from "../auth/password.js";
import { resolveJwtSecret } from "../auth/jwt-secret.js";
import { getUserByEmail } from "./store.js";

/**
 * Start-up step for users and sessions: loads (or generates) the JWT signing key, and makes sure the bootstrap admin
 * (`bootstrapAdminEmail`, role admin) exists; returns its id. The spine's admin token acts as this user.
 * The password is set from `bootstrapAdminPassword` only while the account has none, so a password changed through
 * the API is not reset by the next restart. Without a password the account can only be used through the admin token.
 */
export function ensureBootstrapAdmin(db: Db, config: Config, log: Logger): string {
  const key = resolveJwtSecret(config);
  if (key.source === "generated") log.info({ file: key.file }, "JWT signing key generated and stored in file");
  return ensureAdminUser(db, config, log);
}

/** The admin-user half of `ensureBootstrapAdmin` (no key file touched); idempotent and cheap once the user exists. */
export function ensureAdminUser(db: Db, config: Config, log: Logger, now = Date.now()): string {
  const email = config.bootstrapAdminEmail.trim().toLowerCase();
  const existing = getUserByEmail(db, email);
  if (existing && existing.role === "admin" && existing.status === "active" && (existing.password_hash || !config.bootstrapAdminPassword)) {
    return existing.id;
  }
  // Hash outside the transaction (scrypt is slow); only needed when a password is to be set.
  const hash = config.bootstrapAdminPassword && !existing?.password_hash ? hashPasswordSync(config.bootstrapAdminPassword) : null;
  return db
    .transaction((): string => {
      const u = getUserByEmail(db, email);
      if (!u) {
        const id = newId(now);
        db.prepare("INSERT INTO users (id, email, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, 'admin', ?, ?)").run(id, email, hash, now, now);
        log.info({ userId: id, email, withPassword: hash !== null }, "bootstrap admin user created");
        return id;
      }
      if (u.role !== "admin" || u.status !== "active") {
        // The operator named this account as the bootstrap admin: it is (re)activated as an admin.
        log.warn({ userId: u.id, email, role: u.role, status: u.status }, "bootstrap admin email belongs to a non-admin or deleted user; making it an active admin");
        db.prepare("UPDATE users SET role = 'admin', status = 'active', deleted_at = NULL, updated_at = ? WHERE id = ?").run(now, u.id);
      }
      if (hash && !u.password_hash) db.prepare("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?").run(hash, now, u.id);
      return u.id;
    })
    .immediate();
}

/** The bootstrap admin's id, or null before start-up created it. */
export function bootstrapAdminId(db: Db, config: Config): string | null {
  return getUserByEmail(db, config.bootstrapAdminEmail.trim().toLowerCase())?.id ?? null;
}
