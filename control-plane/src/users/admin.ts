import type { AdminUserView, UserView } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import type { Role } from "../auth/principal.js";
import { revokeAllApiTokens } from "../auth/api-tokens.js";
import { revokeAllRefreshTokens } from "../auth/refresh-tokens.js";
import { applyDeviceAction } from "../devices/registry.js";
import { recordPlatformEvent } from "../platform/record.js";
import { getUserById, toUserView, type UserRow } from "./store.js";

export interface UserListFilter {
  email?: string | undefined;
  status?: "active" | "deleted" | undefined;
  role?: Role | undefined;
  limit: number;
  offset: number;
}

/** LIKE pattern for a literal substring (`%`, `_` and `\` escaped). */
function containsPattern(s: string): string {
  return `%${s.replace(/[\\%_]/g, (m) => "\\" + m)}%`;
}

export function listUsers(db: Db, f: UserListFilter): { users: UserView[]; total: number } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (f.email) {
    where.push("email LIKE ? ESCAPE '\\'");
    args.push(containsPattern(f.email));
  }
  if (f.status) {
    where.push("status = ?");
    args.push(f.status);
  }
  if (f.role) {
    where.push("role = ?");
    args.push(f.role);
  }
  const w = where.length ? `WHERE ${where.join(" AND ")}` : "";
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM users ${w}`).get(...args) as { n: number }).n;
  const rows = db.prepare(`SELECT * FROM users ${w} ORDER BY created_at, id LIMIT ? OFFSET ?`).all(...args, f.limit, f.offset) as UserRow[];
  return { users: rows.map(toUserView), total };
}

export function adminUserView(db: Db, u: UserRow, bootstrapId: string | null): AdminUserView {
  const devices = (
    db.prepare("SELECT COUNT(*) AS n FROM devices WHERE owner_id = ? AND deleted_at IS NULL AND desired != 'deleted'").get(u.id) as { n: number }
  ).n;
  const tokens = (db.prepare("SELECT COUNT(*) AS n FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL").get(u.id) as { n: number }).n;
  return {
    ...toUserView(u),
    failedLogins: u.failed_logins,
    lockedUntil: u.locked_until,
    liveDevices: devices,
    activeApiTokens: tokens,
    bootstrap: u.id === bootstrapId,
  };
}

export type AdminRefusal = { ok: false; code: "user_not_found" | "user_deleted" | "bootstrap_admin" | "self"; message: string };

export function patchUser(
  db: Db,
  id: string,
  patch: { role?: Role | undefined; unlock?: true | undefined },
  ctx: { bootstrapId: string | null; now?: number },
): { ok: true; user: UserRow } | AdminRefusal {
  const now = ctx.now ?? Date.now();
  return db
    .transaction((): { ok: true; user: UserRow } | AdminRefusal => {
      const u = getUserById(db, id);
      if (!u) return { ok: false, code: "user_not_found", message: `user ${id} does not exist` };
      if (u.status === "deleted") return { ok: false, code: "user_deleted", message: `user ${id} has been deleted` };
      if (patch.role && patch.role !== "admin" && id === ctx.bootstrapId) {
        return { ok: false, code: "bootstrap_admin", message: "the bootstrap admin cannot be demoted (it is re-promoted on every start)" };
      }
      // The role is read from the database on every request, so a change applies at once to JWTs and API tokens.
      if (patch.role) db.prepare("UPDATE users SET role = ?, updated_at = ? WHERE id = ?").run(patch.role, now, id);
      if (patch.unlock) db.prepare("UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?").run(now, id);
      return { ok: true, user: getUserById(db, id)! };
    })
    .immediate();
}

export type DeleteOutcome = { ok: true; user: UserRow; released: { deviceId: string; commandId: string }[] } | AdminRefusal;

/**
 * D4: marks the user deleted (email stays reserved), revokes every refresh and API token, bumps token_version (live
 * access tokens die), and commands the deletion of every live device they own, all in one IMMEDIATE transaction with
 * `user.deleted`. Quota needs no release: it is derived from live devices. Repeating the call is harmless: it answers
 * again and releases any device still live (the event is recorded once).
 */
export function deleteUser(db: Db, id: string, ctx: { bootstrapId: string | null; actorId: string; requestId: string; now?: number }): DeleteOutcome {
  const now = ctx.now ?? Date.now();
  return db
    .transaction((): DeleteOutcome => {
      const u = getUserById(db, id);
      if (!u) return { ok: false, code: "user_not_found", message: `user ${id} does not exist` };
      if (id === ctx.bootstrapId) return { ok: false, code: "bootstrap_admin", message: "the bootstrap admin cannot be deleted" };
      if (id === ctx.actorId) return { ok: false, code: "self", message: "an admin cannot delete their own account" };
      const first = u.status !== "deleted";
      if (first) {
        db.prepare("UPDATE users SET status = 'deleted', deleted_at = ?, token_version = token_version + 1, updated_at = ? WHERE id = ?").run(now, now, id);
      }
      revokeAllRefreshTokens(db, id, now);
      revokeAllApiTokens(db, id, now);
      const live = db
        .prepare("SELECT id FROM devices WHERE owner_id = ? AND deleted_at IS NULL AND desired != 'deleted' ORDER BY created_at, id")
        .pluck()
        .all(id) as string[];
      const released: { deviceId: string; commandId: string }[] = [];
      for (const deviceId of live) {
        // Nested in this transaction (a savepoint): the user and all their devices go together or not at all.
        const r = applyDeviceAction(db, deviceId, "delete", ctx.requestId, now);
        if (r.ok) released.push({ deviceId, commandId: r.commandId });
      }
      if (first) {
        recordPlatformEvent(
          db,
          { name: "user.deleted", userId: id, data: { email: u.email, by: ctx.actorId, releasedDevices: released.map((r) => r.deviceId) }, requestId: ctx.requestId },
          now,
        );
      }
      return { ok: true, user: getUserById(db, id)!, released };
    })
    .immediate();
}
