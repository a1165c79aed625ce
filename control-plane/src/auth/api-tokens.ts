import { newId, newSecret, type ApiTokenView } from "@cloudphone/shared-protocol";
import { hashSecret } from "../hosts/secrets.js";
import type { Db } from "../store/db.js";
import { SCOPES, type Principal, type Role, type Scope } from "./principal.js";

/** API tokens: `cpt_` + 32 random bytes, shown once, stored as SHA-256 (high entropy, so a fast hash is enough). */
export const API_TOKEN_PREFIX = "cpt_";
/** Live (unrevoked) tokens one user may hold, to bound the table. */
export const MAX_TOKENS_PER_USER = 100;

interface TokenRow {
  id: string;
  name: string;
  token_hash: string;
  scopes: string;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  created_at: number;
}

function toView(r: TokenRow): ApiTokenView {
  return {
    id: r.id,
    name: r.name,
    scopes: JSON.parse(r.scopes) as Scope[],
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    createdAt: r.created_at,
  };
}

export type GrantCheck = { ok: true } | { ok: false; scope: Scope; why: string };

/**
 * Which scopes a caller may put on a new token: never `admin` unless the user is an admin, and never more than the
 * calling credential has (an API token with account:write cannot mint itself a wider token).
 */
export function checkGrant(caller: Pick<Principal, "role" | "scopes">, wanted: readonly Scope[]): GrantCheck {
  for (const s of wanted) {
    if (!SCOPES.includes(s)) return { ok: false, scope: s, why: "is not a known scope" };
    if (s === "admin" && caller.role !== "admin") return { ok: false, scope: s, why: "requires the admin role" };
    if (caller.scopes !== "all" && !caller.scopes.includes(s)) return { ok: false, scope: s, why: "is not held by the calling token" };
  }
  return { ok: true };
}

export type CreateTokenResult = { ok: true; view: ApiTokenView; token: string } | { ok: false; code: "too_many_tokens" };

export function createApiToken(
  db: Db,
  userId: string,
  req: { name: string; scopes: readonly Scope[]; expiresInDays?: number | undefined },
  now = Date.now(),
): CreateTokenResult {
  return db
    .transaction((): CreateTokenResult => {
      const live = (db.prepare("SELECT COUNT(*) AS n FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL").get(userId) as { n: number }).n;
      if (live >= MAX_TOKENS_PER_USER) return { ok: false, code: "too_many_tokens" };
      const token = API_TOKEN_PREFIX + newSecret();
      const row: TokenRow = {
        id: newId(now),
        name: req.name,
        token_hash: hashSecret(token),
        scopes: JSON.stringify([...req.scopes]),
        expires_at: req.expiresInDays === undefined ? null : now + req.expiresInDays * 86_400_000,
        last_used_at: null,
        revoked_at: null,
        created_at: now,
      };
      db.prepare(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, scopes, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ).run(row.id, userId, row.name, row.token_hash, row.scopes, row.expires_at, now);
      return { ok: true, view: toView(row), token };
    })
    .immediate();
}

/** The user's unrevoked tokens (expired ones included, with their `expiresAt`), newest first; never the secrets. */
export function listApiTokens(db: Db, userId: string): ApiTokenView[] {
  return (db.prepare("SELECT * FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, id DESC").all(userId) as TokenRow[]).map(toView);
}

/** Revokes the user's token; false when there is no such token of this user (someone else's is "not found" too). */
export function revokeApiToken(db: Db, userId: string, tokenId: string, now = Date.now()): boolean {
  const r = db.prepare("SELECT revoked_at FROM api_tokens WHERE id = ? AND user_id = ?").get(tokenId, userId) as { revoked_at: number | null } | undefined;
  if (!r) return false;
  if (r.revoked_at === null) db.prepare("UPDATE api_tokens SET revoked_at = ? WHERE id = ?").run(now, tokenId);
  return true;
}

export function revokeAllApiTokens(db: Db, userId: string, now = Date.now()): number {
  return db.prepare("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL").run(now, userId).changes;
}

export interface ApiTokenAuthRow {
  id: string;
  user_id: string;
  scopes: string;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  role: Role;
  status: "active" | "deleted";
}
