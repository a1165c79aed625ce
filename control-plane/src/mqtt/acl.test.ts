import { describe, expect, it } from "vitest";
import { topics } from "@cloudphone/shared-protocol";
import { decidePublish, decideSubscribe, type Identity } from "./acl.js";

const h1: Identity = { kind: "host", hostId: "h1" };
const reader: Identity = { kind: "operator", username: "op-r", access: "read" };
const writer: Identity = { kind: "operator", username: "op-w", access: "readwrite" };

describe("decidePublish", () => {
  it("lets a host publish uplinks only inside its own subtree", () => {
    expect(decidePublish(h1, topics.status("h1"))).toEqual({ allow: true, ingest: true, senderHostId: "h1" });
    expect(decidePublish(h1, topics.deviceState("h1", "d1"))).toMatchObject({ allow: true, ingest: true });
    expect(decidePublish(h1, "cloudphone/v1/hosts/h1/whatever")).toMatchObject({ allow: true, ingest: true });
    expect(decidePublish(h1, topics.status("h2")).allow).toBe(false);
    expect(decidePublish(h1, "cloudphone/v1/hosts/h10/status").allow).toBe(false);
    expect(decidePublish(h1, topics.commands("h1")).allow).toBe(false);
    expect(decidePublish(h1, "$SYS/broker/x").allow).toBe(false);
    expect(decidePublish(h1, "other/topic").allow).toBe(false);
  });

  it("accepts broker Wills (null client) and attributes them by topic", () => {
    expect(decidePublish(null, topics.status("h2"))).toEqual({ allow: true, ingest: true, senderHostId: "h2" });
    expect(decidePublish(null, "some/other")).toEqual({ allow: true, ingest: false });
  });

  it("limits operators by access", () => {
    expect(decidePublish(reader, topics.commands("h1")).allow).toBe(false);
    expect(decidePublish(writer, topics.commands("h1"))).toEqual({ allow: true, ingest: false });
    expect(decidePublish(writer, topics.status("h1")).allow).toBe(false);
  });
});

describe("rpc topics", () => {
  it("refuses hosts publishing rpc requests (own or another's) and lets them answer on their own rpc/responses only", () => {
    expect(decidePublish(h1, topics.rpcRequests("h1"))).toMatchObject({ allow: false, reason: expect.stringContaining("rpc/requests") });
    expect(decidePublish(h1, topics.rpcRequests("h2")).allow).toBe(false);
    expect(decidePublish(h1, topics.rpcResponses("h1"))).toEqual({ allow: true, ingest: true, senderHostId: "h1" });
    expect(decidePublish(h1, topics.rpcResponses("h2")).allow).toBe(false);
  });

  it("refuses operators publishing rpc requests or responses; hosts may subscribe to their own requests only", () => {
    expect(decidePublish(writer, topics.rpcRequests("h1")).allow).toBe(false);
    expect(decidePublish(writer, topics.rpcResponses("h1")).allow).toBe(false);
    expect(decideSubscribe(h1, topics.rpcRequests("h1"))).toBe(true);
    expect(decideSubscribe(h1, topics.rpcRequests("h2"))).toBe(false);
    expect(decideSubscribe(h1, topics.rpcResponses("h2"))).toBe(false);
  });
});

describe("decideSubscribe", () => {
  it("keeps hosts in their subtree and operators under cloudphone/v1/", () => {
    expect(decideSubscribe(h1, topics.commands("h1"))).toBe(true);
    expect(decideSubscribe(h1, "cloudphone/v1/hosts/h1/#")).toBe(true);
    expect(decideSubscribe(h1, topics.commands("h2"))).toBe(false);
    expect(decideSubscribe(h1, "cloudphone/v1/hosts/+/commands")).toBe(false);
    expect(decideSubscribe(h1, "#")).toBe(false);
    expect(decideSubscribe(reader, topics.everything)).toBe(true);
    expect(decideSubscribe(writer, "cloudphone/v1/hosts/+/status")).toBe(true);
    expect(decideSubscribe(reader, "#")).toBe(false);
    expect(decideSubscribe(reader, "$SYS/#")).toBe(false);
    expect(decideSubscribe(null, topics.everything)).toBe(false);
  });
});
