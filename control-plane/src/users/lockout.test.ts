import { describe, expect, it } from "vitest";
import { afterFailure, lockedForMs, retryAfterSeconds } from "./lockout.js";

const policy = { maxFailures: 3, lockoutMs: 60_000 };

describe("login lockout", () => {
  it("locks after maxFailures consecutive failures and unlocks when the time is up", () => {
    let s = { failedLogins: 0, lockedUntil: null as number | null };
    const now = 1_000_000;
    for (let i = 1; i < 3; i++) {
      const n = afterFailure(s, now, policy);
      expect(n).toMatchObject({ failedLogins: i, lockedUntil: null, lockedNow: false });
      s = n;
    }
    const locked = afterFailure(s, now, policy);
    expect(locked).toEqual({ failedLogins: 0, lockedUntil: now + 60_000, lockedNow: true });
    expect(lockedForMs(locked, now + 1)).toBe(59_999);
    expect(retryAfterSeconds(lockedForMs(locked, now + 1))).toBe(60);
    expect(lockedForMs(locked, now + 60_000)).toBe(0);
    // After the lock the counter starts again from zero.
    expect(afterFailure(locked, now + 60_000, policy)).toMatchObject({ failedLogins: 1, lockedNow: false });
  });

  it("locks on the first failure when maxFailures is 1", () => {
    expect(afterFailure({ failedLogins: 0, lockedUntil: null }, 5, { maxFailures: 1, lockoutMs: 10 })).toMatchObject({ lockedNow: true, lockedUntil: 15 });
    expect(retryAfterSeconds(1)).toBe(1);
  });
});
