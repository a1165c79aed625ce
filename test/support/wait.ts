/** Polling helper for integration tests: waits until a probe's value satisfies a predicate. */

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What we were waiting for; goes first in the timeout error. */
  message?: string;
}

/** What a probe returns once it is satisfied. */
export type Truthy<T> = Exclude<T, undefined | null | false | 0 | "">;

/**
 * Calls `probe` until it returns a truthy value and returns that value (so a probe can answer
 * `list.length > 2 ? list : undefined` and the caller gets the list).
 * On timeout the error names `message` and shows the last observed value or error, which is usually
 * all one needs to see why a test is stuck.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Truthy<T>> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last: { value?: T; error?: unknown } = {};
  for (;;) {
    try {
      const value = await probe();
      last = { value };
      if (value) return value as Truthy<T>;
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  const observed =
    "error" in last ? `last error: ${describeError(last.error)}` : `last value: ${describeValue(last.value)}`;
  throw new Error(`${options.message ?? "condition"} not met within ${timeoutMs} ms; ${observed}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : describeValue(error);
}

function describeValue(value: unknown): string {
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
  } catch {
    return String(value);
  }
}
