import net from "node:net";
import { Aedes, type Client } from "aedes";
import type { Logger } from "pino";
import { decidePublish, decideSubscribe, type Identity } from "./acl.js";
import { parseTopic } from "@cloudphone/shared-protocol";
import type { AclCounters, Bus, IngestFn, PublishOptions, RpcResponseFn } from "./bus.js";

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  log: Logger;
  /** CONNECT credentials → identity, or null to refuse (CONNACK 4). */
  authenticate: (username: string | undefined, password: Buffer | undefined, clientId: string) => Identity | null;
  ingest: IngestFn;
  counters: AclCounters;
  /** A host subscribed to its commands topic: a good moment to re-send its pending commands. */
  onHostSubscribed?: (hostId: string) => void;
  /** Where a host's `rpc/responses` go (not the inbox); without it they are ingested like any uplink. */
  onRpcResponse?: RpcResponseFn;
}

// aedes keeps arbitrary properties on its client objects; we keep the identity decided at CONNECT there.
type TaggedClient = Client & { cloudphone?: Identity };

function identityOf(client: Client | null): Identity | null {
  return client ? ((client as TaggedClient).cloudphone ?? null) : null;
}

/** The embedded aedes broker: authenticated CONNECT, topic ACL, and uplink ingest before the PUBACK. */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<Bus> {
  const { log, counters } = opts;
  const broker = await Aedes.createBroker({ drainTimeout: 30_000 });

  broker.authenticate = (client, username, password, done) => {
    let identity: Identity | null = null;
    try {
      identity = opts.authenticate(username, password, client.id);
    } catch (e) {
      log.error({ err: e, clientId: client.id }, "mqtt authentication failed with an error");
    }
    if (!identity) {
      counters.authFailed++;
      log.warn({ clientId: client.id, username }, "mqtt connection refused: bad credentials");
      return done(Object.assign(new Error("bad username or password"), { returnCode: 4 as const }), false);
    }
    (client as TaggedClient).cloudphone = identity;
    log.info({ clientId: client.id, identity }, "mqtt client authenticated");
    done(null, true);
  };

  broker.authorizePublish = (client, packet, done) => {
    const identity = identityOf(client);
    // A connected client without an identity cannot exist (authenticate tags every accepted one); refuse defensively.
    if (client && !identity) return done(new Error("unauthenticated client"));
    const decision = decidePublish(identity, packet.topic);
    if (!decision.allow) {
      counters.publishDenied++;
      log.warn({ clientId: client?.id, topic: packet.topic, reason: decision.reason }, "mqtt publish denied (disconnecting)");
      return done(new Error(decision.reason));
    }
    if (!decision.ingest) return done(null);
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    // An RPC answer from the host itself goes to its waiting caller, never the inbox; then the PUBACK.
    if (identity && opts.onRpcResponse && decision.senderHostId !== null && parseTopic(packet.topic)?.kind === "rpcResponses") {
      opts.onRpcResponse(decision.senderHostId, payload);
      return done(null);
    }
    // Ingest before the PUBACK: aedes writes it only after this callback. Invalid payloads are parked by the inbox
    // and still acknowledged, so a poison message never causes a reconnect loop.
    opts.ingest(packet.topic, payload, decision.senderHostId).then(
      () => done(null),
      (e: unknown) => {
        log.error({ err: e, topic: packet.topic }, "ingest failed (database unavailable); dropping the connection so the sender retries");
        done(e instanceof Error ? e : new Error(String(e)));
      },
    );
  };

  broker.authorizeSubscribe = (client, sub, done) => {
    const identity = identityOf(client);
    if (!decideSubscribe(identity, sub.topic)) {
      counters.subscribeDenied++;
      log.warn({ clientId: client.id, topic: sub.topic }, "mqtt subscription refused");
      return done(null, null);
    }
    done(null, sub);
  };

  broker.on("subscribe", (subs, client) => {
    const identity = identityOf(client);
    if (identity?.kind === "host" && subs.some((s) => s.topic.endsWith("/commands") || s.topic.endsWith("/#"))) {
      opts.onHostSubscribed?.(identity.hostId);
    }
  });
  broker.on("clientError", (client, err) => log.debug({ clientId: client.id, err: err.message }, "mqtt client error"));

  const server = net.createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  let closed = false;

  return {
    mode: "embedded",
    port,
    publish(topic: string, payload: Buffer | string, o: PublishOptions): Promise<void> {
      return new Promise((resolve, reject) => {
        broker.publish(
          { topic, payload: typeof payload === "string" ? Buffer.from(payload) : payload, qos: o.qos, retain: o.retain, cmd: "publish", dup: false },
          (err) => (err ? reject(err) : resolve()),
        );
      });
    },
    ready: () => !closed && server.listening && !broker.closed,
    health: () =>
      !closed && server.listening && !broker.closed
        ? { ok: true, detail: `embedded broker listening on ${opts.host}:${port}, ${broker.connectedClients} clients` }
        : { ok: false, detail: "embedded broker is closed" },
    disconnectHost(hostId: string): boolean {
      // aedes's typings omit its client table; it is a plain id → client map.
      const clients = (broker as unknown as { clients: Record<string, Client | undefined> }).clients;
      let kicked = false;
      for (const c of Object.values(clients)) {
        const id = identityOf(c ?? null);
        if (c && id?.kind === "host" && id.hostId === hostId) {
          c.close();
          kicked = true;
        }
      }
      return kicked;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
