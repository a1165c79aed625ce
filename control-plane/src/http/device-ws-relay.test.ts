import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { silentLogger } from "../testing/fixtures.js";
import { SocketRelay, forwardableCloseCode } from "./device-ws-relay.js";

// The relay between a browser's socket and the agent's tunnel, over real WebSocket pairs: `near` is the end the
// control plane holds (what the relay gets), `far` the browser or the agent.

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

async function pair(): Promise<{ near: WebSocket; far: WebSocket }> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise<void>((r) => wss.once("listening", r));
  const near = new Promise<WebSocket>((r) => wss.once("connection", r));
  const far = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await new Promise<void>((r) => far.once("open", () => r()));
  closers.push(() => wss.close());
  return { near: await near, far };
}

type Got = { data: string; binary: boolean };
function frames(ws: WebSocket): Got[] {
  const out: Got[] = [];
  ws.on("message", (d: Buffer, binary: boolean) => out.push({ data: binary ? d.toString("hex") : d.toString("utf8"), binary }));
  return out;
}
const closeOf = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((r) => ws.once("close", (code, reason) => r({ code, reason: reason.toString() })));
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
};
const opts = { highWaterBytes: 1024, log: silentLogger(), what: "test" };

describe("SocketRelay", () => {
  it("keeps what the browser sent until the agent's session runs, then relays both ways with frame types kept", async () => {
    const browser = await pair();
    const agent = await pair();
    const relay = new SocketRelay(browser.near, opts);
    browser.near.on("message", (d: Buffer, binary: boolean) => relay.fromBrowser(binary ? d : d.toString("utf8")));
    const atAgent = frames(agent.far);
    const atBrowser = frames(browser.far);
    browser.far.send(Buffer.from([1, 2]), { binary: true });
    browser.far.send('{"type":"resize","cols":1,"rows":1}');
    await new Promise((r) => setTimeout(r, 50));
    relay.attachAgent(agent.near);
    agent.far.send("early"); // the agent's frames flow at once
    await new Promise((r) => setTimeout(r, 50));
    expect(atAgent).toEqual([]); // the browser's wait for start()
    relay.start();
    browser.far.send(Buffer.from([3]), { binary: true });
    await until(() => atAgent.length === 3);
    expect(atAgent).toEqual([
      { data: "0102", binary: true },
      { data: '{"type":"resize","cols":1,"rows":1}', binary: false },
      { data: "03", binary: true },
    ]);
    agent.far.send(Buffer.from([9]), { binary: true });
    agent.far.send("line\n");
    await until(() => atBrowser.length === 3);
    expect(atBrowser).toEqual([
      { data: "early", binary: false },
      { data: "09", binary: true },
      { data: "line\n", binary: false },
    ]);
  });

  it("closes the browser with the agent's close code and reason", async () => {
    const browser = await pair();
    const agent = await pair();
    const relay = new SocketRelay(browser.near, opts);
    relay.attachAgent(agent.near);
    const closed = closeOf(browser.far);
    agent.far.close(4408, "idle");
    expect(await closed).toEqual({ code: 4408, reason: "idle" });
  });

  it("closes the agent's tunnel when the browser goes, also when it went before the agent came", async () => {
    const browser = await pair();
    const agent = await pair();
    const relay = new SocketRelay(browser.near, opts);
    browser.near.on("close", () => relay.browserClosed());
    const agentClosed = closeOf(agent.far);
    browser.far.close(1000);
    await closeOf(browser.near);
    relay.attachAgent(agent.near);
    expect((await agentClosed).code).toBe(1000);
  });

  it("closes a browser that floods before the agent came (1009), and fails with a frame and code", async () => {
    const browser = await pair();
    const relay = new SocketRelay(browser.near, opts);
    browser.near.on("message", (d: Buffer) => relay.fromBrowser(d));
    const closed = closeOf(browser.far);
    browser.far.send(Buffer.alloc(2048), { binary: true });
    expect((await closed).code).toBe(1009);

    const other = await pair();
    const r2 = new SocketRelay(other.near, opts);
    const got = frames(other.far);
    const closed2 = closeOf(other.far);
    r2.fail(4409, "conflict", '{"type":"error","code":"conflict","message":"busy"}');
    expect(await closed2).toEqual({ code: 4409, reason: "conflict" });
    expect(got).toEqual([{ data: '{"type":"error","code":"conflict","message":"busy"}', binary: false }]);
  });

  it("maps close codes that cannot be sent", () => {
    expect(forwardableCloseCode(1000)).toBe(1000);
    expect(forwardableCloseCode(1005)).toBe(1000);
    expect(forwardableCloseCode(1006)).toBe(1011);
    expect(forwardableCloseCode(4409)).toBe(4409);
    expect(forwardableCloseCode(999)).toBe(1011);
  });
});
