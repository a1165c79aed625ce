import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limiter.js";

const W = 60_000;

describe("RateLimiter (sliding window counter)", () => {
  it("allows exactly `limit` requests in a window, then refuses with a Retry-After", () => {
    const rl = new RateLimiter({ limit: 5, windowMs: W });
    const t0 = 10 * W; // start of a window
    const ds = Array.from({ length: 5 }, (_, i) => rl.hit("u1", t0 + i));
    expect(ds.every((d) => d.allowed)).toBe(true);
    expect(ds.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0]);
    const refused = rl.hit("u1", t0 + 10);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, limit: 5 });
    // No previous window: the next request fits once this window's 5 have decayed below 4 into the next window.
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(60);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(73);
    // Other keys are independent.
    expect(rl.hit("u2", t0 + 11).allowed).toBe(true);
  });

  it("does not count refused requests and lets the previous window decay", () => {
    const rl = new RateLimiter({ limit: 10, windowMs: W });
    const t0 = 10 * W;
    for (let i = 0; i < 10; i++) expect(rl.hit("k", t0 + i).allowed).toBe(true);
    for (let i = 0; i < 100; i++) expect(rl.hit("k", t0 + 100 + i).allowed).toBe(false);
    // Half-way through the next window the estimate is 10 × 0.5 = 5: five more fit, the sixth does not.
    const half = t0 + W + W / 2;
    for (let i = 0; i < 5; i++) expect(rl.hit("k", half).allowed).toBe(true);
    const d = rl.hit("k", half);
    expect(d.allowed).toBe(false);
    expect(d.retryAfterSeconds).toBeGreaterThan(0);
    // The advertised Retry-After is honoured: waiting that long lets the next request through.
    expect(rl.hit("k", half + d.retryAfterSeconds * 1000).allowed).toBe(true);
  });

  it("forgets a key after two idle windows and bounds the number of keys", () => {
    const rl = new RateLimiter({ limit: 1, windowMs: W, maxKeys: 3 });
    const t0 = 10 * W;
    expect(rl.hit("a", t0).allowed).toBe(true);
    expect(rl.hit("a", t0 + 1).allowed).toBe(false);
    expect(rl.hit("a", t0 + 2 * W).allowed).toBe(true);
    for (const k of ["b", "c", "d", "e"]) rl.hit(k, t0 + 2 * W);
    expect(rl.size).toBe(3);
    // Idle keys are swept once a window has passed.
    rl.hit("z", t0 + 5 * W);
    expect(rl.size).toBe(1);
  });

  it("honours Retry-After exactly at the boundary for many limits", () => {
    for (const limit of [1, 2, 3, 7, 20, 1200]) {
      const rl = new RateLimiter({ limit, windowMs: W });
      let now = 7 * W + 12_345;
      for (let i = 0; i < limit; i++) rl.hit("k", now);
      const d = rl.hit("k", now);
      expect(d.allowed).toBe(false);
      now += d.retryAfterSeconds * 1000;
      expect(rl.hit("k", now).allowed, `limit ${limit}`).toBe(true);
    }
  });
});
