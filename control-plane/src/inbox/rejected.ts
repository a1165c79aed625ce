import type { Db } from "../store/db.js";

export interface RejectedView {
  id: number;
  hostId: string | null;
  topic: string;
  code: string;
  reason: string;
  payloadExcerpt: string;
  receivedAt: number;
}

export const EXCERPT_CHARS = 512;

export function payloadExcerpt(payload: Buffer): string {
  return payload.subarray(0, EXCERPT_CHARS * 4).toString("utf8").slice(0, EXCERPT_CHARS);
}

export function listRejected(db: Db, limit: number): RejectedView[] {
  const rows = db
    .prepare("SELECT id, host_id, topic, code, reason, payload_excerpt, received_at FROM rejected_messages ORDER BY id DESC LIMIT ?")
    .all(limit) as { id: number; host_id: string | null; topic: string; code: string; reason: string; payload_excerpt: string; received_at: number }[];
  return rows.map((r) => ({
    id: r.id,
    hostId: r.host_id,
    topic: r.topic,
    code: r.code,
    reason: r.reason,
    payloadExcerpt: r.payload_excerpt,
    receivedAt: r.received_at,
  }));
}

export function countRejectedStored(db: Db): number {
  return (db.prepare("SELECT COUNT(*) AS n FROM rejected_messages").get() as { n: number }).n;
}
