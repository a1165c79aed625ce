import { describe, expect, it } from "vitest";
import { MAX_PAYLOAD_BYTES, newId, parseMessage, parseTopic, topics, isWithinHostSubtree } from "./index.js";

const env = (extra: Record<string, unknown>) => ({ id: newId(), seq: 7, ts: Date.now(), v: 1, ...extra });

describe("topic tree", () => {
  it("classifies every topic kind and refuses the rest", () => {
    expect(parseTopic(topics.status("h1"))).toEqual({ kind: "status", hostId: "h1" });
    expect(parseTopic(topics.deviceState("h1", "d-9"))).toEqual({ kind: "deviceState", hostId: "h1", deviceId: "d-9" });
    expect(parseTopic(topics.event("h1", "device.started"))).toEqual({ kind: "event", hostId: "h1", eventName: "device.started" });
    expect(parseTopic(topics.commands("h1"))).toEqual({ kind: "commands", hostId: "h1" });
    expect(parseTopic("cloudphone/v1/hosts/h1/nope")).toBeNull();
    expect(parseTopic("cloudphone/v2/hosts/h1/status")).toBeNull();
    expect(parseTopic("cloudphone/v1/hosts/+/status")).toBeNull();
    expect(parseTopic("cloudphone/v1/hosts/h1/devices/#/state")).toBeNull();
  });

  it("knows a host's subtree, including wildcard filters", () => {
    expect(isWithinHostSubtree("cloudphone/v1/hosts/h1/#", "h1")).toBe(true);
    expect(isWithinHostSubtree("cloudphone/v1/hosts/h1/commands", "h1")).toBe(true);
    expect(isWithinHostSubtree("cloudphone/v1/hosts/h10/commands", "h1")).toBe(false);
    expect(isWithinHostSubtree("cloudphone/v1/hosts/+/commands", "h1")).toBe(false);
    expect(isWithinHostSubtree("cloudphone/v1/#", "h1")).toBe(false);
  });
});

describe("parseMessage", () => {
  it("accepts a valid device state and types it", () => {
    const r = parseMessage(
      topics.deviceState("h1", "d1"),
      JSON.stringify(env({ hostId: "h1", deviceId: "d1", state: "running", desired: "running", generation: 2, since: 1 })),
    );
    expect(r.ok).toBe(true);
    if (r.ok && r.value.kind === "deviceState") expect(r.value.message.state).toBe("running");
  });

  it("gives a precise reason for every kind of rejection", () => {
    const cases: Array<[string, string | Uint8Array, string, RegExp]> = [
      ["cloudphone/v1/hosts/h1/bogus", "{}", "unknown_topic", /not in the cloudphone\/v1 tree/],
      [topics.status("h1"), "{not json", "malformed_json", /malformed JSON/],
      [topics.status("h1"), JSON.stringify({ ...env({ hostId: "h1", status: "online" }), v: 2 }), "unknown_version", /unknown schema version 2/],
      [topics.status("h1"), Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 32), "oversize", /exceeds/],
      [topics.status("h1"), JSON.stringify(env({ hostId: "h1", status: "sleeping" })), "invalid", /^status:/],
      [topics.status("h1"), JSON.stringify(env({ hostId: "h2", status: "online" })), "topic_mismatch", /does not match topic host h1/],
      [topics.event("h1", "device.started"), JSON.stringify(env({ hostId: "h1", name: "device.stopped", data: {} })), "topic_mismatch", /event name/],
      [topics.usage("h1"), JSON.stringify(env({ hostId: "h1", deviceId: "d1", recordId: newId(), from: 10, to: 5 })), "invalid", /^to: to must be after from/],
    ];
    for (const [topic, payload, code, reason] of cases) {
      const r = parseMessage(topic, payload);
      expect(r.ok, `${code} for ${topic}`).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe(code);
        expect(r.reason).toMatch(reason);
      }
    }
  });

  it("refuses unknown fields instead of silently dropping them", () => {
    const r = parseMessage(topics.status("h1"), JSON.stringify(env({ hostId: "h1", status: "online", extra: 1 })));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/extra/);
  });

  it("requires a spec on create commands only", () => {
    const base = env({ hostId: "h1", deviceId: "d1", generation: 1 });
    expect(parseMessage(topics.commands("h1"), JSON.stringify({ ...base, action: "stop" })).ok).toBe(true);
    const noSpec = parseMessage(topics.commands("h1"), JSON.stringify({ ...base, action: "create" }));
    expect(noSpec.ok).toBe(false);
    if (!noSpec.ok) expect(noSpec.reason).toMatch(/spec/);
  });
});

describe("newId", () => {
  it("is unique and sorts by time", () => {
    const a = newId(1000);
    const b = newId(2000);
    expect(a < b).toBe(true);
    expect(new Set(Array.from({ length: 1000 }, () => newId())).size).toBe(1000);
  });
});
