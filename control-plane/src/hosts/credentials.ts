import { newSecret } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import type { Identity } from "../mqtt/acl.js";
import { hashSecret, secretMatches } from "./secrets.js";

export const hostClientId = (hostId: string): string => `host-${hostId}`;

/**
 * Resolves MQTT CONNECT credentials to an identity: a host (username = hostId, not revoked, and not using another
 * host's `host-<id>` client id) or an operator (`mqtt_credentials`). Returns null for everything else.
 */
export function authenticateMqtt(db: Db, username: string | undefined, password: Buffer | undefined, clientId: string): Identity | null {
  if (!username || !password) return null;
  const secret = password.toString("utf8");
  const host = db.prepare("SELECT credential_hash, revoked_at FROM hosts WHERE id = ?").get(username) as
    | { credential_hash: string; revoked_at: number | null }
    | undefined;
  if (host) {
    if (host.revoked_at !== null || !secretMatches(secret, host.credential_hash)) return null;
    // A host may not use another host's client id (that would take over its session); any other id is fine, so
    // that operators can debug with a host's credentials in mosquitto_sub/pub, which pick their own ids.
    if (clientId.startsWith("host-") && clientId !== hostClientId(username)) return null;
    return { kind: "host", hostId: username };
  }
  const op = db.prepare("SELECT secret_hash, access FROM mqtt_credentials WHERE username = ?").get(username) as
    | { secret_hash: string; access: "read" | "readwrite" }
    | undefined;
  if (!op || !secretMatches(secret, op.secret_hash)) return null;
  if (clientId.startsWith("host-")) return null;
  return { kind: "operator", username, access: op.access };
}

export type CreateCredentialOutcome = { ok: true; password: string } | { ok: false; reason: "exists" };

/** Creates operator credentials for mosquitto_sub/pub or MQTT Explorer; the password is shown once. */
export function createOperatorCredential(db: Db, username: string, access: "read" | "readwrite", now = Date.now()): CreateCredentialOutcome {
  const password = newSecret();
  const r = db
    .prepare("INSERT OR IGNORE INTO mqtt_credentials (username, secret_hash, access, created_at) VALUES (?, ?, ?, ?)")
    .run(username, hashSecret(password), access, now);
  return r.changes === 0 ? { ok: false, reason: "exists" } : { ok: true, password };
}
