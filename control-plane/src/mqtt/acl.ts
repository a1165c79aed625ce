import { TOPIC_ROOT, isDownlinkKind, isWithinHostSubtree, parseTopic } from "@cloudphone/shared-protocol";

/** Who an MQTT connection belongs to, decided once at CONNECT. */
export type Identity =
  | { kind: "host"; hostId: string }
  | { kind: "operator"; username: string; access: "read" | "readwrite" };

export type PublishDecision =
  | { allow: true; ingest: false }
  /** `senderHostId` is the host the message is attributed to (from the identity, or the topic for broker Wills). */
  | { allow: true; ingest: true; senderHostId: string | null }
  | { allow: false; reason: string };

/**
 * Publish ACL. `identity === null` is the broker itself publishing a stored Will: always allowed, and ingested
 * when it is an uplink topic (its sender is then taken from the topic).
 */
export function decidePublish(identity: Identity | null, topic: string): PublishDecision {
  if (topic.startsWith("$SYS/") || topic === "$SYS") return { allow: false, reason: "$SYS topics are reserved for the broker" };
  if (identity === null) {
    const t = parseTopic(topic);
    return t && !isDownlinkKind(t.kind) ? { allow: true, ingest: true, senderHostId: t.hostId } : { allow: true, ingest: false };
  }
  if (identity.kind === "host") {
    if (!isWithinHostSubtree(topic, identity.hostId)) {
      return { allow: false, reason: `host ${identity.hostId} may publish only inside its own subtree` };
    }
    const t = parseTopic(topic);
    if (t && isDownlinkKind(t.kind)) return { allow: false, reason: `host ${identity.hostId} may not publish to its own ${t.kind === "commands" ? "commands" : "rpc/requests"} topic` };
    // Anything else inside its own subtree is ingested; unknown topics there are parked, not refused.
    return { allow: true, ingest: true, senderHostId: identity.hostId };
  }
  if (identity.access === "read") return { allow: false, reason: `operator ${identity.username} has read-only access` };
  const t = parseTopic(topic);
  if (t?.kind === "commands") return { allow: true, ingest: false };
  return { allow: false, reason: `operator ${identity.username} may publish only to cloudphone/v1/hosts/+/commands` };
}

/** Subscribe ACL: hosts inside their own subtree; operators anywhere under cloudphone/v1/. */
export function decideSubscribe(identity: Identity | null, filter: string): boolean {
  if (identity === null) return false;
  if (identity.kind === "host") return isWithinHostSubtree(filter, identity.hostId);
  return filter.startsWith(`${TOPIC_ROOT}/`);
}
