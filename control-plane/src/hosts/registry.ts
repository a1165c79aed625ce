import type { Db } from "../store/db.js";

export interface ResourceTotals {
  cpuMillis: number;
  memoryMb: number;
  diskMb: number;
  deviceSlots: number;
}

export interface HostView {
  id: string;
  name: string;
  agentVersion: string | null;
  status: "online" | "offline" | "never";
  lastSeenAt: number | null;
  createdAt: number;
  revokedAt: number | null;
  capacity: ResourceTotals;
  /** Allocated to this host's non-deleted devices by the control plane. */
  used: ResourceTotals;
  free: ResourceTotals;
  /** What the agent itself last reported (`capacity` message), if anything. */
  reported: unknown;
}

interface HostRow {
  id: string;
  name: string;
  agent_version: string | null;
  status: "online" | "offline" | "never";
  last_seen_at: number | null;
  created_at: number;
  revoked_at: number | null;
  cpu_millis: number;
  memory_mb: number;
  disk_mb: number;
  device_slots: number;
  reported_used: string | null;
  used_cpu: number;
  used_mem: number;
  used_disk: number;
  used_devices: number;
}

const SELECT_HOSTS = `
SELECT h.id, h.name, h.agent_version, h.status, h.last_seen_at, h.created_at, h.revoked_at,
       h.cpu_millis, h.memory_mb, h.disk_mb, h.device_slots, h.reported_used,
       COALESCE(SUM(d.cpu_millis), 0) AS used_cpu, COALESCE(SUM(d.memory_mb), 0) AS used_mem,
       COALESCE(SUM(d.disk_mb), 0) AS used_disk, COUNT(d.id) AS used_devices
FROM hosts h LEFT JOIN devices d ON d.host_id = h.id AND d.deleted_at IS NULL`;

function toView(r: HostRow): HostView {
  const capacity = { cpuMillis: r.cpu_millis, memoryMb: r.memory_mb, diskMb: r.disk_mb, deviceSlots: r.device_slots };
  const used = { cpuMillis: r.used_cpu, memoryMb: r.used_mem, diskMb: r.used_disk, deviceSlots: r.used_devices };
  return {
    id: r.id,
    name: r.name,
    agentVersion: r.agent_version,
    status: r.status,
    lastSeenAt: r.last_seen_at,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    capacity,
    used,
    free: {
      cpuMillis: capacity.cpuMillis - used.cpuMillis,
      memoryMb: capacity.memoryMb - used.memoryMb,
      diskMb: capacity.diskMb - used.diskMb,
      deviceSlots: capacity.deviceSlots - used.deviceSlots,
    },
    reported: r.reported_used ? (JSON.parse(r.reported_used) as unknown) : null,
  };
}

export function listHosts(db: Db): HostView[] {
  return (db.prepare(`${SELECT_HOSTS} GROUP BY h.id ORDER BY h.created_at, h.id`).all() as HostRow[]).map(toView);
}

export function getHost(db: Db, id: string): HostView | null {
  const row = db.prepare(`${SELECT_HOSTS} WHERE h.id = ? GROUP BY h.id`).get(id) as HostRow | undefined;
  return row ? toView(row) : null;
}

/** Revokes the host's credentials (it can no longer connect) and marks it offline. Returns false if unknown. */
export function revokeHost(db: Db, id: string, now = Date.now()): boolean {
  const r = db
    .prepare("UPDATE hosts SET revoked_at = COALESCE(revoked_at, ?), status = CASE WHEN status = 'never' THEN 'never' ELSE 'offline' END WHERE id = ?")
    .run(now, id);
  return r.changes > 0;
}
