/** Exponential back-off for the n-th failed attempt (1-based): base, 2·base, 4·base, … capped at `max`. */
export function backoffMs(attempt: number, base: number, max: number): number {
  const exp = Math.min(Math.max(attempt - 1, 0), 30); // 2^30 · base exceeds any sensible cap; avoids Infinity
  return Math.min(base * 2 ** exp, max);
}
