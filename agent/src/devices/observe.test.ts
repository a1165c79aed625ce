import { DeviceStateMessage, EventMessage } from "@cloudphone/shared-protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SPEC, makeStore, type TestStore } from "../test-support/fixtures.js";
import { observe } from "./observe.js";

let s: TestStore;
beforeEach(() => {
  s = makeStore();
  s.repo.insert("d1", SPEC, "u1", "running", 1, s.clock.now);
});
afterEach(() => s.cleanup());

describe("observe", () => {
  it("records a state change with its event and the retained state, in seq order", () => {
    s.clock.now += 100;
    const r = observe(s.ctx, "d1", { state: "running", event: "device.started", containerId: "c1", adbPort: 40001 });
    expect(r).toMatchObject({ changed: true, stateChanged: true });
    const rows = s.outbox.nextBatch(10);
    expect(rows.map((x) => x.topic)).toEqual([
      "cloudphone/v1/hosts/host-1/events/device.started",
      "cloudphone/v1/hosts/host-1/devices/d1/state",
    ]);
    expect(rows[1]!.retain).toBe(true);
    const ev = EventMessage.parse(JSON.parse(rows[0]!.payload));
    expect(ev).toMatchObject({ name: "device.started", deviceId: "d1", data: { containerId: "c1" } });
    const st = DeviceStateMessage.parse(JSON.parse(rows[1]!.payload));
    expect(st).toMatchObject({ state: "running", desired: "running", generation: 1, adb: { host: "127.0.0.1", port: 40001 }, since: s.clock.now });
    expect(s.repo.get("d1")).toMatchObject({ state: "running", containerId: "c1", adbPort: 40001, stateSince: s.clock.now });
  });

  it("writes nothing when nothing changed", () => {
    observe(s.ctx, "d1", { state: "running", event: "device.started", containerId: "c1" });
    const before = s.outbox.stats().pending;
    const r = observe(s.ctx, "d1", { state: "running", event: "device.started", containerId: "c1" });
    expect(r.changed).toBe(false);
    expect(s.outbox.stats().pending).toBe(before);
  });

  it("re-sends state but no event when only details change", () => {
    observe(s.ctx, "d1", { state: "running", event: "device.started", containerId: "c1" });
    const before = s.outbox.stats().pending;
    const r = observe(s.ctx, "d1", { state: "running", event: "device.started", adbPort: 40002 });
    expect(r).toMatchObject({ changed: true, stateChanged: false, event: null });
    expect(s.outbox.stats().pending).toBe(before + 1);
  });

  it("carries exit details in device.error and is a no-op for unknown devices", () => {
    observe(s.ctx, "d1", { state: "error", event: "device.error", exitCode: 137, oomKilled: true, reason: "oom" });
    const ev = EventMessage.parse(JSON.parse(s.outbox.nextBatch(1)[0]!.payload));
    expect(ev.data).toMatchObject({ exitCode: 137, oomKilled: true, reason: "oom" });
    expect(observe(s.ctx, "nope", { state: "running", event: null }).changed).toBe(false);
  });

  it("records nothing if the surrounding transaction rolls back", () => {
    expect(() =>
      s.db.transaction(() => {
        observe(s.ctx, "d1", { state: "running", event: "device.started" });
        throw new Error("crash");
      })(),
    ).toThrow("crash");
    expect(s.repo.get("d1")!.state).toBe("pending");
    expect(s.outbox.stats().pending).toBe(0);
  });
});
