import { describe, expect, it } from "vitest";
import { backoffMs, decide, decideCompensation, exhausted, MAX_RETRIES, retryBudget, type SagaFacts, type SagaSnapshot } from "./saga.js";

const NOW = 1_000_000;
const running = (step: SagaSnapshot["step"], deadlineAt = NOW + 60_000): SagaSnapshot => ({ status: "running", step, deadlineAt });
const compensating = (step: SagaSnapshot["step"] = "device_allocated"): SagaSnapshot => ({ status: "compensating", step, deadlineAt: NOW });
const device = (state: string, extra: Partial<{ desired: string; deletedAt: number | null }> = {}) => ({
  state,
  desired: extra.desired ?? "running",
  deletedAt: extra.deletedAt ?? null,
});
const facts = (f: Partial<SagaFacts> = {}): SagaFacts => ({ deviceId: null, device: null, paid: false, refunded: false, ...f });
const withDevice = (state: string, extra = {}) => facts({ deviceId: "d1", device: device(state, extra) });

describe("purchase saga step machine", () => {
  it("walks the forward steps in order", () => {
    expect(decide(running("order_created"), facts(), NOW)).toEqual({ kind: "allocate" });
    expect(decide(running("device_allocated"), withDevice("running"), NOW)).toEqual({ kind: "mark_ready" });
    expect(decide(running("device_ready"), withDevice("running"), NOW)).toEqual({ kind: "take_payment" });
    expect(decide(running("payment_taken"), facts({ paid: true }), NOW)).toEqual({ kind: "activate" });
  });

  it("waits while the device is on its way, whatever the intermediate state", () => {
    for (const state of ["pending", "creating", "starting", "restarting", "stopped"]) {
      expect(decide(running("device_allocated"), withDevice(state), NOW)).toEqual({ kind: "wait" });
    }
  });

  it("fails a device that broke, was deleted, or vanished before it was ready", () => {
    for (const state of ["failed", "error"]) {
      const d = decide(running("device_allocated"), withDevice(state), NOW);
      expect(d).toMatchObject({ kind: "fail", failure: { code: "device_failed" } });
    }
    expect(decide(running("device_allocated"), withDevice("deleted"), NOW)).toMatchObject({ kind: "fail", failure: { code: "device_lost" } });
    expect(decide(running("device_allocated"), withDevice("running", { desired: "deleted" }), NOW)).toMatchObject({
      kind: "fail",
      failure: { code: "device_lost" },
    });
    expect(decide(running("device_allocated"), withDevice("stopped", { deletedAt: 5 }), NOW)).toMatchObject({ kind: "fail" });
    expect(decide(running("device_allocated"), facts({ deviceId: "d1", device: null }), NOW)).toMatchObject({
      kind: "fail",
      failure: { code: "device_lost" },
    });
  });

  it("times out before allocation and while waiting for the device, not once it is ready", () => {
    const late = NOW + 1;
    expect(decide(running("order_created", NOW), facts(), late)).toMatchObject({ kind: "fail", failure: { code: "saga_timeout" } });
    expect(decide(running("device_allocated", NOW), withDevice("creating"), late)).toMatchObject({ kind: "fail", failure: { code: "saga_timeout" } });
    expect(decide(running("device_allocated", NOW), withDevice("creating"), NOW)).toMatchObject({ kind: "fail" }); // deadline inclusive
    // A device that made it in time is still accepted at the next look, even after the deadline.
    expect(decide(running("device_allocated", NOW), withDevice("running"), late)).toEqual({ kind: "mark_ready" });
    expect(decide(running("device_ready", NOW), withDevice("running"), late)).toEqual({ kind: "take_payment" });
    expect(decide(running("payment_taken", NOW), facts({ paid: true }), late)).toEqual({ kind: "activate" });
  });

  it("does nothing for terminal sagas", () => {
    for (const status of ["completed", "compensated", "compensation_failed"] as const) {
      expect(decide({ status, step: "activated", deadlineAt: NOW }, facts(), NOW)).toEqual({ kind: "none" });
    }
    expect(decide(running("activated"), facts(), NOW)).toEqual({ kind: "none" });
  });

  it("compensates in reverse order: refund, then release, then close", () => {
    const paidWithDevice = facts({ deviceId: "d1", device: device("running"), paid: true });
    expect(decide(compensating("payment_taken"), paidWithDevice, NOW)).toEqual({ kind: "refund" });
    const refunded = { ...paidWithDevice, refunded: true };
    expect(decide(compensating("refunded"), refunded, NOW)).toEqual({ kind: "release_device" });
    const released = { ...refunded, device: device("running", { desired: "deleted" }) };
    expect(decide(compensating("device_released"), released, NOW)).toEqual({ kind: "close_order" });
  });

  it("skips compensations whose forward step never happened or is already undone", () => {
    expect(decideCompensation(facts())).toEqual({ kind: "close_order" }); // nothing allocated, nothing paid
    expect(decideCompensation(withDevice("creating"))).toEqual({ kind: "release_device" }); // unpaid
    expect(decideCompensation(facts({ deviceId: "d1", device: null }))).toEqual({ kind: "close_order" }); // device row gone
    expect(decideCompensation(withDevice("deleted", { deletedAt: 7, desired: "deleted" }))).toEqual({ kind: "close_order" });
    expect(decideCompensation(facts({ paid: true, refunded: true }))).toEqual({ kind: "close_order" });
  });

  it("retries each step 3 times with exponential back-off, continuing a persisted budget", () => {
    expect(MAX_RETRIES).toBe(3);
    expect([1, 2, 3].map((n) => backoffMs(n, 500))).toEqual([500, 1000, 2000]);
    expect(retryBudget(0, 500)).toEqual({ retries: 3, minTimeout: 500, factor: 2 });
    // One failed attempt was persisted before a crash: two retries left, next delays 1000 then 2000.
    expect(retryBudget(1, 500)).toEqual({ retries: 2, minTimeout: 1000, factor: 2 });
    expect(retryBudget(3, 500)).toEqual({ retries: 0, minTimeout: 4000, factor: 2 });
    expect(exhausted(3)).toBe(false);
    expect(exhausted(4)).toBe(true);
  });
});
