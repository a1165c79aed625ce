/**
 * Keeps WebRTC sessions of tests and benches on 127.0.0.1 (the network rule: traffic to loopback only). Peers gather
 * host candidates on every interface (werift on the host's own addresses plus 127.0.0.1; Chromium on one any-address
 * socket advertised under the default route's address, or an mDNS name); these rewrite the SDP both ways so that each
 * side only learns, checks and sends to 127.0.0.1, and `assertLoopbackPairs` proves afterwards where werift went.
 * No imports, so benches can load it with `importTsHelper`.
 */
export const LOOPBACK = "127.0.0.1";

interface Candidate {
  transport: string;
  address: string;
  type: string;
}

/** The SDP with only its 127.0.0.1 candidates (an answer from the agent, or a werift viewer's offer). */
export function loopbackOnly(sdp: string, whose = "the SDP"): string {
  let kept = 0;
  const out = rewriteCandidates(sdp, (c) => (c.address === LOOPBACK ? (kept++, c) : null));
  if (kept === 0) throw new Error(`${whose} has no ${LOOPBACK} candidate:\n${sdp}`);
  return out;
}

/**
 * A browser offer whose socket is bound to the any address (Chromium with
 * `--force-webrtc-ip-handling-policy=default_public_interface_only`): its IPv4 UDP host candidates moved to
 * 127.0.0.1 with the same port (where that socket receives too), every other candidate dropped.
 */
export function anyAddressOfferAtLoopback(sdp: string): string {
  let kept = 0;
  const out = rewriteCandidates(sdp, (c) => {
    if (c.transport !== "udp" || c.type !== "host" || c.address.includes(":")) return null;
    kept++;
    return { ...c, address: LOOPBACK };
  });
  if (kept === 0) throw new Error(`the browser's offer has no IPv4 UDP host candidate:\n${sdp}`);
  return out;
}

/** Maps each a=candidate line (null drops it); c= lines point at loopback too, so the SDP names no other host. */
function rewriteCandidates(sdp: string, map: (c: Candidate) => Candidate | null): string {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines: string[] = [];
  for (const line of sdp.split(eol)) {
    if (line.startsWith("a=candidate:")) {
      // foundation component transport priority address port "typ" type ...
      const f = line.slice("a=candidate:".length).split(" ");
      const c = map({ transport: (f[2] ?? "").toLowerCase(), address: f[4] ?? "", type: f[7] ?? "" });
      if (c) lines.push(`a=candidate:${[...f.slice(0, 4), c.address, ...f.slice(5)].join(" ")}`);
    } else if (line.startsWith("c=IN IP4 ") && line !== "c=IN IP4 0.0.0.0") {
      lines.push(`c=IN IP4 ${LOOPBACK}`);
    } else {
      lines.push(line);
    }
  }
  return lines.join(eol);
}

/** The part of a werift RTCPeerConnection read here (structural, so this file needs no import). */
interface WeriftPeerLike {
  iceTransports: { connection: { candidatePairs: { remoteCandidate: { host: string } }[] } }[];
}

/** Remote addresses of every ICE pair a werift peer formed (peer-reflexive ones included): where it sent anything. */
export function weriftRemoteHosts(pc: WeriftPeerLike): string[] {
  return [...new Set(pc.iceTransports.flatMap((t) => t.connection.candidatePairs.map((p) => p.remoteCandidate.host)))];
}

/** Throws unless the werift peer formed pairs, all with a 127.0.0.1 remote. */
export function assertLoopbackPairs(pc: WeriftPeerLike, who: string): void {
  const hosts = weriftRemoteHosts(pc);
  if (hosts.length === 0) throw new Error(`${who}: no ICE pair recorded, cannot tell where checks went`);
  if (hosts.some((h) => h !== LOOPBACK)) throw new Error(`${who}: ICE paired with ${hosts.join(", ")}, not only ${LOOPBACK}`);
}
