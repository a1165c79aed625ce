import { newId, type AppView } from "@cloudphone/shared-protocol";
import type { Statement } from "better-sqlite3";
import type { Db } from "../store/db.js";
import type { ApkInfo } from "./manifest.js";

/** A row of `apps` (migration 3). */
export interface AppRow {
  id: string;
  owner_id: string;
  sha256: string;
  size: number;
  package_name: string;
  version_code: number;
  version_name: string | null;
  label: string | null;
  min_sdk: number | null;
  created_at: number;
  deleted_at: number | null;
}

export function appView(r: AppRow): AppView {
  return {
    id: r.id,
    ownerId: r.owner_id,
    sha256: r.sha256,
    size: r.size,
    packageName: r.package_name,
    versionCode: r.version_code,
    versionName: r.version_name,
    label: r.label,
    minSdk: r.min_sdk,
    createdAt: r.created_at,
    deletedAt: r.deleted_at,
  };
}

export function apkInfoOf(r: AppRow): ApkInfo {
  return { packageName: r.package_name, versionCode: r.version_code, versionName: r.version_name, label: r.label, minSdk: r.min_sdk };
}

export interface ListAppsFilter {
  /** Undefined: every owner (admins). */
  ownerId?: string;
  packageName?: string;
  before?: string;
  limit: number;
}

/** SQL access to the APK library; statements are prepared once per database. */
export class AppStore {
  private readonly byId: Statement<[string], AppRow>;
  private readonly liveByOwnerSha: Statement<[string, string], AppRow>;
  private readonly anyBySha: Statement<[string], AppRow>;
  private readonly insertStmt: Statement<[string, string, string, number, string, number, string | null, string | null, number | null, number]>;
  private readonly deleteStmt: Statement<[number, string]>;
  private readonly referencedStmt: Statement<[string, string], { n: number }>;
  private readonly hostPendingStmt: Statement<[string, string], { n: number }>;

  constructor(private readonly db: Db) {
    this.byId = db.prepare("SELECT * FROM apps WHERE id = ?");
    this.liveByOwnerSha = db.prepare("SELECT * FROM apps WHERE owner_id = ? AND sha256 = ? AND deleted_at IS NULL");
    this.anyBySha = db.prepare("SELECT * FROM apps WHERE sha256 = ? LIMIT 1");
    this.insertStmt = db.prepare(
      `INSERT INTO apps (id, owner_id, sha256, size, package_name, version_code, version_name, label, min_sdk, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.deleteStmt = db.prepare("UPDATE apps SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL");
    // The file is still needed by a live app with that content, or by an install request not yet carried out.
    this.referencedStmt = db.prepare(
      `SELECT (SELECT COUNT(*) FROM apps WHERE sha256 = ? AND deleted_at IS NULL)
            + (SELECT COUNT(*) FROM app_installs i JOIN apps a ON a.id = i.app_id
               WHERE a.sha256 = ? AND i.status = 'pending' AND i.action = 'install') AS n`,
    );
    this.hostPendingStmt = db.prepare(
      `SELECT COUNT(*) AS n FROM app_installs i JOIN devices d ON d.id = i.device_id
       WHERE i.app_id = ? AND d.host_id = ? AND i.status = 'pending' AND i.action = 'install'`,
    );
  }

  get(id: string): AppRow | undefined {
    return this.byId.get(id);
  }

  /** The owner's live record of this content (an identical upload answers it). */
  liveByContent(ownerId: string, sha256: string): AppRow | undefined {
    return this.liveByOwnerSha.get(ownerId, sha256);
  }

  /** Any record (any owner, even deleted) of this content: its manifest was validated already. */
  anyByContent(sha256: string): AppRow | undefined {
    return this.anyBySha.get(sha256);
  }

  insert(a: { ownerId: string; sha256: string; size: number; info: ApkInfo; now: number }): AppRow {
    const id = newId(a.now);
    const i = a.info;
    this.insertStmt.run(id, a.ownerId, a.sha256, a.size, i.packageName, i.versionCode, i.versionName, i.label, i.minSdk, a.now);
    return this.byId.get(id)!;
  }

  list(f: ListAppsFilter): { apps: AppRow[]; nextBefore?: string } {
    const where = ["deleted_at IS NULL"];
    const args: (string | number)[] = [];
    const add = (clause: string, value: string) => {
      where.push(clause);
      args.push(value);
    };
    if (f.ownerId !== undefined) add("owner_id = ?", f.ownerId);
    if (f.packageName !== undefined) add("package_name = ?", f.packageName);
    if (f.before !== undefined) add("id < ?", f.before);
    const rows = this.db
      .prepare(`SELECT * FROM apps WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT ?`)
      .all(...args, f.limit + 1) as AppRow[];
    const more = rows.length > f.limit;
    const apps = more ? rows.slice(0, f.limit) : rows;
    return more ? { apps, nextBefore: apps[apps.length - 1]!.id } : { apps };
  }

  /** Marks the app deleted; false when it was already. */
  softDelete(id: string, now: number): boolean {
    return this.deleteStmt.run(now, id).changes === 1;
  }

  isContentReferenced(sha256: string): boolean {
    return this.referencedStmt.get(sha256, sha256)!.n > 0;
  }

  /** An agent may fetch an APK only while one of its devices has an install of it pending. */
  hostHasPendingInstall(appId: string, hostId: string): boolean {
    return this.hostPendingStmt.get(appId, hostId)!.n > 0;
  }
}
