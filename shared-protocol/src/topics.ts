/**
 * The MQTT topic tree, rooted at `cloudphone/v1/`. Every host owns the subtree
 * `cloudphone/v1/hosts/{hostId}/`; nothing outside it is ever published by a host.
 *
 *   cloudphone/v1/hosts/{hostId}/status                     retained, host → all   (birth "online", Last Will "offline")
 *   cloudphone/v1/hosts/{hostId}/capacity                   retained, host → all   (capacity and inventory)
 *   cloudphone/v1/hosts/{hostId}/devices/{deviceId}/state   retained, host → all   (reported device state)
 *   cloudphone/v1/hosts/{hostId}/events/{eventName}         host → control plane   (e.g. events/device.started)
 *   cloudphone/v1/hosts/{hostId}/usage                      host → control plane   (usage records)
 *   cloudphone/v1/hosts/{hostId}/results                    host → control plane   (command results)
 *   cloudphone/v1/hosts/{hostId}/commands                   control plane → host   (device create/start/stop/restart/delete)
 *   cloudphone/v1/hosts/{hostId}/rpc/requests               control plane → host   (interactive requests, see rpc.ts)
 *   cloudphone/v1/hosts/{hostId}/rpc/responses              host → control plane   (their answers; routed to the caller)
 *   cloudphone/v1/platform/events/{eventName}               control plane → ops    (platform events, e.g. order.completed)
 *
 * The `platform/` subtree lies outside every host's subtree, so the host ACL refuses host publishes there, and
 * `parseTopic` (the uplink parser) returns null for it: it can never be ingested as a host message.
 */
export const TOPIC_ROOT = "cloudphone/v1";
export const HOSTS_PREFIX = `${TOPIC_ROOT}/hosts`;
/** Control-plane publications (its own outbox): never written by hosts. */
export const PLATFORM_PREFIX = `${TOPIC_ROOT}/platform`;

/** Identifiers that appear as topic levels: no MQTT wildcards or separators, bounded length. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const topics = {
  hostRoot: (hostId: string) => `${HOSTS_PREFIX}/${hostId}`,
  hostSubtree: (hostId: string) => `${HOSTS_PREFIX}/${hostId}/#`,
  status: (hostId: string) => `${HOSTS_PREFIX}/${hostId}/status`,
  capacity: (hostId: string) => `${HOSTS_PREFIX}/${hostId}/capacity`,
  deviceState: (hostId: string, deviceId: string) => `${HOSTS_PREFIX}/${hostId}/devices/${deviceId}/state`,
  event: (hostId: string, eventName: string) => `${HOSTS_PREFIX}/${hostId}/events/${eventName}`,
  usage: (hostId: string) => `${HOSTS_PREFIX}/${hostId}/usage`,
  results: (hostId: string) => `${HOSTS_PREFIX}/${hostId}/results`,
  commands: (hostId: string) => `${HOSTS_PREFIX}/${hostId}/commands`,
  rpcRequests: (hostId: string) => `${HOSTS_PREFIX}/${hostId}/rpc/requests`,
  rpcResponses: (hostId: string) => `${HOSTS_PREFIX}/${hostId}/rpc/responses`,
  /** What the control plane subscribes to when it uses an external broker. */
  allHostUplinks: `${HOSTS_PREFIX}/+/#`,
  everything: `${TOPIC_ROOT}/#`,
  /** One platform event, published by the control plane's relay (QoS 1, not retained). */
  platformEvent: (eventName: string) => `${PLATFORM_PREFIX}/events/${eventName}`,
  /** Subscription filter for every platform event. */
  allPlatformEvents: `${PLATFORM_PREFIX}/events/#`,
} as const;

/** `{domain}.{action}`: lower-case domain, lower-case action with underscores (e.g. `billing.low_balance`). */
export const EVENT_NAME_PATTERN = /^[a-z]+\.[a-z_]+$/;

/**
 * Classifies a platform topic (`cloudphone/v1/platform/events/{name}`); null otherwise. Deliberately separate from
 * `parseTopic`, which only knows host uplinks and downlinks.
 */
export function parsePlatformTopic(topic: string): { kind: "platformEvent"; eventName: string } | null {
  const prefix = `${PLATFORM_PREFIX}/events/`;
  if (!topic.startsWith(prefix)) return null;
  const eventName = topic.slice(prefix.length);
  return eventName.length <= 64 && EVENT_NAME_PATTERN.test(eventName) ? { kind: "platformEvent", eventName } : null;
}

/** The kinds of topic in the tree; `commands` and `rpcRequests` are the only downlinks. */
export type TopicKind = "status" | "capacity" | "deviceState" | "event" | "usage" | "results" | "commands" | "rpcRequests" | "rpcResponses";

/** Topics only the control plane (or a readwrite operator, for commands) publishes to; hosts never. */
export const isDownlinkKind = (kind: TopicKind): boolean => kind === "commands" || kind === "rpcRequests";

export type ParsedTopic =
  | { kind: "status" | "capacity" | "usage" | "results" | "commands" | "rpcRequests" | "rpcResponses"; hostId: string }
  | { kind: "deviceState"; hostId: string; deviceId: string }
  | { kind: "event"; hostId: string; eventName: string };

/** Classifies a concrete topic (no wildcards); `null` means it is not part of the tree. */
export function parseTopic(topic: string): ParsedTopic | null {
  if (!topic.startsWith(HOSTS_PREFIX + "/")) return null;
  const rest = topic.slice(HOSTS_PREFIX.length + 1).split("/");
  const hostId = rest[0];
  if (hostId === undefined || !ID_PATTERN.test(hostId)) return null;
  if (rest.length === 2) {
    const leaf = rest[1];
    if (leaf === "status" || leaf === "capacity" || leaf === "usage" || leaf === "results" || leaf === "commands") {
      return { kind: leaf, hostId };
    }
    return null;
  }
  if (rest.length === 3 && rest[1] === "rpc") {
    if (rest[2] === "requests") return { kind: "rpcRequests", hostId };
    if (rest[2] === "responses") return { kind: "rpcResponses", hostId };
    return null;
  }
  if (rest.length === 3 && rest[1] === "events") {
    const eventName = rest[2]!;
    return /^[a-z]+\.[a-z_]+$/.test(eventName) ? { kind: "event", hostId, eventName } : null;
  }
  if (rest.length === 4 && rest[1] === "devices" && rest[3] === "state") {
    const deviceId = rest[2]!;
    return ID_PATTERN.test(deviceId) ? { kind: "deviceState", hostId, deviceId } : null;
  }
  return null;
}

/** True when `topic` (which may contain + or #) lies entirely inside `hostId`'s subtree. */
export function isWithinHostSubtree(topic: string, hostId: string): boolean {
  const root = `${HOSTS_PREFIX}/${hostId}`;
  return topic === root || topic.startsWith(root + "/");
}
