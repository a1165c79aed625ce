import type { SessionResponse } from "@cloudphone/shared-protocol";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import { signAccessToken } from "../auth/jwt.js";
import { resolveJwtSecret } from "../auth/jwt-secret.js";
import { consumeRefreshToken, insertRefreshToken, revokeAllRefreshTokens, revokeRefreshToken } from "../auth/refresh-tokens.js";
import { getUserById, toUserView, type UserRow } from "./store.js";

export interface SessionContext {
  db: Db;
  config: Config;
}

/** A new access token and refresh token for the user. Call inside the transaction that justified it. */
export function issueSession(ctx: SessionContext, user: UserRow, now = Date.now()): SessionResponse {
  const refresh = insertRefreshToken(ctx.db, user.id, ctx.config.refreshTokenTtlSeconds, now);
  const { token } = signAccessToken(
    resolveJwtSecret(ctx.config).secret,
    { sub: user.id, role: user.role, tv: user.token_version },
    ctx.config.accessTokenTtlSeconds,
    now,
  );
  return {
    tokenType: "Bearer",
    accessToken: token,
    refreshToken: refresh.token,
    expiresIn: ctx.config.accessTokenTtlSeconds,
    refreshExpiresAt: refresh.expiresAt,
    user: toUserView(user),
  };
}

export type RefreshOutcome =
  | { ok: true; session: SessionResponse }
  | { ok: false; reason: "unknown" | "expired" | "reused" | "user_deleted"; userId?: string };

/**
 * Rotation: the presented refresh token is revoked and a new pair issued, in one IMMEDIATE transaction (two
 * concurrent uses of one token cannot both win). A revoked token presented again revokes all of the user's refresh
 * tokens (see consumeRefreshToken); that revocation commits even though the answer is a 401.
 */
export function refreshSession(ctx: SessionContext, token: string, now = Date.now()): RefreshOutcome {
  return ctx.db
    .transaction((): RefreshOutcome => {
      const c = consumeRefreshToken(ctx.db, token, now);
      if (!c.ok) return c;
      const user = getUserById(ctx.db, c.userId);
      if (!user || user.status !== "active") return { ok: false, reason: "user_deleted", userId: c.userId };
      return { ok: true, session: issueSession(ctx, user, now) };
    })
    .immediate();
}

/**
 * Sign-out: revokes the given refresh token if it is the caller's; with `all`, every refresh token of the user and
 * (by bumping token_version) every access token issued so far.
 */
export function endSessions(ctx: SessionContext, userId: string, opts: { refreshToken?: string | undefined; all: boolean }, now = Date.now()): { revoked: number } {
  return ctx.db
    .transaction(() => {
      let revoked = 0;
      if (opts.refreshToken !== undefined && revokeRefreshToken(ctx.db, userId, opts.refreshToken, now)) revoked++;
      if (opts.all) {
        revoked += revokeAllRefreshTokens(ctx.db, userId, now);
        ctx.db.prepare("UPDATE users SET token_version = token_version + 1, updated_at = ? WHERE id = ?").run(now, userId);
      }
      return { revoked };
    })
    .immediate();
}
