import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { looksLikeJwt, signAccessToken, verifyAccessToken } from "./jwt.js";

const SECRET = "unit-test-secret-0123456789abcdefghijkl";
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
const sign = (secret: string, input: string) => createHmac("sha256", secret).update(input).digest("base64url");

describe("HS256 access tokens", () => {
  it("round-trips sub, role, tv, iat, exp and a unique jti", () => {
    const now = 1_800_000_000_000;
    const a = signAccessToken(SECRET, { sub: "u1", role: "user", tv: 3 }, 900, now);
    const b = signAccessToken(SECRET, { sub: "u1", role: "user", tv: 3 }, 900, now);
    expect(a.claims).toMatchObject({ sub: "u1", role: "user", tv: 3, iat: 1_800_000_000, exp: 1_800_000_900 });
    expect(a.claims.jti).not.toBe(b.claims.jti);
    expect(looksLikeJwt(a.token)).toBe(true);
    const header = JSON.parse(Buffer.from(a.token.split(".")[0]!, "base64url").toString()) as unknown;
    expect(header).toEqual({ alg: "HS256", typ: "JWT" });
    expect(verifyAccessToken(SECRET, a.token, now + 1000)).toEqual({ ok: true, claims: a.claims });
  });

  it("answers token_expired once exp has passed", () => {
    const now = 1_800_000_000_000;
    const { token } = signAccessToken(SECRET, { sub: "u1", role: "admin", tv: 0 }, 60, now);
    expect(verifyAccessToken(SECRET, token, now + 59_999).ok).toBe(true);
    expect(verifyAccessToken(SECRET, token, now + 60_000)).toMatchObject({ ok: false, code: "token_expired" });
  });

  it("refuses a forged signature, another key, and tampered claims", () => {
    const { token } = signAccessToken(SECRET, { sub: "u1", role: "user", tv: 0 }, 900);
    expect(verifyAccessToken("another-secret-0123456789abcdefghijkl", token)).toMatchObject({ ok: false, code: "invalid_token", reason: "bad token signature" });
    const [h, p, s] = token.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    const escalated = `${h}.${b64({ ...claims, role: "admin" })}.${s}`;
    expect(verifyAccessToken(SECRET, escalated)).toMatchObject({ ok: false, code: "invalid_token" });
    expect(verifyAccessToken(SECRET, `${h}.${p}.${s.slice(0, -2)}`)).toMatchObject({ ok: false, code: "invalid_token" });
    // A forged token is invalid_token even when it is also expired: the signature is checked first.
    const expiredForged = `${h}.${b64({ ...claims, exp: 1 })}.${s}`;
    expect(verifyAccessToken(SECRET, expiredForged)).toMatchObject({ code: "invalid_token" });
  });

  it("refuses alg none and every algorithm other than HS256", () => {
    const claims = { sub: "u1", role: "admin", tv: 0, iat: 1, exp: 9_999_999_999, jti: "j" };
    const none = `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`;
    expect(verifyAccessToken(SECRET, none)).toMatchObject({ ok: false, code: "invalid_token", reason: "unsupported token algorithm none" });
    for (const alg of ["HS512", "RS256", "hs256"]) {
      const input = `${b64({ alg, typ: "JWT" })}.${b64(claims)}`;
      expect(verifyAccessToken(SECRET, `${input}.${sign(SECRET, input)}`), alg).toMatchObject({ ok: false, code: "invalid_token" });
    }
    // Correctly signed HS256 but with claims of the wrong shape.
    const input = `${b64({ alg: "HS256" })}.${b64({ sub: "u1", role: "root", tv: 0, iat: 1, exp: 9_999_999_999, jti: "j" })}`;
    expect(verifyAccessToken(SECRET, `${input}.${sign(SECRET, input)}`)).toMatchObject({ ok: false, reason: "malformed token claims" });
  });

  it("refuses malformed strings without throwing", () => {
    for (const t of ["", "a", "a.b", "a.b.c.d", "a b.c.d", "!!.??.**", `${b64("x")}.${b64("y")}.zz`]) {
      expect(verifyAccessToken(SECRET, t).ok, t).toBe(false);
    }
  });
});
