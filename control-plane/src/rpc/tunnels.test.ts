import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { createAdaptorServer } from "@hono/node-server";
import { TUNNEL_TOKEN_HEADER, tunnelPath, type TunnelRef } from "@cloudphone/shared-protocol";
import WebSocket from "ws";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../http/app.js";
import type { Db } from "../store/db.js";
import { enrollTestHost, tempDb, testAppDeps } from "../testing/fixtures.js";
import { Tunnels } from "./tunnels.js";
import { createWebSockets } from "./websocket.js";

let db: Db;
let cleanup: () => void;
let server: Server;
let base: string;
let tunnels: Tunnels;
let host: { hostId: string; password: string };
let other: { hostId: string; password: string };

beforeEach(async () => {
  ({ db, cleanup } = tempDb());
  host = enrollTestHost(db);
  other = enrollTestHost(db);
  tunnels = new Tunnels(300);
  const ws = createWebSockets();
  const app = createApp(testAppDeps(db, { tunnels, upgradeWebSocket: ws.upgradeWebSocket }));
  server = createAdaptorServer({ fetch: app.fetch }) as Server;
  ws.inject(server, app);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  cleanup();
});

const basic = (h: { hostId: string; password: string }) => `Basic ${Buffer.from(`${h.hostId}:${h.password}`).toString("base64")}`;
const headers = (ref: TunnelRef, h = host, token = ref.token) => ({ authorization: basic(h), [TUNNEL_TOKEN_HEADER]: token });

describe("tunnels", () => {
  it("download: streams the offered bytes once to the right host, with Content-Length; then it is gone", async () => {
    const { ref, done } = tunnels.offerDownload(host.hostId, Readable.from([Buffer.from("hello "), Buffer.from("world")]), 11);
    expect(ref.mode).toBe("download");
    expect(tunnels.openCount()).toBe(1);
    // Wrong token: refused, and the tunnel stays usable.
    expect((await fetch(base + tunnelPath(ref.id), { headers: headers(ref, host, "x".repeat(43)) })).status).toBe(403);
    // Another host's credential: like an unknown tunnel.
    expect((await fetch(base + tunnelPath(ref.id), { headers: headers(ref, other) })).status).toBe(404);
    // No credential at all.
    expect((await fetch(base + tunnelPath(ref.id), { headers: { [TUNNEL_TOKEN_HEADER]: ref.token } })).status).toBe(401);
    // Wrong mode.
    expect((await fetch(base + tunnelPath(ref.id), { method: "POST", headers: headers(ref), body: "x" })).status).toBe(409);

    const r = await fetch(base + tunnelPath(ref.id), { headers: headers(ref) });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-length")).toBe("11");
    expect(await r.text()).toBe("hello world");
    await done;
    expect(tunnels.openCount()).toBe(0);
    expect((await fetch(base + tunnelPath(ref.id), { headers: headers(ref) })).status).toBe(404);
  });

  it("a second connection while the first streams is refused with 409", async () => {
    const source = new Readable({ read() {} });
    const { ref } = tunnels.offerDownload(host.hostId, source, null);
    const first = await fetch(base + tunnelPath(ref.id), { headers: headers(ref) });
    expect(first.status).toBe(200);
    expect((await fetch(base + tunnelPath(ref.id), { headers: headers(ref) })).status).toBe(409);
    source.push("end");
    source.push(null);
    expect(await first.text()).toBe("end");
    expect(tunnels.openCount()).toBe(0);
  });

  it("upload: the body reaches the waiting side as a stream; the agent hears the byte count once it was consumed", async () => {
    const { ref, body } = tunnels.expectUpload(host.hostId);
    const posted = fetch(base + tunnelPath(ref.id), { method: "POST", headers: { ...headers(ref), "content-type": "image/png" }, body: "x".repeat(100_000) });
    const b = await body;
    expect(b).toMatchObject({ size: 100_000, contentType: "image/png" });
    expect((await text(b.stream)).length).toBe(100_000);
    const r = await posted;
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ bytes: 100_000 });
    expect(tunnels.openCount()).toBe(0);
  });

  it("expires when the agent does not come, rejecting the waiting side; openCount returns to 0", async () => {
    const up = tunnels.expectUpload(host.hostId);
    const down = tunnels.offerDownload(host.hostId, Readable.from(["x"]), 1);
    const dup = tunnels.expectDuplex(host.hostId);
    expect(tunnels.openCount()).toBe(3);
    await expect(up.body).rejects.toThrow(/did not open tunnel/);
    await expect(down.done).rejects.toThrow(/did not open tunnel/);
    await expect(dup.socket).rejects.toThrow(/did not open tunnel/);
    expect(tunnels.openCount()).toBe(0);
    expect((await fetch(base + tunnelPath(up.ref.id), { method: "POST", headers: headers(up.ref), body: "x" })).status).toBe(404);
  });

  it("cancel gives up on a waiting tunnel", async () => {
    const { ref, body } = tunnels.expectUpload(host.hostId);
    tunnels.cancel(ref.id, "rpc failed");
    await expect(body).rejects.toThrow("rpc failed");
    expect(tunnels.openCount()).toBe(0);
  });

  it("duplex: a real ws client connects through the route; messages flow both ways; closing frees the tunnel", async () => {
    const { ref, socket } = tunnels.expectDuplex(host.hostId);
    const url = (base + tunnelPath(ref.id)).replace("http:", "ws:");
    // Wrong token: the upgrade is refused with 403.
    const refused = await new Promise<number>((resolve) => {
      const bad = new WebSocket(url, { headers: headers(ref, host, "y".repeat(43)) });
      bad.on("unexpected-response", (_q, res) => resolve(res.statusCode ?? 0));
      bad.on("error", () => undefined);
    });
    expect(refused).toBe(403);

    const agent = new WebSocket(url, { headers: headers(ref) });
    await new Promise((r, j) => {
      agent.once("open", r);
      agent.once("error", j);
    });
    const cp = await socket;
    const atCp = new Promise<string>((r) => cp.once("message", (d) => r(d.toString())));
    agent.send("from agent");
    expect(await atCp).toBe("from agent");
    const atAgent = new Promise<string>((r) => agent.once("message", (d) => r(d.toString())));
    cp.send("from control plane");
    expect(await atAgent).toBe("from control plane");
    expect(tunnels.openCount()).toBe(1);
    agent.close();
    await new Promise((r) => cp.once("close", r));
    expect(tunnels.openCount()).toBe(0);
  });
});
