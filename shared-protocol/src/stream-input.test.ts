import { describe, expect, it } from "vitest";
import { AgentMessage } from "./index.js";

describe("stream data channel: the agent's control message", () => {
  it("carries whether the stream accepts input, both ways", () => {
    for (const input of [true, false]) {
      const m = { t: "control", holder: true, sessionId: "s-1", input };
      expect(AgentMessage.parse(m)).toEqual(m);
    }
  });

  it("refuses a control message without input, or with a non-boolean one, naming the field", () => {
    const missing = AgentMessage.safeParse({ t: "control", holder: false, sessionId: "" });
    expect(missing.success).toBe(false);
    expect(missing.error?.issues.map((i) => i.path)).toEqual([["input"]]);
    const wrong = AgentMessage.safeParse({ t: "control", holder: false, sessionId: "", input: "no" });
    expect(wrong.error?.issues.map((i) => i.path)).toEqual([["input"]]);
  });
});
