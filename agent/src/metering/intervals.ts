/**
 * Pure metering arithmetic: when a device's meter opens and closes, and how closed running time is cut into
 * usage records. No I/O; every time is integer epoch ms passed in by the caller.
 *
 * A meter is "open since `openFrom`" while the device's recorded state is `running`. Closing it yields the
 * half-open interval [openFrom, end); successive intervals of one device therefore never overlap.
 */

/** Running time [from, to) in ms; always to > from. */
export interface Interval {
  from: number;
  to: number;
}

/** Docker's times for the container's latest run, when the observation carries them (null: unknown/never). */
export interface RunTimes {
  startedAt?: number | null | undefined;
  finishedAt?: number | null | undefined;
}

/** A usage record never spans more than the reporting interval; beyond this many pieces they get longer instead. */
export const MAX_PIECES_PER_CLOSE = 10_000;

function known(t: number | null | undefined): number | null {
  return typeof t === "number" && Number.isInteger(t) && t > 0 ? t : null;
}

/**
 * What Docker's times say about the latest run. Docker keeps the previous run's FinishedAt while the container
 * runs again, so the run has ended only if FinishedAt is not before StartedAt.
 */
export function lastRun(times: RunTimes): { runningSince: number | null; stoppedAt: number | null; startedAt: number | null; finishedAt: number | null } {
  const startedAt = known(times.startedAt);
  const finishedAt = known(times.finishedAt);
  const stopped = finishedAt !== null && (startedAt === null || finishedAt >= startedAt);
  return {
    startedAt,
    finishedAt,
    stoppedAt: stopped ? finishedAt : null,
    runningSince: !stopped && startedAt !== null ? startedAt : null,
  };
}

/** [from, to) cut into consecutive pieces of at most maxSpanMs (longer if that would exceed maxPieces). */
export function splitInterval(from: number, to: number, maxSpanMs: number, maxPieces = MAX_PIECES_PER_CLOSE): Interval[] {
  if (!(to > from)) return [];
  const span = Math.max(1, maxSpanMs, Math.ceil((to - from) / maxPieces));
  const out: Interval[] = [];
  for (let t = from; t < to; t += span) out.push({ from: t, to: Math.min(to, t + span) });
  return out;
}

export interface ObservationInput {
  /** The meter before this observation (null: closed). */
  openFrom: number | null;
  /** The recorded state after this observation is `running`. */
  running: boolean;
  /** When the recorded state before this observation began (lower bound for a container start). */
  prevStateSince: number;
  times: RunTimes;
  now: number;
}

export interface MeterStep {
  /** Running time to report now (not yet split), or null. */
  closed: Interval | null;
  /** The meter afterwards: open since this time, or null. */
  openFrom: number | null;
}

function interval(from: number, to: number): Interval | null {
  return to > from ? { from, to } : null;
}

/**
 * One observation of a device, in the transaction that records it:
 * - leaving `running` closes the meter where the container stopped (Docker's FinishedAt, clamped to
 *   [openFrom, now]) or, when the container has not stopped (e.g. marked broken while alive) or nothing is
 *   known, now;
 * - entering `running` (or running without a meter) opens it where the run started (StartedAt when it lies in
 *   [prevStateSince, now]) or now;
 * - staying `running` while Docker shows a run that started after `openFrom` (restarted behind our back, e.g.
 *   while the agent was down) closes the old run at its FinishedAt (or at the new start) and reopens at the
 *   new start, so the gap between the runs is not charged.
 */
export function meterOnObservation(i: ObservationInput): MeterStep {
  const run = lastRun(i.times);
  if (!i.running) {
    if (i.openFrom === null) return { closed: null, openFrom: null };
    const end = run.stoppedAt !== null ? Math.min(Math.max(run.stoppedAt, i.openFrom), i.now) : i.now;
    return { closed: interval(i.openFrom, end), openFrom: null };
  }
  if (i.openFrom === null) {
    const s = run.runningSince;
    return { closed: null, openFrom: s !== null && s >= i.prevStateSince && s <= i.now ? s : i.now };
  }
  const s = run.startedAt;
  if (s !== null && s > i.openFrom && s <= i.now) {
    const f = run.finishedAt;
    const end = f !== null && f >= i.openFrom && f <= s ? f : s;
    return { closed: interval(i.openFrom, end), openFrom: s };
  }
  return { closed: null, openFrom: i.openFrom };
}

/**
 * One tick: report the running time up to the last moment the device was confirmed running (never beyond
 * now) and continue from there. Nothing confirmed since openFrom, or a clock that went backwards: nothing.
 */
export function meterOnTick(openFrom: number, confirmedAt: number | null, now: number): MeterStep {
  if (confirmedAt === null) return { closed: null, openFrom };
  const end = Math.min(confirmedAt, now);
  if (!(end > openFrom)) return { closed: null, openFrom };
  return { closed: { from: openFrom, to: end }, openFrom: end };
}
