import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newSecret } from "@cloudphone/shared-protocol";

export interface AdminTokenSource {
  token: string;
  /** Where the token came from; the file path when it was read or generated (never log the token itself). */
  source: "config" | "generated" | "file";
  file?: string;
}

/** The configured admin token, or the one stored in `<dataDir>/admin-token`, generated (mode 0600) on first start. */
export function resolveAdminToken(configured: string | undefined, dataDir: string): AdminTokenSource {
  if (configured) return { token: configured, source: "config" };
  const file = join(dataDir, "admin-token");
  if (existsSync(file)) {
    const token = readFileSync(file, "utf8").trim();
    if (token.length < 16) throw new Error(`${file}: stored admin token is shorter than 16 characters`);
    return { token, source: "file", file };
  }
  mkdirSync(dataDir, { recursive: true });
  const token = newSecret();
  writeFileSync(file, token + "\n", { mode: 0o600, flag: "wx" });
  return { token, source: "generated", file };
}
