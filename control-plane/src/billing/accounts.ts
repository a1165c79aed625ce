import type { LedgerEntryView } from "@cloudphone/shared-protocol";
import type { Db } from "../store/db.js";
import type { LedgerEntry } from "./ledger.js";

/** Whether an account exists and is not deleted (admin money and quota routes answer 404 otherwise). */
export function activeUserExists(db: Db, userId: string): boolean {
  return db.prepare("SELECT 1 FROM users WHERE id = ? AND status = 'active'").get(userId) !== undefined;
}

/** What a user sees of a ledger entry: the idempotency key and request id stay internal. */
export function entryView(e: LedgerEntry): LedgerEntryView {
  return {
    id: e.id,
    kind: e.kind,
    amountMinor: e.amountMinor,
    balanceAfterMinor: e.balanceAfterMinor,
    orderId: e.orderId,
    deviceId: e.deviceId,
    description: e.description,
    createdAt: e.createdAt,
  };
}
