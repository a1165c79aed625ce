import type { UserView } from "@cloudphone/shared-protocol";
import type { Role } from "../auth/principal.js";
import type { Db } from "../store/db.js";

export interface UserRow {
  id: string;
  email: string;
  password_hash: string | null;
  role: Role;
  status: "active" | "deleted";
  token_version: number;
  failed_logins: number;
  locked_until: number | null;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

export function toUserView(r: UserRow): UserView {
  return {
    id: r.id,
    email: r.email,
    role: r.role,
    status: r.status,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deletedAt: r.deleted_at,
  };
}

export function getUserById(db: Db, id: string): UserRow | null {
  return (db.prepare("SELECT * FROM users WHERE id = ?").get(id) as UserRow | undefined) ?? null;
}

/** Emails are unique case-insensitively (COLLATE NOCASE), deleted users included: a deleted user's email stays taken. */
export function getUserByEmail(db: Db, email: string): UserRow | null {
  return (db.prepare("SELECT * FROM users WHERE email = ?").get(email) as UserRow | undefined) ?? null;
}

export function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE";
}
