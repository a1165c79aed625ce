import { newId, topics, type UsageMessage } from "@cloudphone/shared-protocol";
import type { DeviceRecord, Observation } from "../devices/types.js";
import type { Outbox } from "../outbox/outbox.js";
import type { Db } from "../store/db.js";
import { meterOnObservation, meterOnTick, splitInterval, type Interval, type MeterStep } from "./intervals.js";

export interface MeterOptions {
  /** No usage record spans more than this (the reporting interval). */
  maxRecordMs: number;
}

export interface OpenMeter {
  deviceId: string;
  openFrom: number;
}

/**
 * The device meters: one row in `meter` per device whose recorded state is `running`, holding the start of the
 * running time not yet reported. Closed time becomes usage records in the outbox, in the same transaction that
 * moves or deletes the row, so a crash can neither lose nor repeat any of it.
 *
 * In memory, per device, the last time an observation confirmed it running in this process: the ticker reports
 * only up to that moment, so time nobody has seen (after a restart, while Docker does not answer) is charged only
 * once an observation has said what happened in it.
 */
export class Meter {
  private readonly confirmedAt = new Map<string, number>();
  private readonly stmts;

  constructor(
    private readonly db: Db,
    private readonly outbox: Outbox,
    private readonly hostId: string,
    private readonly opts: MeterOptions,
  ) {
    this.stmts = {
      get: db.prepare("SELECT open_from FROM meter WHERE device_id = ?").pluck(),
      set: db.prepare("INSERT INTO meter (device_id, open_from) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET open_from = excluded.open_from"),
      del: db.prepare("DELETE FROM meter WHERE device_id = ?"),
      all: db.prepare("SELECT device_id AS deviceId, open_from AS openFrom FROM meter ORDER BY device_id"),
    };
  }

  /**
   * Applies one observation of `rec` (its state before the observation) to its meter. Call inside the transaction
   * that records the observation (observe()). Returns how many usage records were enqueued.
   */
  onObservation(rec: DeviceRecord, obs: Observation, now: number): number {
    const openFrom = (this.stmts.get.get(rec.id) as number | undefined) ?? null;
    const step = meterOnObservation({
      openFrom,
      running: obs.state === "running",
      prevStateSince: rec.stateSince,
      times: { startedAt: obs.startedAt, finishedAt: obs.finishedAt },
      now,
    });
    // An observation recorded as running always comes from Docker showing the container running.
    if (step.openFrom !== null) this.confirmedAt.set(rec.id, now);
    else this.confirmedAt.delete(rec.id);
    return this.apply(rec.id, openFrom, step);
  }

  /** Reports every open meter up to its last confirmation, in one transaction. Returns records enqueued. */
  tick(now: number): number {
    return this.db.transaction((): number => {
      let n = 0;
      for (const m of this.open()) n += this.apply(m.deviceId, m.openFrom, meterOnTick(m.openFrom, this.confirmedAt.get(m.deviceId) ?? null, now));
      return n;
    })();
  }

  open(): OpenMeter[] {
    return this.stmts.all.all() as OpenMeter[];
  }

  private apply(deviceId: string, before: number | null, step: MeterStep): number {
    const pieces: Interval[] = step.closed ? splitInterval(step.closed.from, step.closed.to, this.opts.maxRecordMs) : [];
    for (const p of pieces) this.enqueueUsage(deviceId, p);
    if (step.openFrom === null) {
      if (before !== null) this.stmts.del.run(deviceId);
    } else if (step.openFrom !== before) {
      this.stmts.set.run(deviceId, step.openFrom);
    }
    return pieces.length;
  }

  private enqueueUsage(deviceId: string, p: Interval): void {
    this.outbox.enqueue(
      topics.usage(this.hostId),
      (): Omit<UsageMessage, "id" | "seq" | "ts" | "v"> => ({ hostId: this.hostId, deviceId, recordId: newId(), from: p.from, to: p.to }),
      { deviceId },
    );
  }
}
