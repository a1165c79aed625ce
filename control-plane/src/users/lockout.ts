/** Login lockout (pure): after `maxFailures` consecutive failures the account is locked for `lockoutMs`. */
export interface LockoutPolicy {
  maxFailures: number;
  lockoutMs: number;
}

export interface LoginState {
  failedLogins: number;
  lockedUntil: number | null;
}

/** Milliseconds the account stays locked (0 when it is not locked). */
export function lockedForMs(s: LoginState, now: number): number {
  return s.lockedUntil !== null && s.lockedUntil > now ? s.lockedUntil - now : 0;
}

/**
 * State after one more failure. Reaching the limit locks the account and resets the counter, so once the lock
 * expires the user again has `maxFailures` attempts before the next lock.
 */
export function afterFailure(s: LoginState, now: number, p: LockoutPolicy): LoginState & { lockedNow: boolean } {
  const failures = s.failedLogins + 1;
  if (failures >= p.maxFailures) return { failedLogins: 0, lockedUntil: now + p.lockoutMs, lockedNow: true };
  return { failedLogins: failures, lockedUntil: null, lockedNow: false };
}

/** Whole seconds for Retry-After (at least 1). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
