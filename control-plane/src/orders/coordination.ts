import type { Db } from "../store/db.js";

/**
 * In-process coordination between the two drivers of sagas — the `POST /api/orders` request (steps 2–3) and the
 * background runner — which are constructed separately by the composition root but share one database. Keyed by the
 * `Db` object, so each control plane (and each test database) has its own. Correctness never depends on it: every
 * step re-checks (status, step) inside its transaction; this only avoids wasted work and gives the runner its kick.
 */
export interface SagaCoordination {
  /** Sagas some driver is advancing right now; the runner skips them. */
  readonly inFlight: Set<string>;
  /** Wake the runner now (instead of at its next tick). */
  kick(): void;
  /** The runner's wake-up; returns the unsubscribe function. */
  onKick(fn: () => void): () => void;
}

const registry = new WeakMap<Db, SagaCoordination>();

export function coordinationFor(db: Db): SagaCoordination {
  let c = registry.get(db);
  if (!c) {
    const listeners = new Set<() => void>();
    c = {
      inFlight: new Set(),
      kick: () => {
        for (const fn of listeners) fn();
      },
      onKick: (fn) => {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
    };
    registry.set(db, c);
  }
  return c;
}
