import type { Db } from "../store/db.js";
import { authenticateMqtt, hostClientId } from "../hosts/credentials.js";

/**
 * Agents fetch APKs with the credential they already hold: their MQTT username (the host id) and password from
 * enrollment, sent as HTTP Basic. Only `GET`/`HEAD /api/apps/:id/download` accepts it.
 */

const BASIC = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i;
const DOWNLOAD_PATH = /^\/api\/apps\/[^/]+\/download$/;

/** Whether the request carries a Basic credential for a route that takes host credentials (auth middleware hook). */
export function isHostBasicRequest(method: string, path: string, authorization: string | undefined): boolean {
  return (method === "GET" || method === "HEAD") && DOWNLOAD_PATH.test(path) && authorization !== undefined && /^Basic[ \t]/i.test(authorization);
}

/** `Authorization: Basic base64(user:password)` → its parts; null when malformed. */
export function parseBasic(authorization: string | undefined): { username: string; password: string } | null {
  const m = authorization === undefined ? null : BASIC.exec(authorization);
  if (!m) return null;
  const text = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon <= 0) return null;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The host id when the header holds a valid, unrevoked host credential (verified as the MQTT login is); else null. */
export function authenticateHostBasic(db: Db, authorization: string | undefined): string | null {
  const c = parseBasic(authorization);
  if (!c) return null;
  const id = authenticateMqtt(db, c.username, Buffer.from(c.password, "utf8"), hostClientId(c.username));
  return id?.kind === "host" ? id.hostId : null;
}
