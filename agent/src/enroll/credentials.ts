import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HostId } from "@cloudphone/shared-protocol";
import { z } from "zod";

export const Credentials = z.strictObject({
  hostId: HostId,
  mqtt: z.strictObject({ url: z.string().min(1), username: z.string().min(1), password: z.string().min(1), clientId: z.string().min(1) }),
  controlPlaneUrl: z.string().min(1),
  enrolledAt: z.number().int().nonnegative(),
});
export type Credentials = z.infer<typeof Credentials>;

export const credentialsPath = (dataDir: string) => join(dataDir, "credentials.json");

/** null when not enrolled; throws when the file exists but is unreadable or invalid (never silently re-enroll). */
export function readCredentials(dataDir: string): Credentials | null {
  const p = credentialsPath(dataDir);
  if (!existsSync(p)) return null;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(p, "utf8"));
  } catch (e) {
    throw new Error(`credentials file ${p} is not valid JSON: ${(e as Error).message}`);
  }
  const r = Credentials.safeParse(data);
  if (!r.success) throw new Error(`credentials file ${p} is invalid: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

/** Atomic write (temp file + rename), mode 0600: the file holds the MQTT password. */
export function writeCredentials(dataDir: string, creds: Credentials): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const p = credentialsPath(dataDir);
  const tmp = `${p}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(creds, null, 2) + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, p);
}
