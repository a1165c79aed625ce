import { describe, expect, it } from "vitest";
import type { Principal } from "../auth/principal.js";
import { planAppInstalls, type PlanDevice, type PlanInput } from "./fanout.js";

const alice: Principal = { userId: "alice", role: "user", scopes: "all", via: "jwt" };
const bob: Principal = { userId: "bob", role: "user", scopes: "all", via: "jwt" };
const admin: Principal = { userId: "root", role: "admin", scopes: "all", via: "jwt" };

const device = (id: string, over: Partial<PlanDevice> = {}): PlanDevice => ({
  id, ownerId: "alice", hostId: "h1", desired: "running", deletedAt: null, hostRevoked: false, ...over,
});

function input(over: Partial<PlanInput> = {}): PlanInput {
  let n = 0;
  const devices = [device("d1"), device("d2", { hostId: "h2" }), device("gone", { deletedAt: 5, desired: "deleted" }), device("dying", { desired: "deleted" }), device("revoked", { hostRevoked: true }), device("bobs", { ownerId: "bob" })];
  return {
    caller: alice,
    app: { id: "app1", ownerId: "alice", deletedAt: null },
    action: "install",
    deviceIds: ["d1", "d2"],
    devices: new Map(devices.map((d) => [d.id, d])),
    pending: new Set(),
    requestId: "req-1",
    now: 1000,
    newId: () => `i${++n}`,
    ...over,
  };
}

describe("planAppInstalls", () => {
  it("plans one pending row per accessible device, in the caller's order, with each device's host", () => {
    const r = planAppInstalls(input());
    expect(r).toEqual({
      ok: true,
      installs: [
        { id: "i1", appId: "app1", deviceId: "d1", hostId: "h1", action: "install", requestId: "req-1", createdAt: 1000 },
        { id: "i2", appId: "app1", deviceId: "d2", hostId: "h2", action: "install", requestId: "req-1", createdAt: 1000 },
      ],
      refused: [],
    });
  });

  it("refuses each bad device with its own reason and goes ahead with the others", () => {
    const r = planAppInstalls(input({ action: "uninstall", deviceIds: ["missing", "d1", "bobs", "gone", "dying", "revoked", "d2", "d1"], pending: new Set(["d2"]) }));
    if (!r.ok) throw new Error("expected a plan");
    expect(r.installs.map((i) => [i.deviceId, i.action])).toEqual([["d1", "uninstall"]]);
    expect(r.refused.map((x) => [x.deviceId, x.code])).toEqual([
      ["missing", "device_not_found"],
      ["bobs", "device_not_found"], // another user's device: same answer as a missing one
      ["gone", "device_deleted"],
      ["dying", "device_deleted"],
      ["revoked", "host_revoked"],
      ["d2", "install_pending"],
      ["d1", "duplicate_device"],
    ]);
    expect(r.refused.find((x) => x.deviceId === "bobs")!.message).toBe(r.refused.find((x) => x.deviceId === "missing")!.message.replace("missing", "bobs"));
  });

  it("an admin may target any user's devices with any user's app", () => {
    const r = planAppInstalls(input({ caller: admin, deviceIds: ["bobs", "d1"] }));
    expect(r.ok && r.installs.map((i) => i.deviceId)).toEqual(["bobs", "d1"]);
  });

  it("refuses the whole request when the app is missing, deleted or another user's", () => {
    expect(planAppInstalls(input({ app: undefined }))).toMatchObject({ ok: false, code: "app_not_found" });
    expect(planAppInstalls(input({ app: { id: "app1", ownerId: "alice", deletedAt: 9 } }))).toMatchObject({ ok: false, code: "app_not_found" });
    expect(planAppInstalls(input({ caller: bob, deviceIds: ["bobs"] }))).toEqual({ ok: false, code: "app_not_found", message: "app app1 does not exist" });
  });

  it("a user cannot install their own app on another user's device", () => {
    const r = planAppInstalls(input({ caller: bob, app: { id: "app2", ownerId: "bob", deletedAt: null }, deviceIds: ["d1", "bobs"] }));
    expect(r.ok && r.installs.map((i) => i.deviceId)).toEqual(["bobs"]);
    expect(r.ok && r.refused).toEqual([{ deviceId: "d1", code: "device_not_found", message: "device d1 does not exist" }]);
  });
});
