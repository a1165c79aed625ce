import type { Db } from "../store/db.js";
import { applyDeviceAction } from "../devices/registry.js";
import { recordPlatformEvent } from "../platform/record.js";
import { decideFundsActions, startRefusedForFunds, type FundsState, type OwnedDevice } from "./suspension.js";

/**
 * Applies the zero-balance policy (B3) to the database: per owner, one IMMEDIATE transaction re-reads the balance and
 * the devices, decides (pure `decideFundsActions`), writes the stop/start commands, the `suspended_at` marks and the
 * platform event together. The caller publishes the returned commands after the commit.
 */

export interface FundsPass {
  suspended: { userId: string; deviceIds: string[] }[];
  resumed: { userId: string; deviceIds: string[] }[];
  commandIds: string[];
}

/**
 * Owners who may need action: exhausted past the grace period with a running metered device (on a host that can
 * still be commanded), or solvent with a suspended one.
 */
export function ownersNeedingAction(db: Db, now: number, graceMs: number): string[] {
  return (
    db
      .prepare(
        `SELECT DISTINCT b.user_id AS userId FROM balances b JOIN devices d ON d.owner_id = b.user_id
           JOIN hosts h ON h.id = d.host_id AND h.revoked_at IS NULL
         WHERE b.balance_minor <= 0 AND b.depleted_since IS NOT NULL AND b.depleted_since <= ?
           AND d.desired = 'running' AND d.deleted_at IS NULL AND d.suspended_at IS NULL AND d.plan_id IS NOT NULL
         UNION
         SELECT DISTINCT b.user_id FROM balances b JOIN devices d ON d.owner_id = b.user_id
         WHERE b.balance_minor > 0 AND d.suspended_at IS NOT NULL`,
      )
      .all(now - graceMs) as { userId: string }[]
  ).map((r) => r.userId);
}

/** Decides and applies the policy for one owner, atomically. */
export function applyFundsPolicy(db: Db, userId: string, now: number, graceMs: number, requestId?: string): FundsPass {
  return db
    .transaction((): FundsPass => {
      const b = db.prepare("SELECT balance_minor, depleted_since FROM balances WHERE user_id = ?").get(userId) as
        | { balance_minor: number; depleted_since: number | null }
        | undefined;
      const funds: FundsState = { balanceMinor: b?.balance_minor ?? 0, depletedSince: b?.depleted_since ?? null };
      const devices = (
        db
          .prepare(
            `SELECT id, desired, deleted_at, suspended_at, plan_id FROM devices
             WHERE owner_id = ? AND (deleted_at IS NULL OR suspended_at IS NOT NULL) ORDER BY created_at, id`,
          )
          .all(userId) as { id: string; desired: OwnedDevice["desired"]; deleted_at: number | null; suspended_at: number | null; plan_id: string | null }[]
      ).map((r): OwnedDevice => ({ id: r.id, desired: r.desired, deletedAt: r.deleted_at, suspendedAt: r.suspended_at, metered: r.plan_id !== null }));
      const pass: FundsPass = { suspended: [], resumed: [], commandIds: [] };
      const suspended: string[] = [];
      const resumed: string[] = [];
      const mark = db.prepare("UPDATE devices SET suspended_at = ? WHERE id = ?");
      for (const a of decideFundsActions(funds, devices, now, graceMs)) {
        if (a.kind === "release") {
          mark.run(null, a.deviceId);
          continue;
        }
        const r = applyDeviceAction(db, a.deviceId, a.kind === "suspend" ? "stop" : "start", requestId, now);
        if (a.kind === "suspend") {
          // A device that cannot be stopped (its host was revoked) is not running anywhere we control: leave it unmarked.
          if (!r.ok) continue;
          mark.run(now, a.deviceId);
          suspended.push(a.deviceId);
        } else {
          mark.run(null, a.deviceId);
          if (!r.ok) continue;
          resumed.push(a.deviceId);
        }
        pass.commandIds.push(r.commandId);
      }
      if (suspended.length > 0) {
        recordPlatformEvent(db, {
          name: "billing.devices_suspended",
          userId,
          data: { deviceIds: suspended, balanceMinor: funds.balanceMinor, depletedSince: funds.depletedSince, graceMs },
          requestId: requestId ?? null,
        }, now);
        pass.suspended.push({ userId, deviceIds: suspended });
      }
      if (resumed.length > 0) {
        recordPlatformEvent(db, { name: "billing.devices_resumed", userId, data: { deviceIds: resumed, balanceMinor: funds.balanceMinor }, requestId: requestId ?? null }, now);
        pass.resumed.push({ userId, deviceIds: resumed });
      }
      return pass;
    })
    .immediate();
}

export type StartGate = { ok: true } | { ok: false; balanceMinor: number; ownerId: string };

/**
 * Refuses to start (or restart) a metered device whose owner's balance is not positive. Call inside the transaction
 * that applies the action, so a concurrent charge cannot slip between check and command.
 */
export function checkStartFunds(db: Db, deviceId: string): StartGate {
  const r = db
    .prepare(
      `SELECT d.owner_id AS ownerId, d.plan_id AS planId, COALESCE(b.balance_minor, 0) AS balanceMinor
       FROM devices d LEFT JOIN balances b ON b.user_id = d.owner_id WHERE d.id = ?`,
    )
    .get(deviceId) as { ownerId: string | null; planId: string | null; balanceMinor: number } | undefined;
  if (!r || r.ownerId === null) return { ok: true };
  return startRefusedForFunds(r.planId !== null, r.balanceMinor) ? { ok: false, balanceMinor: r.balanceMinor, ownerId: r.ownerId } : { ok: true };
}

/** Clears the funds-suspension mark (the owner stopped, deleted or started the device themselves). */
export function clearSuspension(db: Db, deviceId: string): void {
  db.prepare("UPDATE devices SET suspended_at = NULL WHERE id = ? AND suspended_at IS NOT NULL").run(deviceId);
}
