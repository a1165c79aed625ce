/**
 * A quick sanity check of a WHEP offer before it is relayed to an agent (the agent's WebRTC stack parses it fully).
 * Pure. Returns the problem, worded for a 400, or null.
 */
export function sdpProblem(sdp: string): string | null {
  if (sdp.trim() === "") return "the body is empty; send the SDP offer";
  if (!/^v=0\r?\n/.test(sdp)) return "the SDP must start with the line v=0";
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(sdp)) return "the SDP contains control characters";
  const lines = sdp.split(/\r?\n/).filter((l) => l !== "");
  const bad = lines.find((l) => !/^[a-z]=/.test(l));
  if (bad !== undefined) return `the SDP has a line that is not <type>=<value>: ${JSON.stringify(bad.slice(0, 60))}`;
  if (!lines.some((l) => l.startsWith("m=video "))) return "the SDP offers no video (an m=video line is required)";
  if (!lines.some((l) => l.startsWith("o="))) return "the SDP has no o= line";
  return null;
}

/** `Link` header values advertising ICE servers to a WHEP client (draft-ietf-wish-whep, §4.4). */
export function iceServerLinks(servers: readonly { urls: readonly string[]; username?: string | undefined; credential?: string | undefined }[]): string[] {
  const q = (s: string) => `"${s.replace(/["\\]/g, "")}"`;
  const out: string[] = [];
  for (const s of servers) {
    for (const url of s.urls) {
      let v = `<${url}>; rel="ice-server"`;
      if (s.username !== undefined) v += `; username=${q(s.username)}`;
      if (s.credential !== undefined) v += `; credential=${q(s.credential)}; credential-type="password"`;
      out.push(v);
    }
  }
  return out;
}

export interface WhepSession {
  sessionId: string;
  deviceId: string;
  hostId: string;
  userId: string;
  createdAt: number;
}

/**
 * WHEP sessions the control plane relayed, so that only their owner (or an admin) can DELETE them. The agent ends
 * sessions on its own too (heartbeat, device stop) without telling us, so entries are also dropped by age and the
 * map is bounded.
 */
export class WhepSessions {
  private readonly byId = new Map<string, WhepSession>();

  constructor(
    private readonly maxAgeMs = 24 * 3_600_000,
    private readonly maxEntries = 10_000,
  ) {}

  add(s: WhepSession): void {
    this.sweep(s.createdAt);
    this.byId.set(s.sessionId, s);
    while (this.byId.size > this.maxEntries) {
      const oldest = this.byId.keys().next().value as string;
      this.byId.delete(oldest);
    }
  }

  get(sessionId: string): WhepSession | undefined {
    return this.byId.get(sessionId);
  }

  delete(sessionId: string): void {
    this.byId.delete(sessionId);
  }

  get size(): number {
    return this.byId.size;
  }

  private sweep(now: number): void {
    for (const [k, v] of this.byId) {
      if (now - v.createdAt < this.maxAgeMs) break; // insertion order = age order
      this.byId.delete(k);
    }
  }
}
