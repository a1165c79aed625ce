import { newId, newSecret, type EnrollRequest } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import { hashSecret } from "./secrets.js";

export interface CreatedToken {
  token: string;
  expiresAt: number;
}

export function createEnrollmentToken(db: Db, ttlSeconds: number, note: string | undefined, now = Date.now()): CreatedToken {
  const token = newSecret();
  const expiresAt = now + ttlSeconds * 1000;
  db.prepare("INSERT INTO enrollment_tokens (token_hash, expires_at, note, created_at) VALUES (?, ?, ?, ?)").run(
    hashSecret(token),
    expiresAt,
    note ?? null,
    now,
  );
  return { token, expiresAt };
}

export type EnrollOutcome =
  | { ok: true; hostId: string; password: string }
  | { ok: false; reason: "unknown" | "expired" | "used" };

/**
 * Consumes the one-time token and creates the host in one IMMEDIATE transaction, so two concurrent enrollments
 * with the same token cannot both succeed.
 */
export function enrollHost(db: Db, req: EnrollRequest, now = Date.now()): EnrollOutcome {
  const tokenHash = hashSecret(req.token);
  return db
    .transaction((): EnrollOutcome => {
      const row = db.prepare("SELECT expires_at, used_at FROM enrollment_tokens WHERE token_hash = ?").get(tokenHash) as
        | { expires_at: number; used_at: number | null }
        | undefined;
      if (!row) return { ok: false, reason: "unknown" };
      if (row.used_at !== null) return { ok: false, reason: "used" };
      if (row.expires_at <= now) return { ok: false, reason: "expired" };
      const hostId = newId(now);
      const password = newSecret();
      db.prepare(
        `INSERT INTO hosts (id, name, credential_hash, agent_version, status, cpu_millis, memory_mb, disk_mb, device_slots, created_at)
         VALUES (?, ?, ?, ?, 'never', ?, ?, ?, ?, ?)`,
      ).run(hostId, req.hostname, hashSecret(password), req.agentVersion, req.capacity.cpuMillis, req.capacity.memoryMb,
        req.capacity.diskMb, req.capacity.deviceSlots, now);
      db.prepare("UPDATE enrollment_tokens SET used_at = ?, host_id = ? WHERE token_hash = ?").run(now, hostId, tokenHash);
      return { ok: true, hostId, password };
    })
    .immediate();
}
