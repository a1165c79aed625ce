import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../store/db.js";
import { tempDb } from "../testing/fixtures.js";
import { Ledger } from "./ledger.js";
import { getInvoice, invoicesForPeriod, listInvoices } from "./invoice-store.js";

let db: Db;
let cleanup: () => void;
let ledger: Ledger;
const at = (y: number, m: number, d = 1, h = 0) => Date.UTC(y, m - 1, d, h);
const NOW = at(2026, 3, 15, 12); // mid March 2026

beforeEach(() => {
  ({ db, cleanup } = tempDb());
  ledger = new Ledger(db, { lowBalanceThresholdMinor: 0 });
  for (const u of ["u1", "u2"]) db.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES (?, ?, 'user', 0, 0)").run(u, `${u}@x.io`);
  const post = (userId: string, kind: "recharge" | "deduct" | "usage" | "refund", amountMinor: number, t: number, deviceId?: string) => {
    const r = ledger.post({ userId, kind, amountMinor, idempotencyKey: `${userId}-${kind}-${t}-${amountMinor}`, ...(deviceId ? { deviceId } : {}) }, t);
    if (!r.ok) throw new Error(r.message);
  };
  post("u1", "recharge", 10_000, at(2026, 1, 10));
  post("u1", "deduct", 3_000, at(2026, 1, 31, 23)); // last hour of January
  post("u1", "usage", 40, at(2026, 2, 1), "d1"); // first instant of February
  post("u1", "usage", 60, at(2026, 2, 20), "d1");
  post("u1", "usage", 5, at(2026, 2, 21), "d2");
  post("u1", "refund", 3_000, at(2026, 3, 2));
  post("u2", "recharge", 700, at(2026, 2, 5));
});
afterEach(() => cleanup());

describe("monthly invoices (B4)", () => {
  it("builds a past month from the ledger and stores it as final, once", () => {
    const feb = getInvoice(db, "u1", "2026-02", "EUR", NOW)!;
    expect(feb).toEqual({
      userId: "u1",
      period: "2026-02",
      status: "final",
      currency: "EUR",
      openingMinor: 7_000,
      creditsMinor: 0,
      debitsMinor: 105,
      closingMinor: 6_895,
      lines: [
        { kind: "usage", deviceId: "d1", entries: 2, amountMinor: -100 },
        { kind: "usage", deviceId: "d2", entries: 1, amountMinor: -5 },
      ],
    });
    expect(db.prepare("SELECT COUNT(*) AS n FROM invoices").get()).toEqual({ n: 1 });
    // Asking again returns the stored row, unchanged, and stores nothing new.
    expect(getInvoice(db, "u1", "2026-02", "EUR", NOW + 1_000)).toEqual(feb);
    expect(db.prepare("SELECT COUNT(*) AS n FROM invoices").get()).toEqual({ n: 1 });
  });

  it("computes the current month live as open, without storing it", () => {
    const mar = getInvoice(db, "u1", "2026-03", "EUR", NOW)!;
    expect(mar).toMatchObject({ status: "open", openingMinor: 6_895, creditsMinor: 3_000, debitsMinor: 0, closingMinor: 9_895 });
    expect(mar.closingMinor).toBe(ledger.balance("u1"));
    expect(db.prepare("SELECT COUNT(*) AS n FROM invoices").get()).toEqual({ n: 0 });
  });

  it("has no invoice for a future month or a month before the first entry", () => {
    expect(getInvoice(db, "u1", "2026-04", "EUR", NOW)).toBeNull();
    expect(getInvoice(db, "u1", "2025-12", "EUR", NOW)).toBeNull();
    expect(getInvoice(db, "u2", "2026-01", "EUR", NOW)).toBeNull();
    // A user without any entry still has an (empty) invoice for the current month.
    db.prepare("INSERT INTO users (id, email, role, created_at, updated_at) VALUES ('u3', 'u3@x.io', 'user', 0, 0)").run();
    expect(getInvoice(db, "u3", "2026-03", "EUR", NOW)).toMatchObject({ status: "open", openingMinor: 0, closingMinor: 0, lines: [] });
  });

  it("lists a user's months newest first, chained opening to closing", () => {
    const list = listInvoices(db, "u1", "EUR", NOW);
    expect(list.map((i) => [i.period, i.status])).toEqual([["2026-03", "open"], ["2026-02", "final"], ["2026-01", "final"]]);
    expect(list[2]!).toMatchObject({ openingMinor: 0, creditsMinor: 10_000, debitsMinor: 3_000, closingMinor: 7_000 });
    for (let i = 0; i < list.length - 1; i++) expect(list[i]!.openingMinor).toBe(list[i + 1]!.closingMinor);
  });

  it("lists every user's invoice of one month for operators", () => {
    const feb = invoicesForPeriod(db, "2026-02", "EUR", NOW);
    expect(feb.map((i) => [i.userId, i.closingMinor])).toEqual([["u1", 6_895], ["u2", 700]]);
    expect(invoicesForPeriod(db, "2026-01", "EUR", NOW).map((i) => i.userId)).toEqual(["u1"]);
    expect(invoicesForPeriod(db, "2027-01", "EUR", NOW)).toEqual([]);
  });
});
