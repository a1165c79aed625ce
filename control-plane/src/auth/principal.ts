import type { Context } from "hono";
import { ApiError } from "../http/errors.js";

export const ROLES = ["user", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** Scopes an API token can carry; JWT sessions and the bootstrap admin token carry all of them. */
export const SCOPES = ["devices:read", "devices:write", "billing:read", "billing:write", "account:read", "account:write", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is calling, decided once per request by the auth middleware. */
export interface Principal {
  userId: string;
  role: Role;
  /** "all" for JWT sessions and the bootstrap admin token. */
  scopes: readonly Scope[] | "all";
  via: "jwt" | "api_token" | "admin_token";
  /** API token id (via api_token). */
  tokenId?: string;
}

type WithPrincipal = Context<{ Variables: { principal?: Principal } }>;

/** The authenticated caller; 401 when the route was reached without one (a wiring error or a public route). */
export function principalOf(c: Context): Principal {
  const p = (c as unknown as WithPrincipal).get("principal");
  if (!p) throw new ApiError(401, "unauthorized", "authentication required (Authorization: Bearer <token>)");
  return p;
}

export function hasScope(p: Principal, scope: Scope): boolean {
  return p.scopes === "all" || p.scopes.includes(scope);
}

/** 403 when the caller's token lacks the scope. */
export function requireScope(c: Context, scope: Scope): Principal {
  const p = principalOf(c);
  if (!hasScope(p, scope)) throw new ApiError(403, "insufficient_scope", `this token lacks the ${scope} scope`);
  return p;
}

/** 403 unless the caller is an admin (with the admin scope, for API tokens). */
export function requireAdmin(c: Context): Principal {
  const p = principalOf(c);
  if (p.role !== "admin" || !hasScope(p, "admin")) throw new ApiError(403, "forbidden", "this route requires the admin role");
  return p;
}

/** Whether the caller may see or act on a resource owned by `ownerId` (owners and admins). */
export function canAccess(p: Principal, ownerId: string | null): boolean {
  return p.role === "admin" || (ownerId !== null && ownerId === p.userId);
}
