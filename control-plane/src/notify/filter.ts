import type { DeliveredEvent } from "./notifier.js";

/** Who sees an event live: its user, and admins who asked for every event (`all=true`). Pure. */
export function visibleTo(e: Pick<DeliveredEvent, "userId">, viewer: { userId: string; all: boolean }): boolean {
  return viewer.all || (e.userId !== null && e.userId === viewer.userId);
}
