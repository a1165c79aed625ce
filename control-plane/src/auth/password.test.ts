import { describe, expect, it } from "vitest";
import { DEFAULT_PARAMS, DUMMY_HASH, decodeHash, hashPassword, needsRehash, verifyPassword } from "./password.js";

describe("password hashing (scrypt)", () => {
  it("encodes parameters and a per-hash random salt, and verifies only the right password", async () => {
    const pw = "correct horse battery staple";
    const [a, b] = await Promise.all([hashPassword(pw), hashPassword(pw)]);
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b); // different salts
    expect(a).not.toContain(pw);
    expect(DEFAULT_PARAMS.N).toBeGreaterThanOrEqual(16384);
    expect(await verifyPassword(pw, a)).toBe(true);
    expect(await verifyPassword(pw, b)).toBe(true);
    expect(await verifyPassword(pw + "x", a)).toBe(false);
    expect(await verifyPassword("", a)).toBe(false);
  });

  it("normalises Unicode so the same visible password always matches", async () => {
    const composed = "pässwörd-123456";
    const decomposed = composed.normalize("NFD");
    expect(decomposed).not.toBe(composed);
    expect(await verifyPassword(decomposed, await hashPassword(composed))).toBe(true);
  });

  it("refuses without a stored hash, or with a malformed or absurd one, after still running scrypt", async () => {
    const pw = "whatever-password";
    expect(await verifyPassword(pw, null)).toBe(false);
    expect(await verifyPassword(pw, "plain")).toBe(false);
    expect(await verifyPassword(pw, "scrypt$3$8$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).toBe(false);
    expect(decodeHash("scrypt$2097152$8$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).toBeNull(); // N too large
    expect(decodeHash(DUMMY_HASH)).not.toBeNull();
    // The dummy path costs about as much as a real check (same parameters), so unknown emails are not faster.
    const real = await hashPassword(pw);
    const time = async (h: string | null) => {
      const t = performance.now();
      for (let i = 0; i < 3; i++) await verifyPassword("other-password", h);
      return performance.now() - t;
    };
    await time(real); // warm up
    const [tReal, tDummy] = [await time(real), await time(null)];
    // Loose bounds (other processes share the CPU): what matters is that the dummy path is not near-instant.
    expect(tDummy).toBeGreaterThan(tReal * 0.3);
    expect(tDummy).toBeLessThan(tReal * 4);
  });

  it("flags hashes weaker than the current parameters for rehashing", async () => {
    const weak = await hashPassword("some-password-1", { N: 1024, r: 8, p: 1 });
    expect(await verifyPassword("some-password-1", weak)).toBe(true);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(await hashPassword("some-password-1"))).toBe(false);
    expect(needsRehash("garbage")).toBe(true);
  });
});
