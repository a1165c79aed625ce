import { parseMessage, parseTopic } from "@cloudphone/shared-protocol";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import type { IngestFn } from "../mqtt/bus.js";
import { Effects } from "./effects.js";
import { payloadExcerpt } from "./rejected.js";
import { InboxStats } from "./stats.js";

interface Item {
  topic: string;
  payload: Buffer;
  senderHostId: string | null;
  resolve: () => void;
  reject: (e: Error) => void;
}

type Outcome =
  | { type: "accepted"; kind: string; hostId: string; cameOnline: boolean }
  | { type: "duplicate" }
  | { type: "rejected"; code: string; reason: string; hostId: string | null; topic: string };

/** Largest group commit; beyond it the batch is flushed at once instead of waiting for the next tick. */
export const MAX_BATCH = 200;

/**
 * The idempotent, group-committed inbox. Messages arriving in the same tick are validated and applied in ONE
 * transaction (inbox row + effect, or a parked rejection), and only then are their promises resolved, so the
 * caller's PUBACK follows the durable commit.
 */
export class Inbox {
  readonly stats = new InboxStats();
  private queue: Item[] = [];
  private scheduled = false;
  private closed = false;
  private readonly effects: Effects;
  private readonly s;
  private readonly runBatch: (items: Item[]) => Outcome[];
  /** Called after the commit for each host that transitioned to online (re-send its pending commands). */
  onHostOnline: (hostId: string) => void = () => {};

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {
    this.effects = new Effects(db);
    this.s = {
      host: db.prepare("SELECT revoked_at FROM hosts WHERE id = ?"),
      inbox: db.prepare("INSERT OR IGNORE INTO inbox (msg_id, host_id, seq, kind, received_at) VALUES (?, ?, ?, ?, ?)"),
      lastSeen: db.prepare("UPDATE hosts SET last_seen_at = MAX(COALESCE(last_seen_at, 0), ?) WHERE id = ?"),
      park: db.prepare(
        "INSERT INTO rejected_messages (host_id, topic, code, reason, payload_excerpt, received_at) VALUES (?, ?, ?, ?, ?, ?)",
      ),
    };
    this.runBatch = db.transaction((items: Item[]) => {
      const now = Date.now();
      const seen = new Set<string>();
      const outcomes = items.map((it) => this.processOne(it, now, seen));
      // One last-seen update per host per batch, not one per message: ingest is a hot path.
      for (const hostId of seen) this.s.lastSeen.run(now, hostId);
      return outcomes;
    });
  }

  readonly ingest: IngestFn = (topic, payload, senderHostId) =>
    new Promise<void>((resolve, reject) => {
      if (this.closed) return reject(new Error("inbox is closed"));
      this.queue.push({ topic, payload, senderHostId, resolve, reject });
      if (this.queue.length >= MAX_BATCH) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });

  /** Commits everything queued now (synchronous: better-sqlite3 blocks until the commit is durable). */
  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    let outcomes: Outcome[];
    try {
      outcomes = this.runBatch(batch);
    } catch (e) {
      this.log.error({ err: e, size: batch.length }, "inbox batch failed; retrying messages one by one");
      this.flushOneByOne(batch);
      return;
    }
    this.stats.countBatch(batch.length);
    for (let i = 0; i < batch.length; i++) this.settle(outcomes[i]!);
    for (const item of batch) item.resolve();
  }

  /** Flushes what is queued and refuses further messages. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  private flushOneByOne(batch: Item[]): void {
    for (const item of batch) {
      try {
        const [outcome] = this.runBatch([item]);
        this.settle(outcome!);
        item.resolve();
      } catch (e) {
        // Park it so that a message that always fails cannot make the sender loop; if even that fails, the
        // database itself is unavailable and the sender must retry later.
        try {
          this.s.park.run(parseTopic(item.topic)?.hostId ?? item.senderHostId, item.topic, "processing_error",
            (e as Error).message.slice(0, 500), payloadExcerpt(item.payload), Date.now());
          this.settle({ type: "rejected", code: "processing_error", reason: (e as Error).message, hostId: item.senderHostId, topic: item.topic });
          item.resolve();
        } catch (e2) {
          item.reject(e2 as Error);
        }
      }
    }
  }

  private settle(o: Outcome): void {
    if (o.type === "accepted") {
      this.stats.countAccepted(o.kind);
      if (o.cameOnline) {
        this.log.info({ hostId: o.hostId }, "host online");
        try {
          this.onHostOnline(o.hostId);
        } catch (e) {
          this.log.error({ err: e, hostId: o.hostId }, "host online hook failed");
        }
      }
    } else if (o.type === "duplicate") {
      this.stats.duplicates++;
    } else {
      this.stats.countRejected(o.code);
      this.log.warn({ code: o.code, reason: o.reason, hostId: o.hostId ?? undefined, topic: o.topic }, "uplink message rejected and parked");
    }
  }

  private processOne(it: Item, now: number, seen: Set<string>): Outcome {
    const reject = (code: string, reason: string, hostId: string | null): Outcome => {
      this.s.park.run(hostId, it.topic.slice(0, 1024), code, reason.slice(0, 2000), payloadExcerpt(it.payload), now);
      return { type: "rejected", code, reason, hostId, topic: it.topic };
    };
    const topicHost = parseTopic(it.topic)?.hostId ?? it.senderHostId;
    const parsed = parseMessage(it.topic, it.payload);
    if (!parsed.ok) return reject(parsed.code, parsed.reason, topicHost);
    const p = parsed.value;
    const hostId = p.message.hostId;
    if (p.kind === "commands" || p.kind === "rpcRequests") return reject("unexpected_kind", `hosts may not publish ${p.kind}`, hostId);
    // RPC answers are routed to their waiting caller before the inbox; one that reaches here had no caller left.
    if (p.kind === "rpcResponses") return reject("unexpected_kind", "rpc responses are not ingested", hostId);
    if (it.senderHostId !== null && it.senderHostId !== hostId) {
      return reject("sender_mismatch", `message for host ${hostId} was sent by host ${it.senderHostId}`, it.senderHostId);
    }
    const host = this.s.host.get(hostId) as { revoked_at: number | null } | undefined;
    if (!host) return reject("unknown_host", `host ${hostId} is not enrolled`, hostId);
    if (host.revoked_at !== null && p.kind !== "status") return reject("host_revoked", `host ${hostId} has been revoked`, hostId);
    if (this.s.inbox.run(p.message.id, hostId, p.message.seq, p.kind, now).changes === 0) return { type: "duplicate" };
    seen.add(hostId);
    const effect = this.effects.apply(p, now);
    if (!effect.ok) return reject(effect.code, effect.reason, hostId);
    return { type: "accepted", kind: p.kind, hostId, cameOnline: effect.hostCameOnline };
  }
}
