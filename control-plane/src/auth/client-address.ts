import type { Context } from "hono";
import { getConnInfo } from "@hono/node-server/conninfo";

/**
 * The peer address of the TCP connection. Forwarding headers (X-Forwarded-For) are not trusted: behind a reverse
 * proxy every client shares the proxy's address for the unauthenticated limits. In-process requests (tests,
 * `app.request`) have no socket and share the key "local".
 */
export function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? "local";
  } catch {
    return "local";
  }
}
