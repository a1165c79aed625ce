import { topics } from "@cloudphone/shared-protocol";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import type { Bus } from "../mqtt/bus.js";

interface PendingRow {
  id: string;
  host_id: string;
  payload: string;
  request_id: string | null;
}

/**
 * Publishes commands QoS 1 to `…/hosts/{hostId}/commands`. A command stays pending until the host's result arrives;
 * pending commands are re-sent when the host comes online (or subscribes) and every `resendMs` while it is online.
 */
export class CommandPublisher {
  private timer: NodeJS.Timeout | null = null;
  private bus: Bus | null = null;
  private readonly markSent;
  private readonly selectById;
  private readonly selectForHost;
  private readonly selectDue;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly resendMs: number,
  ) {
    this.markSent = db.prepare("UPDATE commands SET last_sent_at = ?, send_count = send_count + 1 WHERE id = ?");
    this.selectById = db.prepare("SELECT id, host_id, payload, request_id FROM commands WHERE id = ? AND result_at IS NULL");
    this.selectForHost = db.prepare(
      "SELECT id, host_id, payload, request_id FROM commands WHERE host_id = ? AND result_at IS NULL ORDER BY rowid LIMIT 1000",
    );
    this.selectDue = db.prepare(
      `SELECT c.id, c.host_id, c.payload, c.request_id FROM commands c JOIN hosts h ON h.id = c.host_id
       WHERE c.result_at IS NULL AND h.status = 'online' AND h.revoked_at IS NULL AND (c.last_sent_at IS NULL OR c.last_sent_at <= ?)
       ORDER BY c.rowid LIMIT 1000`,
    );
  }

  attach(bus: Bus): void {
    this.bus = bus;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.resendDue(), this.resendMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Sends freshly committed commands right away (the resend loop covers any failure). */
  async publishNow(commandId: string): Promise<void> {
    const row = this.selectById.get(commandId) as PendingRow | undefined;
    if (row) await this.send([row]);
  }

  async resendForHost(hostId: string): Promise<void> {
    await this.send(this.selectForHost.all(hostId) as PendingRow[]);
  }

  async resendDue(now = Date.now()): Promise<void> {
    try {
      await this.send(this.selectDue.all(now - this.resendMs) as PendingRow[]);
    } catch (e) {
      this.log.error({ err: e }, "command resend failed");
    }
  }

  private async send(rows: PendingRow[]): Promise<void> {
    const bus = this.bus;
    if (!bus || rows.length === 0) return;
    if (!bus.ready()) {
      this.log.debug({ pending: rows.length }, "broker not ready; commands stay pending");
      return;
    }
    await Promise.all(
      rows.map(async (row) => {
        try {
          if (this.db.open) this.markSent.run(Date.now(), row.id);
          await bus.publish(topics.commands(row.host_id), row.payload, { qos: 1, retain: false });
          this.log.info({ commandId: row.id, hostId: row.host_id, requestId: row.request_id ?? undefined }, "command published");
        } catch (e) {
          this.log.warn({ err: e, commandId: row.id, hostId: row.host_id }, "command publish failed; will retry");
        }
      }),
    );
  }
}
