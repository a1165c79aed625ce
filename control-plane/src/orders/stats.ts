import { SagaStatus } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";

/** Sagas by status, every status present (0 when none); read at scrape time by the metrics collector. */
export function sagaCountsByStatus(db: Db): Record<SagaStatus, number> {
  const counts = Object.fromEntries(SagaStatus.options.map((s) => [s, 0])) as Record<SagaStatus, number>;
  const rows = db.prepare("SELECT status, COUNT(*) AS n FROM sagas GROUP BY status").all() as { status: SagaStatus; n: number }[];
  for (const r of rows) counts[r.status] = r.n;
  return counts;
}
