import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import { ApkStorage, appsDirOf } from "./storage.js";
import { AppStore } from "./store.js";

/**
 * Start-up housekeeping of the APK store: removes files no live app and no pending install needs (a delete whose
 * file was kept for a pending install, or a crash between storing a file and recording it) and every temp file
 * (an upload interrupted by a crash). Call once before the HTTP server accepts uploads.
 */
export function sweepApkStore(db: Db, config: Pick<Config, "appsDir" | "dataDir">, log: Logger): { files: number; temps: number } {
  const store = new AppStore(db);
  const r = new ApkStorage(appsDirOf(config)).sweep((sha) => store.isContentReferenced(sha), 0);
  if (r.files > 0 || r.temps > 0) log.info({ removedFiles: r.files, removedTempFiles: r.temps }, "APK store swept");
  return r;
}
