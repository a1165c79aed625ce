import { newId, newSecret } from "@cloudphone/shared-protocol";
import { hashSecret } from "../hosts/secrets.js";
import type { Db } from "../store/db.js";

/** Refresh tokens are random secrets (`cpr_` + 32 bytes), stored only as SHA-256 hashes; single use (rotation). */
export const REFRESH_PREFIX = "cpr_";

export function insertRefreshToken(db: Db, userId: string, ttlSeconds: number, now = Date.now()): { token: string; expiresAt: number } {
  const token = REFRESH_PREFIX + newSecret();
  const expiresAt = now + ttlSeconds * 1000;
  db.prepare("INSERT INTO refresh_tokens (id, user_id, token_hash, expires_at, created_at) VALUES (?, ?, ?, ?, ?)").run(
    newId(now),
    userId,
    hashSecret(token),
    expiresAt,
    now,
  );
  return { token, expiresAt };
}

export type ConsumeResult =
  | { ok: true; userId: string }
  | { ok: false; reason: "unknown" | "expired" | "reused"; userId?: string };

/**
 * Marks the token used (revoked) and returns its user. Call inside an IMMEDIATE transaction, so two concurrent uses
 * of one token cannot both succeed. Presenting an already revoked token is treated as theft (a rotated token
 * resurfacing): every live refresh token of that user is revoked, ending the thief's and the owner's sessions.
 */
export function consumeRefreshToken(db: Db, token: string, now = Date.now()): ConsumeResult {
  const row = db.prepare("SELECT id, user_id, expires_at, revoked_at FROM refresh_tokens WHERE token_hash = ?").get(hashSecret(token)) as
    | { id: string; user_id: string; expires_at: number; revoked_at: number | null }
    | undefined;
  if (!row) return { ok: false, reason: "unknown" };
  if (row.revoked_at !== null) {
    revokeAllRefreshTokens(db, row.user_id, now);
    return { ok: false, reason: "reused", userId: row.user_id };
  }
  db.prepare("UPDATE refresh_tokens SET revoked_at = ? WHERE id = ?").run(now, row.id);
  if (row.expires_at <= now) return { ok: false, reason: "expired", userId: row.user_id };
  return { ok: true, userId: row.user_id };
}

/** Revokes one token of this user (sign-out); false when it is unknown, not theirs or already revoked. */
export function revokeRefreshToken(db: Db, userId: string, token: string, now = Date.now()): boolean {
  return (
    db.prepare("UPDATE refresh_tokens SET revoked_at = ? WHERE token_hash = ? AND user_id = ? AND revoked_at IS NULL").run(now, hashSecret(token), userId)
      .changes === 1
  );
}

export function revokeAllRefreshTokens(db: Db, userId: string, now = Date.now()): number {
  return db.prepare("UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL").run(now, userId).changes;
}

/** Drops this user's expired rows (an expired token is refused as unknown anyway); keeps the table from growing. */
export function pruneRefreshTokens(db: Db, userId: string, now = Date.now()): number {
  return db.prepare("DELETE FROM refresh_tokens WHERE user_id = ? AND expires_at < ?").run(userId, now).changes;
}
