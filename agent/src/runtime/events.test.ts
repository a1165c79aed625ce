import { describe, expect, it } from "vitest";
import { NdjsonSplitter, toContainerEvent } from "./events.js";

describe("docker event parsing", () => {
  it("splits JSON lines across chunk boundaries", () => {
    const s = new NdjsonSplitter();
    expect(s.push('{"a":1}\n{"b"')).toEqual([{ a: 1 }]);
    expect(s.push(':2}\n\n{"c":3}')).toEqual([{ b: 2 }]);
    expect(s.push("\n")).toEqual([{ c: 3 }]);
  });
  it("keeps only this host's device events", () => {
    const attrs = { "io.cloudphone.host-id": "h1", "io.cloudphone.device-id": "d1" };
    expect(toContainerEvent({ Action: "health_status: healthy", timeNano: 5, Actor: { Attributes: attrs } }, "h1")).toEqual({
      action: "health_status: healthy",
      deviceId: "d1",
      timeNano: 5,
    });
    expect(toContainerEvent({ Action: "die", Actor: { Attributes: attrs } }, "h2")).toBeNull();
    expect(toContainerEvent("junk", "h1")).toBeNull();
  });
});
