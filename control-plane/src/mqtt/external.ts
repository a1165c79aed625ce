import mqtt, { type MqttClient } from "mqtt";
import { isDownlinkKind, parseTopic, topics } from "@cloudphone/shared-protocol";
import type { Logger } from "pino";
import type { Bus, IngestFn, PublishOptions, RpcResponseFn } from "./bus.js";

export interface ExternalClientOptions {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  log: Logger;
  ingest: IngestFn;
  /** Where hosts' `rpc/responses` go (not the inbox); without it they are ingested like any uplink. */
  onRpcResponse?: RpcResponseFn;
  /** How long start-up waits for the first CONNACK before reporting ready anyway (the client keeps retrying). */
  connectWaitMs?: number;
}

export const CONTROL_PLANE_CLIENT_ID = "cloudphone-control-plane";

/**
 * Client of an external broker (Mosquitto, EMQX). Persistent session with a fixed client id and a QoS 1
 * subscription to every host uplink; each message is committed before mqtt.js sends its PUBACK. The broker enforces
 * the ACL, so the sender is taken from the topic.
 */
export async function connectExternalBroker(opts: ExternalClientOptions): Promise<Bus> {
  const { log } = opts;
  const client: MqttClient = mqtt.connect(opts.url, {
    clientId: CONTROL_PLANE_CLIENT_ID,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    ...(opts.username ? { username: opts.username } : {}),
    ...(opts.password ? { password: opts.password } : {}),
  });

  // mqtt.js sends the PUBACK only when `done` is called: commit first.
  client.handleMessage = (packet, done) => {
    const topic = packet.topic;
    const t = parseTopic(topic);
    if (t && isDownlinkKind(t.kind)) return done(); // our own downlink, echoed by the wildcard subscription
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    // The broker's ACL lets only the host itself publish in its subtree, so the topic names the sender.
    if (t?.kind === "rpcResponses" && opts.onRpcResponse) {
      opts.onRpcResponse(t.hostId, payload);
      return done();
    }
    opts.ingest(topic, payload, null).then(
      () => done(),
      (e: unknown) => {
        // Without a PUBACK the broker redelivers after we reconnect; drop the connection to get there.
        log.error({ err: e, topic }, "ingest failed; reconnecting so the broker redelivers");
        client.stream?.destroy();
      },
    );
  };

  client.on("connect", (connack) => {
    log.info({ url: opts.url, sessionPresent: connack.sessionPresent }, "connected to external broker");
    // Subscribing again when the session survived is harmless and covers a broker that lost it.
    client.subscribe(topics.allHostUplinks, { qos: 1 }, (err) => {
      if (err) log.error({ err }, "subscription to host uplinks failed");
    });
  });
  client.on("error", (err) => log.warn({ err: err.message }, "external broker error"));
  client.on("offline", () => log.warn({ url: opts.url }, "external broker offline; reconnecting"));

  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, opts.connectWaitMs ?? 10_000);
    client.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
  });

  let port: number | null = null;
  try {
    const u = new URL(opts.url);
    port = u.port ? Number(u.port) : null;
  } catch {
    port = null;
  }

  return {
    mode: "external",
    port,
    publish(topic: string, payload: Buffer | string, o: PublishOptions): Promise<void> {
      return new Promise((resolve, reject) => {
        client.publish(topic, payload, { qos: o.qos, retain: o.retain }, (err) => (err ? reject(err) : resolve()));
      });
    },
    ready: () => client.connected,
    health: () => (client.connected ? { ok: true, detail: `connected to ${redact(opts.url)}` } : { ok: false, detail: `not connected to ${redact(opts.url)}` }),
    disconnectHost: () => false,
    close: () => new Promise<void>((resolve) => client.end(false, {}, () => resolve())),
  };
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return "(invalid url)";
  }
}
