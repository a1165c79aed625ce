import type { Logger } from "pino";
import type { Statement } from "better-sqlite3";
import type { Config } from "../config.js";
import { hashSecret, secretMatches } from "../hosts/secrets.js";
import type { Db } from "../store/db.js";
import { ensureAdminUser } from "../users/bootstrap.js";
import { API_TOKEN_PREFIX, type ApiTokenAuthRow } from "./api-tokens.js";
import { looksLikeJwt, verifyAccessToken } from "./jwt.js";
import { resolveJwtSecret } from "./jwt-secret.js";
import type { Principal, Role, Scope } from "./principal.js";

export type AuthOutcome =
  | { ok: true; principal: Principal }
  | { ok: false; code: "invalid_token" | "token_expired"; message: string };

/** `last_used_at` is written at most this often per API token, so authenticated GETs stay read-only. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Turns a bearer credential into a `Principal`. Cheap by design (the request hot path): a JWT costs one HMAC and one
 * primary-key SELECT (token_version, status, role); an API token one SELECT by its unique hash. The role always comes
 * from the database, so a demotion takes effect on the next request.
 */
export class Authenticator {
  private readonly adminHash: string;
  private adminUserId: string | null = null;
  private readonly userStmt: Statement<[string], { role: Role; status: string; token_version: number }>;
  private readonly apiStmt: Statement<[string], ApiTokenAuthRow>;
  private readonly touchStmt: Statement<[number, string]>;

  constructor(
    private readonly db: Db,
    private readonly config: Config,
    adminToken: string,
    private readonly log: Logger,
  ) {
    this.adminHash = hashSecret(adminToken);
    this.userStmt = db.prepare("SELECT role, status, token_version FROM users WHERE id = ?");
    this.apiStmt = db.prepare(
      `SELECT t.id, t.user_id, t.scopes, t.expires_at, t.last_used_at, t.revoked_at, u.role, u.status
       FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?`,
    );
    this.touchStmt = db.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?");
  }

  authenticate(token: string, now = Date.now()): AuthOutcome {
    if (token.startsWith(API_TOKEN_PREFIX)) return this.apiToken(token, now);
    if (secretMatches(token, this.adminHash)) return { ok: true, principal: this.adminPrincipal() };
    if (looksLikeJwt(token)) return this.jwt(token, now);
    return { ok: false, code: "invalid_token", message: "unrecognised bearer token" };
  }

  /** The spine's admin token acts as the bootstrap admin user (created on first use if start-up did not). */
  private adminPrincipal(): Principal {
    this.adminUserId ??= ensureAdminUser(this.db, this.config, this.log);
    return { userId: this.adminUserId, role: "admin", scopes: "all", via: "admin_token" };
  }

  private jwt(token: string, now: number): AuthOutcome {
    const v = verifyAccessToken(resolveJwtSecret(this.config).secret, token, now);
    if (!v.ok) return { ok: false, code: v.code, message: v.reason };
    const u = this.userStmt.get(v.claims.sub);
    if (!u || u.status !== "active") return { ok: false, code: "invalid_token", message: "the token's user no longer exists" };
    if (u.token_version !== v.claims.tv) {
      return { ok: false, code: "invalid_token", message: "access token was revoked (password changed or signed out everywhere); sign in again" };
    }
    return { ok: true, principal: { userId: v.claims.sub, role: u.role, scopes: "all", via: "jwt" } };
  }

  private apiToken(token: string, now: number): AuthOutcome {
    const r = this.apiStmt.get(hashSecret(token));
    if (!r) return { ok: false, code: "invalid_token", message: "unknown API token" };
    if (r.revoked_at !== null) return { ok: false, code: "invalid_token", message: "API token has been revoked" };
    if (r.status !== "active") return { ok: false, code: "invalid_token", message: "the token's user no longer exists" };
    if (r.expires_at !== null && r.expires_at <= now) return { ok: false, code: "token_expired", message: "API token has expired" };
    if (r.last_used_at === null || now - r.last_used_at >= LAST_USED_RESOLUTION_MS) {
      try {
        this.touchStmt.run(now, r.id);
      } catch (e) {
        // Bookkeeping only: a busy database must not fail the request.
        this.log.warn({ err: e, tokenId: r.id }, "could not record API token use");
      }
    }
    return { ok: true, principal: { userId: r.user_id, role: r.role, scopes: JSON.parse(r.scopes) as Scope[], via: "api_token", tokenId: r.id } };
  }
}
