import { newId, type SessionResponse } from "@cloudphone/shared-protocol";
import type { Logger } from "pino";
import { hashPassword, needsRehash, verifyPassword } from "../auth/password.js";
import { pruneRefreshTokens, revokeAllRefreshTokens } from "../auth/refresh-tokens.js";
import { recordPlatformEvent } from "../platform/record.js";
import { afterFailure, lockedForMs, retryAfterSeconds, type LockoutPolicy } from "./lockout.js";
import { issueSession, type SessionContext } from "./sessions.js";
import { getUserByEmail, getUserById, isUniqueViolation, type UserRow } from "./store.js";

export interface AccountContext extends SessionContext {
  log: Logger;
}

export type Refusal =
  | { ok: false; code: "invalid_credentials" }
  | { ok: false; code: "account_locked"; retryAfterSeconds: number }
  | { ok: false; code: "email_taken" }
  | { ok: false; code: "same_password" }
  | { ok: false; code: "user_not_found" };
export type SessionOutcome = { ok: true; session: SessionResponse } | Refusal;

function policy(ctx: AccountContext): LockoutPolicy {
  return { maxFailures: ctx.config.loginMaxFailures, lockoutMs: ctx.config.loginLockoutSeconds * 1000 };
}

const locked = (ms: number): Refusal => ({ ok: false, code: "account_locked", retryAfterSeconds: retryAfterSeconds(ms) });

/** New account (role user) with its first session; `user.registered` in the same transaction as the insert. */
export async function register(ctx: AccountContext, body: { email: string; password: string }, requestId: string, now = Date.now()): Promise<SessionOutcome> {
  // Fast refusal without spending a hash; a taken email is visible through registration anyway.
  if (getUserByEmail(ctx.db, body.email)) return { ok: false, code: "email_taken" };
  const hash = await hashPassword(body.password);
  const t = Math.max(now, Date.now());
  try {
    return ctx.db
      .transaction((): SessionOutcome => {
        const id = newId(t);
        ctx.db
          .prepare("INSERT INTO users (id, email, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, 'user', ?, ?)")
          .run(id, body.email, hash, t, t);
        recordPlatformEvent(ctx.db, { name: "user.registered", userId: id, data: { email: body.email }, requestId }, t);
        return { ok: true, session: issueSession(ctx, getUserById(ctx.db, id)!, t) };
      })
      .immediate();
  } catch (e) {
    if (isUniqueViolation(e)) return { ok: false, code: "email_taken" };
    throw e;
  }
}

/** Counts a failed password check, locking the account at the limit; `user.login_failed` in the same transaction. */
function recordFailure(ctx: AccountContext, u: UserRow, reason: string, requestId: string, now: number): Refusal {
  const next = afterFailure({ failedLogins: u.failed_logins, lockedUntil: u.locked_until }, now, policy(ctx));
  ctx.db.prepare("UPDATE users SET failed_logins = ?, locked_until = ?, updated_at = ? WHERE id = ?").run(next.failedLogins, next.lockedUntil, now, u.id);
  recordPlatformEvent(
    ctx.db,
    {
      name: "user.login_failed",
      userId: u.id,
      data: { reason, consecutiveFailures: next.lockedNow ? ctx.config.loginMaxFailures : next.failedLogins, locked: next.lockedNow, lockedUntil: next.lockedUntil },
      requestId,
    },
    now,
  );
  ctx.log.warn({ requestId, userId: u.id, reason, locked: next.lockedNow }, "login failed");
  return next.lockedNow ? locked(next.lockedUntil! - now) : { ok: false, code: "invalid_credentials" };
}

/**
 * Password login. Unknown, deleted and password-less accounts run scrypt against a dummy hash, so they answer in
 * the same time as a wrong password. A locked account answers 429 without checking the password.
 */
export async function login(ctx: AccountContext, body: { email: string; password: string }, requestId: string): Promise<SessionOutcome> {
  const found = getUserByEmail(ctx.db, body.email);
  const user = found && found.status === "active" ? found : null;
  if (user) {
    const ms = lockedForMs({ failedLogins: user.failed_logins, lockedUntil: user.locked_until }, Date.now());
    if (ms > 0) return locked(ms);
  }
  const ok = await verifyPassword(body.password, user?.password_hash ?? null);
  if (!user) {
    ctx.log.info({ requestId }, "login refused: no active account with this email");
    return { ok: false, code: "invalid_credentials" };
  }
  const rehash = ok && needsRehash(user.password_hash!) ? await hashPassword(body.password) : null;
  const now = Date.now();
  return ctx.db
    .transaction((): SessionOutcome => {
      // Re-read: other requests may have changed the account while scrypt ran.
      const u = getUserById(ctx.db, user.id);
      if (!u || u.status !== "active" || u.password_hash !== user.password_hash) return { ok: false, code: "invalid_credentials" };
      const ms = lockedForMs({ failedLogins: u.failed_logins, lockedUntil: u.locked_until }, now);
      if (ms > 0) return locked(ms);
      if (!ok) return recordFailure(ctx, u, "invalid_password", requestId, now);
      ctx.db
        .prepare("UPDATE users SET failed_logins = 0, locked_until = NULL, password_hash = COALESCE(?, password_hash) WHERE id = ?")
        .run(rehash, u.id);
      pruneRefreshTokens(ctx.db, u.id, now);
      return { ok: true, session: issueSession(ctx, u, now) };
    })
    .immediate();
}

/**
 * Password change: needs the current password (a wrong one counts towards the lockout, so a stolen access token
 * cannot be used to guess it). Bumps token_version (older access tokens die), revokes every refresh token, records
 * `user.password_changed`, and returns a fresh session. API tokens are separate credentials and stay valid.
 */
export async function changePassword(
  ctx: AccountContext,
  userId: string,
  body: { currentPassword: string; newPassword: string },
  requestId: string,
): Promise<SessionOutcome> {
  const user = getUserById(ctx.db, userId);
  if (!user || user.status !== "active") return { ok: false, code: "user_not_found" };
  const ms = lockedForMs({ failedLogins: user.failed_logins, lockedUntil: user.locked_until }, Date.now());
  if (ms > 0) return locked(ms);
  if (body.currentPassword === body.newPassword) return { ok: false, code: "same_password" };
  const ok = await verifyPassword(body.currentPassword, user.password_hash);
  const hash = ok ? await hashPassword(body.newPassword) : null;
  const now = Date.now();
  return ctx.db
    .transaction((): SessionOutcome => {
      const u = getUserById(ctx.db, userId);
      if (!u || u.status !== "active") return { ok: false, code: "user_not_found" };
      // Changed by a concurrent request while scrypt ran: the check was against a stale hash.
      if (u.password_hash !== user.password_hash) return { ok: false, code: "invalid_credentials" };
      if (!ok) return recordFailure(ctx, u, "password_change_wrong_password", requestId, now);
      ctx.db
        .prepare(
          "UPDATE users SET password_hash = ?, token_version = token_version + 1, failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?",
        )
        .run(hash, now, userId);
      const revoked = revokeAllRefreshTokens(ctx.db, userId, now);
      recordPlatformEvent(ctx.db, { name: "user.password_changed", userId, data: { refreshTokensRevoked: revoked }, requestId }, now);
      return { ok: true, session: issueSession(ctx, getUserById(ctx.db, userId)!, now) };
    })
    .immediate();
}
