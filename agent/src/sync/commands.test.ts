import { CommandResultMessage, type DeviceAction, type DeviceCommand } from "@cloudphone/shared-protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SPEC, makeStore, type TestStore } from "../test-support/fixtures.js";
import { observe } from "../devices/observe.js";
import { applyCommand } from "./commands.js";

let s: TestStore;
beforeEach(() => {
  s = makeStore();
});
afterEach(() => s.cleanup());

let n = 0;
function cmd(action: DeviceAction, generation: number, deviceId = "d1"): DeviceCommand {
  const base = { id: `cmd0000${++n}`, seq: n, ts: 1, v: 1 as const, hostId: "host-1", deviceId, generation };
  return action === "create" ? { ...base, action, spec: SPEC, ownerId: "u1" } : { ...base, action };
}
const results = () =>
  s.outbox
    .nextBatch(100)
    .filter((r) => r.topic.endsWith("/results"))
    .map((r) => CommandResultMessage.parse(JSON.parse(r.payload)));

describe("applyCommand", () => {
  it("creates an unknown device with desired running and reports applied", () => {
    const r = applyCommand(s.ctx, cmd("create", 1));
    expect(r).toMatchObject({ duplicate: false, outcome: "applied", capacityChanged: true });
    expect(s.repo.get("d1")).toMatchObject({ desired: "running", generation: 1, state: "pending", ownerId: "u1" });
    expect(results().map((m) => m.outcome)).toEqual(["applied"]);
  });

  it("ignores a duplicate command id entirely", () => {
    const c = cmd("create", 1);
    applyCommand(s.ctx, c);
    const before = s.outbox.stats().pending;
    expect(applyCommand(s.ctx, c)).toMatchObject({ duplicate: true, outcome: null });
    expect(s.outbox.stats().pending).toBe(before);
  });

  it("supersedes a stale generation without applying it", () => {
    applyCommand(s.ctx, cmd("create", 1));
    applyCommand(s.ctx, cmd("stop", 3));
    expect(applyCommand(s.ctx, cmd("start", 2))).toMatchObject({ outcome: "superseded" });
    expect(applyCommand(s.ctx, cmd("start", 3))).toMatchObject({ outcome: "superseded" });
    expect(s.repo.get("d1")).toMatchObject({ desired: "stopped", generation: 3 });
    expect(results().map((m) => m.outcome)).toEqual(["applied", "applied", "superseded", "superseded"]);
  });

  it("fails a start for an unknown device with a reason", () => {
    const r = applyCommand(s.ctx, cmd("start", 1, "ghost"));
    expect(r.outcome).toBe("failed");
    expect(results()[0]!.error).toMatch(/unknown on this host/);
    expect(s.repo.get("ghost")).toBeNull();
  });

  it("sets restart flag, stop and delete", () => {
    applyCommand(s.ctx, cmd("create", 1));
    applyCommand(s.ctx, cmd("restart", 2));
    expect(s.repo.get("d1")).toMatchObject({ desired: "running", restartRequested: true });
    applyCommand(s.ctx, cmd("stop", 3));
    expect(s.repo.get("d1")).toMatchObject({ desired: "stopped", restartRequested: false });
    expect(applyCommand(s.ctx, cmd("delete", 4))).toMatchObject({ outcome: "applied", capacityChanged: true });
    expect(s.repo.get("d1")!.desired).toBe("deleted");
    expect(applyCommand(s.ctx, cmd("start", 5)).outcome).toBe("failed");
  });

  it("a new start takes a failed device out of failed with attempts reset", () => {
    applyCommand(s.ctx, cmd("create", 1));
    observe(s.ctx, "d1", { state: "failed", event: "device.failed", recoveryAttempts: 3 });
    applyCommand(s.ctx, cmd("start", 2));
    expect(s.repo.get("d1")).toMatchObject({ state: "stopped", recoveryAttempts: 0, desired: "running" });
  });

  it("records the inbox row with its outcome", () => {
    const c = cmd("create", 1);
    applyCommand(s.ctx, c);
    expect(s.db.prepare("SELECT outcome, action FROM command_inbox WHERE command_id = ?").get(c.id)).toEqual({ outcome: "applied", action: "create" });
  });
});
