import type { Db } from "../store/db.js";

export interface EventView {
  msgId: string;
  hostId: string;
  deviceId: string | null;
  name: string;
  seq: number;
  ts: number;
  data: unknown;
}

/** Events ordered by host, then by the host's `seq` (its commit order). */
export function listEvents(db: Db, f: { hostId?: string | undefined; deviceId?: string | undefined; limit: number }): EventView[] {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (f.hostId) {
    where.push("host_id = ?");
    args.push(f.hostId);
  }
  if (f.deviceId) {
    where.push("device_id = ?");
    args.push(f.deviceId);
  }
  args.push(f.limit);
  const rows = db
    .prepare(`SELECT msg_id, host_id, device_id, name, seq, ts, data FROM events ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY host_id, seq LIMIT ?`)
    .all(...args) as { msg_id: string; host_id: string; device_id: string | null; name: string; seq: number; ts: number; data: string }[];
  return rows.map((r) => ({ msgId: r.msg_id, hostId: r.host_id, deviceId: r.device_id, name: r.name, seq: r.seq, ts: r.ts, data: JSON.parse(r.data) as unknown }));
}
