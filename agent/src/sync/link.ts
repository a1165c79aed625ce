import {
  newId,
  parseMessage,
  topics,
  type HostCapacityMessage,
  type HostStatusMessage,
} from "@cloudphone/shared-protocol";
import { connect, type IPublishPacket, type MqttClient } from "mqtt";
import { enqueueDeviceState, type ObserveContext } from "../devices/observe.js";
import type { Logger } from "../log.js";
import type { OutboxPump } from "../outbox/pump.js";
import { nextSeq } from "../store/db.js";
import { capacityBody, type CapacityTotals } from "./capacity.js";
import { applyCommand } from "./commands.js";

export interface MqttCredentials {
  url: string;
  username: string;
  password: string;
  clientId: string;
}

export interface LinkOptions {
  ctx: ObserveContext;
  pump: OutboxPump;
  creds: MqttCredentials;
  keepaliveSeconds: number;
  reconnectPeriodMs: number;
  capacity: CapacityTotals;
  agentVersion: string;
  hostname: string;
  startedAt: number;
  log: Logger;
  dockerVersion: () => string | null;
  /** A command was committed for this device: reconcile it. */
  onCommand: (deviceId: string) => void;
  /** An `rpc/requests` message (rpc/dispatcher.ts); must not block: requests run on their own. */
  onRpcRequest?: (payload: Buffer | string) => void;
}

export interface LinkCounters {
  commandsApplied: number;
  commandsDuplicate: number;
  commandsRejected: number;
  rpcRequests: number;
  connects: number;
}

/**
 * The host's MQTT session: persistent (clean:false, fixed clientId), QoS 1, retained birth/Will on the status
 * topic, capacity on every connect, and commands committed before their PUBACK.
 */
export class MqttLink {
  private client: MqttClient | null = null;
  private birthSeq = 0;
  private closing = false;
  readonly counters: LinkCounters = { commandsApplied: 0, commandsDuplicate: 0, commandsRejected: 0, rpcRequests: 0, connects: 0 };

  constructor(private readonly o: LinkOptions) {}

  get connected(): boolean {
    return this.client?.connected === true;
  }

  private statusPayload(status: "online" | "offline", seq: number): string {
    const ts = Date.now();
    const msg: HostStatusMessage = {
      id: newId(ts),
      seq,
      ts,
      v: 1,
      hostId: this.o.ctx.hostId,
      status,
      agentVersion: this.o.agentVersion,
      hostname: this.o.hostname.slice(0, 255),
      startedAt: this.o.startedAt,
    };
    return JSON.stringify(msg);
  }

  /**
   * Reserves the birth seq first and the Will seq second, so for every connection birth < Will, and the next
   * connection's birth is greater than both: the latest status always carries the highest seq.
   */
  private prepareWill(): { topic: string; payload: Buffer; qos: 1; retain: true } {
    this.birthSeq = nextSeq(this.o.ctx.db);
    const willSeq = nextSeq(this.o.ctx.db);
    return { topic: topics.status(this.o.ctx.hostId), payload: Buffer.from(this.statusPayload("offline", willSeq)), qos: 1, retain: true };
  }

  start(): void {
    const { creds } = this.o;
    const client = connect(creds.url, {
      clientId: creds.clientId,
      username: creds.username,
      password: creds.password,
      clean: false,
      protocolVersion: 4,
      keepalive: this.o.keepaliveSeconds,
      reconnectPeriod: this.o.reconnectPeriodMs,
      connectTimeout: 10_000,
      resubscribe: true,
      will: this.prepareWill(),
    });
    this.client = client;
    // Commit before PUBACK: mqtt.js sends the PUBACK only when this callback is called.
    client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void) => {
      try {
        this.onPublish(packet);
      } catch (e) {
        this.o.log.error({ err: e, topic: packet.topic }, "command handling failed");
      }
      done();
    };
    client.on("connect", (connack) => this.onConnect(client, connack.sessionPresent));
    client.on("close", () => {
      this.o.pump.pause();
      if (!this.closing) client.options.will = this.prepareWill();
    });
    client.on("offline", () => this.o.log.warn("mqtt offline; outbox keeps queueing"));
    client.on("error", (err) => this.o.log.warn({ err: err.message }, "mqtt error"));
  }

  private onConnect(client: MqttClient, sessionPresent: boolean): void {
    this.counters.connects++;
    const hostId = this.o.ctx.hostId;
    this.o.log.info({ sessionPresent, hostId }, "mqtt connected");
    client.publish(topics.status(hostId), this.statusPayload("online", this.birthSeq), { qos: 1, retain: true }, (err) => {
      if (err) this.o.log.warn({ err: err.message }, "birth publish failed");
    });
    this.publishCapacity();
    try {
      // Retained states survive a broker restart only if we re-send them: snapshot every live device.
      this.o.ctx.db.transaction(() => {
        for (const rec of this.o.ctx.repo.live()) enqueueDeviceState(this.o.ctx, rec);
      })();
    } catch (e) {
      this.o.log.error({ err: e }, "state snapshot failed");
    }
    client.subscribe(topics.commands(hostId), { qos: 1 }, (err, granted) => {
      if (err || granted?.some((g) => g.qos === 128)) this.o.log.error({ err: err?.message, granted }, "command subscription refused");
    });
    if (this.o.onRpcRequest) {
      client.subscribe(topics.rpcRequests(hostId), { qos: 1 }, (err, granted) => {
        if (err || granted?.some((g) => g.qos === 128)) this.o.log.error({ err: err?.message, granted }, "rpc request subscription refused");
      });
    }
    this.o.pump.resume(client);
  }

  /** Publishes an RPC answer directly, QoS 1 (not through the outbox: after its deadline nobody wants it). */
  async publishRpcResponse(payload: string): Promise<void> {
    const client = this.client;
    if (!client?.connected) throw new Error("mqtt is not connected");
    await client.publishAsync(topics.rpcResponses(this.o.ctx.hostId), payload, { qos: 1, retain: false });
  }

  /** Publishes the retained capacity directly (not through the outbox); a fresh copy goes out on every connect. */
  publishCapacity(): void {
    const client = this.client;
    if (!client?.connected) return;
    try {
      const ts = Date.now();
      const msg: HostCapacityMessage = {
        ...capacityBody(this.o.ctx.hostId, this.o.capacity, this.o.ctx.repo.all(), this.o.dockerVersion()),
        id: newId(ts),
        seq: nextSeq(this.o.ctx.db),
        ts,
        v: 1,
      };
      client.publish(topics.capacity(this.o.ctx.hostId), JSON.stringify(msg), { qos: 1, retain: true }, (err) => {
        if (err) this.o.log.warn({ err: err.message }, "capacity publish failed");
      });
    } catch (e) {
      this.o.log.error({ err: e }, "capacity publish failed");
    }
  }

  private onPublish(packet: IPublishPacket): void {
    const payload = typeof packet.payload === "string" ? packet.payload : Buffer.from(packet.payload);
    if (packet.topic === topics.rpcRequests(this.o.ctx.hostId) && this.o.onRpcRequest) {
      // Acknowledged at once (not durable by design); the dispatcher validates, runs and answers it.
      this.counters.rpcRequests++;
      this.o.onRpcRequest(payload);
      return;
    }
    const parsed = parseMessage(packet.topic, payload);
    if (!parsed.ok || parsed.value.kind !== "commands" || parsed.value.message.hostId !== this.o.ctx.hostId) {
      this.counters.commandsRejected++;
      const reason = parsed.ok ? `unexpected ${parsed.value.kind} message on ${packet.topic}` : `${parsed.code}: ${parsed.reason}`;
      this.o.log.warn({ topic: packet.topic, reason, rejected: this.counters.commandsRejected }, "invalid command ignored");
      return;
    }
    const cmd = parsed.value.message;
    const res = applyCommand(this.o.ctx, cmd);
    if (res.duplicate) {
      this.counters.commandsDuplicate++;
      this.o.log.info({ commandId: cmd.id, deviceId: cmd.deviceId }, "duplicate command ignored");
      return;
    }
    this.counters.commandsApplied++;
    this.o.log.info(
      { commandId: cmd.id, deviceId: cmd.deviceId, action: cmd.action, generation: cmd.generation, outcome: res.outcome, error: res.error, requestId: cmd.requestId },
      "command committed",
    );
    this.o.pump.kick();
    if (res.capacityChanged) this.publishCapacity();
    if (res.outcome === "applied") this.o.onCommand(cmd.deviceId);
  }

  /** Graceful: an explicit retained offline (the Will is not sent on a clean DISCONNECT), then disconnect. */
  async close(): Promise<void> {
    this.closing = true;
    this.o.pump.close();
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      const payload = this.statusPayload("offline", nextSeq(this.o.ctx.db));
      await Promise.race([
        client.publishAsync(topics.status(this.o.ctx.hostId), payload, { qos: 1, retain: true }).catch(() => undefined),
        new Promise((r) => setTimeout(r, 2000).unref()),
      ]);
    }
    const ended = await Promise.race([
      client.endAsync(false).then(() => true, () => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3000).unref()),
    ]);
    if (!ended) await client.endAsync(true).catch(() => undefined);
  }
}
