import type { AlertView } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";

/**
 * Operator alerts (raised by the purchase saga when a compensation fails, among others): listing and resolving.
 * Lives with billing because the admin routes that expose it do.
 */

interface AlertRow {
  id: string;
  kind: string;
  severity: AlertView["severity"];
  subject_id: string | null;
  message: string;
  data: string;
  created_at: number;
  resolved_at: number | null;
  resolved_by: string | null;
}

function toView(r: AlertRow): AlertView {
  return {
    id: r.id,
    kind: r.kind,
    severity: r.severity,
    subjectId: r.subject_id,
    message: r.message,
    data: JSON.parse(r.data) as unknown,
    createdAt: r.created_at,
    resolvedAt: r.resolved_at,
    resolvedBy: r.resolved_by,
  };
}

/** Newest first; `open` true = unresolved only, false = resolved only, undefined = all. */
export function listAlerts(db: Db, opts: { open?: boolean; limit: number }): AlertView[] {
  const where = opts.open === undefined ? "" : opts.open ? "WHERE resolved_at IS NULL" : "WHERE resolved_at IS NOT NULL";
  return (db.prepare(`SELECT * FROM alerts ${where} ORDER BY created_at DESC, id DESC LIMIT ?`).all(opts.limit) as AlertRow[]).map(toView);
}

/** Marks an alert resolved (a repeat keeps the first resolution); null when it does not exist. */
export function resolveAlert(db: Db, id: string, by: string, now = Date.now()): AlertView | null {
  db.prepare("UPDATE alerts SET resolved_at = ?, resolved_by = ? WHERE id = ? AND resolved_at IS NULL").run(now, by, id);
  const r = db.prepare("SELECT * FROM alerts WHERE id = ?").get(id) as AlertRow | undefined;
  return r ? toView(r) : null;
}
