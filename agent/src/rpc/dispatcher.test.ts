import { SCHEMA_VERSION, newId, type RpcResponseMessage } from "@cloudphone/shared-protocol";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SPEC, makeStore, type TestStore } from "../test-support/fixtures.js";
import { RpcDispatcher } from "./dispatcher.js";
import { RpcFailure, type RpcHandlers, type TunnelClient } from "./types.js";

const HOST = "host-1";
let store: TestStore;
let sent: RpcResponseMessage[];
const noTunnels: TunnelClient = {
  download: () => Promise.reject(new Error("no tunnels here")),
  upload: () => Promise.reject(new Error("no tunnels here")),
  duplex: () => Promise.reject(new Error("no tunnels here")),
};

function dispatcher(handlers: RpcHandlers, max = 8): RpcDispatcher {
  return new RpcDispatcher({
    hostId: HOST,
    repo: store.repo,
    handlers,
    tunnels: noTunnels,
    serialOf: (port) => `127.0.0.1:${port}`,
    send: (m) => {
      sent.push(m);
      return Promise.resolve();
    },
    log: pino({ level: "silent" }),
    maxConcurrentPerDevice: max,
  });
}

const request = (over: Record<string, unknown> = {}) => {
  const id = newId();
  return {
    id,
    payload: Buffer.from(
      JSON.stringify({ id, seq: 1, ts: Date.now(), v: SCHEMA_VERSION, hostId: HOST, deviceId: "d1", method: "device.files.stat", params: { path: "/sdcard/x" }, deadline: Date.now() + 5000, ...over }),
    ),
  };
};

beforeEach(() => {
  store = makeStore(HOST);
  store.repo.insert("d1", SPEC, null, "running", 1, Date.now());
  sent = [];
});
afterEach(() => store.cleanup());

describe("RpcDispatcher", () => {
  it("calls the handler with validated params and the device, and answers replyTo the request", async () => {
    const d = dispatcher({
      "device.files.stat": async (p, ctx) => {
        expect(ctx.device.id).toBe("d1");
        expect(ctx.signal.aborted).toBe(false);
        return { name: p.path.slice(1), type: "file", size: 1, mode: 0o644, mtime: 0 };
      },
    });
    const r = request();
    await d.handle(r.payload);
    expect(sent).toEqual([expect.objectContaining({ hostId: HOST, replyTo: r.id, outcome: { ok: true, result: expect.objectContaining({ name: "sdcard/x" }) } })]);
  });

  it("answers unknown_method, bad_params (naming the field) and device_not_found", async () => {
    const d = dispatcher({ "device.files.stat": () => Promise.reject(new Error("not called")) });
    await d.handle(request({ method: "device.exec", params: { command: "ls" } }).payload);
    await d.handle(request({ params: { path: "../etc" } }).payload);
    await d.handle(request({ deviceId: "nope" }).payload);
    expect(sent.map((m) => m.outcome)).toEqual([
      { ok: false, code: "unknown_method", message: expect.stringContaining("device.exec") },
      { ok: false, code: "bad_params", message: expect.stringContaining("path") },
      { ok: false, code: "device_not_found", message: expect.any(String) },
    ]);
  });

  it("drops requests past their deadline, invalid payloads and requests for another host without answering", async () => {
    let called = 0;
    const d = dispatcher({ "device.files.stat": async () => (called++, { name: "x", type: "file", size: 0, mode: 0, mtime: 0 }) });
    await d.handle(request({ deadline: Date.now() - 1 }).payload);
    await d.handle(Buffer.from("{not json"));
    await d.handle(request({ hostId: "host-2" }).payload);
    expect(called).toBe(0);
    expect(sent).toEqual([]);
    expect(d.counters).toMatchObject({ expired: 1, invalid: 2 });
  });

  it("aborts the handler at the deadline and does not answer after it", async () => {
    let aborted = false;
    const d = dispatcher({
      "device.files.stat": (_p, ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
            reject(new Error("aborted"));
          }),
        ),
    });
    await d.handle(request({ deadline: Date.now() + 500 }).payload);
    expect(aborted).toBe(true);
    expect(sent).toEqual([]);
    expect(d.active()).toBe(0);
  });

  it("passes RpcFailure codes through; caps concurrent requests per device with conflict; slow ones block nobody", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const d = dispatcher(
      {
        "device.files.stat": async (p) => {
          if (p.path === "/missing") throw new RpcFailure("not_found", "no such file");
          await gate;
          return { name: "x", type: "file", size: 0, mode: 0, mtime: 0 };
        },
      },
      2,
    );
    const slow = [d.handle(request().payload), d.handle(request().payload)];
    await d.handle(request().payload); // third at once: refused
    expect(sent.map((m) => m.outcome)).toEqual([{ ok: false, code: "conflict", message: expect.stringContaining("2 requests") }]);
    release();
    await Promise.all(slow);
    await d.handle(request({ params: { path: "/missing" } }).payload);
    expect(sent.map((m) => (m.outcome.ok ? "ok" : m.outcome.code))).toEqual(["conflict", "ok", "ok", "not_found"]);
  });
});
