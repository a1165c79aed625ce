import { createHmac, timingSafeEqual } from "node:crypto";
import { newId } from "@cloudphone/shared-protocol";
import { z } from "zod";
import { ROLES, type Role } from "./principal.js";

/**
 * HS256 access tokens (RFC 7519) with node:crypto HMAC: synchronous and a few microseconds per verify, which keeps
 * authentication off the hot path's budget. Only `{"alg":"HS256"}` is accepted: `none`, RS256 (key-confusion) and
 * every other algorithm are refused before the signature is even computed. `iat`/`exp` are NumericDate (seconds).
 */
export interface AccessClaims {
  sub: string;
  role: Role;
  /** users.token_version when issued; a bump (password change, sign-out everywhere) kills older tokens. */
  tv: number;
  iat: number;
  exp: number;
  jti: string;
}

const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

const Header = z.object({ alg: z.string(), typ: z.string().optional() });
const Claims = z.object({
  sub: z.string().min(1).max(64),
  role: z.enum(ROLES),
  tv: z.number().int().min(0),
  iat: z.number().int().min(0),
  exp: z.number().int().min(0),
  jti: z.string().min(1).max(64),
});

function mac(secret: string, input: string): Buffer {
  return createHmac("sha256", secret).update(input).digest();
}

export function signAccessToken(
  secret: string,
  c: { sub: string; role: Role; tv: number },
  ttlSeconds: number,
  nowMs = Date.now(),
): { token: string; claims: AccessClaims } {
  const iat = Math.floor(nowMs / 1000);
  const claims: AccessClaims = { sub: c.sub, role: c.role, tv: c.tv, iat, exp: iat + ttlSeconds, jti: newId(nowMs) };
  const body = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return { token: `${body}.${mac(secret, body).toString("base64url")}`, claims };
}

export type VerifyResult = { ok: true; claims: AccessClaims } | { ok: false; code: "invalid_token" | "token_expired"; reason: string };

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Whether the string has the shape of a compact JWS (three base64url parts); cheap pre-check before verify. */
export function looksLikeJwt(token: string): boolean {
  const parts = token.split(".");
  return parts.length === 3 && parts.every((p, i) => (i === 2 ? p === "" || B64URL.test(p) : B64URL.test(p)));
}

function parseJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
}

/** Signature first, then claims: a forged token is `invalid_token` even when its `exp` has passed. */
export function verifyAccessToken(secret: string, token: string, nowMs = Date.now()): VerifyResult {
  if (!looksLikeJwt(token)) return { ok: false, code: "invalid_token", reason: "malformed token" };
  const [h, p, s] = token.split(".") as [string, string, string];
  // Fast path: the exact header this module signs with; anything else is parsed to name the refusal.
  if (h !== HEADER) {
    const header = Header.safeParse(parseJson(h));
    if (!header.success) return { ok: false, code: "invalid_token", reason: "malformed token header" };
    if (header.data.alg !== "HS256") return { ok: false, code: "invalid_token", reason: `unsupported token algorithm ${header.data.alg.slice(0, 16)}` };
  }
  const expected = mac(secret, `${h}.${p}`);
  const given = Buffer.from(s, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, code: "invalid_token", reason: "bad token signature" };
  const claims = Claims.safeParse(parseJson(p));
  if (!claims.success) return { ok: false, code: "invalid_token", reason: "malformed token claims" };
  if (claims.data.exp <= Math.floor(nowMs / 1000)) return { ok: false, code: "token_expired", reason: "access token has expired; refresh it" };
  return { ok: true, claims: claims.data };
}
