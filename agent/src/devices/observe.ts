import { topics, type DeviceStateMessage, type EventData, type EventMessage } from "@cloudphone/shared-protocol";
import type { Meter } from "../metering/meter.js";
import type { Outbox } from "../outbox/outbox.js";
import type { Db } from "../store/db.js";
import type { DeviceRepo } from "./repo.js";
import type { DeviceRecord, Observation } from "./types.js";

export interface ObserveContext {
  db: Db;
  repo: DeviceRepo;
  outbox: Outbox;
  hostId: string;
  /** The device meters (B3). Absent: nothing is metered (unit tests that are not about metering). */
  meter?: Meter;
  now?: () => number;
}

export interface ObserveResult {
  /** Something was written: the recorded state, an event, or usage records. */
  changed: boolean;
  stateChanged: boolean;
  event: EventMessage | null;
  record: DeviceRecord | null;
  /** Usage records enqueued by this observation (closing or splitting the device's meter). */
  usage: number;
}

/** Applies an observation to a record without I/O; returns null when nothing would change. Pure. */
export function applyObservation(rec: DeviceRecord, obs: Observation, now: number): DeviceRecord | null {
  const next: DeviceRecord = {
    ...rec,
    state: obs.state,
    stateSince: obs.state !== rec.state ? now : rec.stateSince,
    containerId: obs.containerId !== undefined ? obs.containerId : rec.containerId,
    adbPort: obs.adbPort !== undefined ? obs.adbPort : rec.adbPort,
    exitCode: obs.exitCode !== undefined ? obs.exitCode : rec.exitCode,
    oomKilled: obs.oomKilled !== undefined ? obs.oomKilled : rec.oomKilled,
    error: obs.error !== undefined ? obs.error : rec.error,
    recoveryAttempts: obs.recoveryAttempts ?? rec.recoveryAttempts,
    deletedAt: obs.state === "deleted" ? (rec.deletedAt ?? now) : null,
  };
  const same =
    next.state === rec.state &&
    next.containerId === rec.containerId &&
    next.adbPort === rec.adbPort &&
    next.exitCode === rec.exitCode &&
    next.oomKilled === rec.oomKilled &&
    next.error === rec.error &&
    next.recoveryAttempts === rec.recoveryAttempts &&
    next.deletedAt === rec.deletedAt;
  return same ? null : next;
}

/** The retained reported-state message body for a record (envelope added by the outbox). */
export function stateMessageBody(hostId: string, rec: DeviceRecord): Omit<DeviceStateMessage, "id" | "seq" | "ts" | "v"> {
  const body: Omit<DeviceStateMessage, "id" | "seq" | "ts" | "v"> = {
    hostId,
    deviceId: rec.id,
    state: rec.state,
    desired: rec.desired,
    generation: rec.generation,
    since: rec.stateSince,
  };
  if (rec.containerId) body.containerId = rec.containerId.slice(0, 128);
  if (rec.adbPort) body.adb = { host: "127.0.0.1", port: rec.adbPort };
  if (rec.exitCode !== null) body.exitCode = rec.exitCode;
  if (rec.oomKilled !== null) body.oomKilled = rec.oomKilled;
  if (rec.error) body.error = rec.error.slice(0, 2000);
  return body;
}

/** Enqueues the retained state of one device (used by observe() and by the snapshot on every connect). */
export function enqueueDeviceState(ctx: ObserveContext, rec: DeviceRecord): void {
  ctx.outbox.enqueue(topics.deviceState(ctx.hostId, rec.id), () => stateMessageBody(ctx.hostId, rec), { retain: true, deviceId: rec.id });
}

/**
 * The only producer of device events. In one transaction: compare the observation with the recorded state;
 * if anything changed, update the row and append the retained state message, plus the `device.*` event when the
 * state itself changed. The device's meter opens, moves or closes in the same transaction, so usage is reported
 * if and only if the state change that ends it was recorded. No change → no write.
 */
export function observe(ctx: ObserveContext, deviceId: string, obs: Observation): ObserveResult {
  const now = (ctx.now ?? Date.now)();
  return ctx.db.transaction((): ObserveResult => {
    const rec = ctx.repo.get(deviceId);
    if (!rec) return { changed: false, stateChanged: false, event: null, record: null, usage: 0 };
    // Before the no-change exit: a container restarted behind our back changes the meter, not the record.
    const usage = ctx.meter ? ctx.meter.onObservation(rec, obs, now) : 0;
    const next = applyObservation(rec, obs, now);
    if (!next) return { changed: usage > 0, stateChanged: false, event: null, record: rec, usage };
    ctx.repo.writeObserved(next, now);
    const stateChanged = next.state !== rec.state;
    let event: EventMessage | null = null;
    if (stateChanged && obs.event) {
      const data: EventData = {};
      if (obs.reason) data.reason = obs.reason.slice(0, 2000);
      if (obs.exitCode !== undefined && obs.exitCode !== null) data.exitCode = obs.exitCode;
      if (obs.oomKilled !== undefined && obs.oomKilled !== null) data.oomKilled = obs.oomKilled;
      if (next.containerId) data.containerId = next.containerId.slice(0, 128);
      if (obs.commandId) data.commandId = obs.commandId;
      if (next.recoveryAttempts > 0 && (obs.event === "device.recovered" || obs.event === "device.failed" || obs.event === "device.error")) {
        data.attempt = next.recoveryAttempts;
      }
      const name = obs.event;
      event = ctx.outbox.enqueue(
        topics.event(ctx.hostId, name),
        (): Omit<EventMessage, "id" | "seq" | "ts" | "v"> => ({ hostId: ctx.hostId, name, deviceId, data }),
        { deviceId },
      );
    }
    enqueueDeviceState(ctx, next);
    return { changed: true, stateChanged, event, record: next, usage };
  })();
}
