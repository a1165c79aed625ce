import { newId } from "@cloudphone/shared-protocol";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import type { Role } from "../auth/principal.js";
import { signAccessToken } from "../auth/jwt.js";
import { resolveJwtSecret } from "../auth/jwt-secret.js";
import { getUserById } from "./store.js";

/**
 * Test helpers for in-process HTTP tests of any module: a user row and a JWT for it, without scrypt or HTTP.
 * Give the app config a `jwtSecret` (e.g. TEST_JWT_SECRET), else the key is generated into `<dataDir>/jwt-secret`.
 */
export const TEST_JWT_SECRET = "test-jwt-secret-0123456789abcdefghijklmnopqrstuv";

export function insertTestUser(db: Db, opts: { email?: string; role?: Role; passwordHash?: string | null } = {}): string {
  const now = Date.now();
  const id = newId(now);
  db.prepare("INSERT INTO users (id, email, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)").run(
    id,
    (opts.email ?? `user-${id}@example.com`).toLowerCase(),
    opts.passwordHash ?? null,
    opts.role ?? "user",
    now,
    now,
  );
  return id;
}

/** A valid access token for an existing user (current token_version), signed with the app's key. */
export function accessTokenFor(db: Db, config: Config, userId: string, ttlSeconds = config.accessTokenTtlSeconds, now = Date.now()): string {
  const u = getUserById(db, userId);
  if (!u) throw new Error(`accessTokenFor: no user ${userId}`);
  return signAccessToken(resolveJwtSecret(config).secret, { sub: u.id, role: u.role, tv: u.token_version }, ttlSeconds, now).token;
}

/** A user plus the headers to call the API as them. */
export function testUser(db: Db, config: Config, opts: { email?: string; role?: Role } = {}): { userId: string; token: string; headers: Record<string, string> } {
  const userId = insertTestUser(db, opts);
  const token = accessTokenFor(db, config, userId);
  return { userId, token, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } };
}
