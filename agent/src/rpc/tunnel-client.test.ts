import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { TUNNEL_TOKEN_HEADER, tunnelPath, type TunnelRef } from "@cloudphone/shared-protocol";
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { WebSocketServer } from "ws";
import { HttpTunnelClient } from "./tunnel-client.js";
import { RpcFailure } from "./types.js";

// Real sockets on loopback: a raw HTTP server that answers the upgrade and the first frames in ONE write (the worst
// case: the frames arrive in the same TCP segment as the 101), and a real ws server.

const REF: TunnelRef = { id: "tunnel-0001", token: "t".repeat(40), mode: "duplex" };
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** An unmasked server frame (payloads < 126 bytes). */
function frame(opcode: 0x1 | 0x2 | 0x8, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function client(url: string): HttpTunnelClient {
  return new HttpTunnelClient({ controlPlaneUrl: url, username: "host-1", password: "secret", connectTimeoutMs: 2000 });
}

function collect(ws: WebSocket): { data: string; binary: boolean }[] {
  const got: { data: string; binary: boolean }[] = [];
  ws.on("message", (d: WebSocket.RawData, binary: boolean) => got.push({ data: (d as Buffer).toString("utf8"), binary }));
  return got;
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await sleep(5);
  }
}

describe("HttpTunnelClient.duplex", () => {
  it("keeps frames that arrive in the same segment as the 101 until the owner listens, in order", async () => {
    const seen: { path?: string; token?: string; auth?: string } = {};
    const sockets: Duplex[] = [];
    const server = http.createServer();
    server.on("upgrade", (req, socket: Duplex) => {
      sockets.push(socket);
      seen.path = req.url;
      seen.token = req.headers[TUNNEL_TOKEN_HEADER] as string;
      seen.auth = req.headers.authorization;
      const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}${WS_GUID}`).digest("base64");
      const head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
      socket.write(Buffer.concat([Buffer.from(head), frame(0x1, Buffer.from("first")), frame(0x2, Buffer.from("second")), frame(0x1, Buffer.from("third"))]));
    });
    const url = await listen(server);
    closers.push(async () => sockets.forEach((s) => s.destroy()));

    const ws = await client(url).duplex(REF, new AbortController().signal);
    closers.push(async () => ws.terminate());
    // The owner takes the socket well after the frames came in (the RPC handler awaits other things first).
    await sleep(100);
    const got = collect(ws);
    await until(() => got.length === 3);
    expect(got).toEqual([
      { data: "first", binary: false },
      { data: "second", binary: true },
      { data: "third", binary: false },
    ]);
    expect(seen).toEqual({ path: tunnelPath(REF.id), token: REF.token, auth: `Basic ${Buffer.from("host-1:secret").toString("base64")}` });
  });

  it("hands a frame sent right on connection to a message listener attached after the promise resolved", async () => {
    const wss = new WebSocketServer({ noServer: true });
    const server = http.createServer();
    server.on("upgrade", (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (peer) => {
        peer.send("hello");
        peer.send(Buffer.from([1, 2, 3]));
      }),
    );
    closers.push(async () => wss.clients.forEach((c) => c.terminate()));
    const url = await listen(server);

    const ws = await client(url).duplex(REF, new AbortController().signal);
    closers.push(async () => ws.terminate());
    await sleep(50);
    const got = collect(ws);
    await until(() => got.length === 2);
    expect(got[0]).toEqual({ data: "hello", binary: false });
    expect(got[1]!.binary).toBe(true);
  });

  it("resumes for an owner that only listens for close (logcat ignores input) and sees the peer's close", async () => {
    const wss = new WebSocketServer({ noServer: true });
    const server = http.createServer();
    server.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, (peer) => peer.close(4001, "bye")));
    const url = await listen(server);

    const ws = await client(url).duplex(REF, new AbortController().signal);
    await sleep(50);
    const closed = new Promise<[number, string]>((r) => ws.on("close", (code: number, reason: Buffer) => r([code, reason.toString()])));
    expect(await closed).toEqual([4001, "bye"]);
  });

  it("fails with tunnel_failed when the control plane refuses the upgrade", async () => {
    const server = http.createServer((_req, res) => res.writeHead(403).end("no"));
    const url = await listen(server);
    const err = await client(url)
      .duplex(REF, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcFailure);
    expect((err as RpcFailure).code).toBe("tunnel_failed");
    expect((err as RpcFailure).message).toContain("403");
  });
});
