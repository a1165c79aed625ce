import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { Transform, pipeline } from "node:stream";
import { TUNNEL_TOKEN_HEADER, tunnelPath, type TunnelRef } from "@cloudphone/shared-protocol";
import WebSocket from "ws";
import { RpcFailure, type TunnelClient } from "./types.js";

export interface TunnelClientOptions {
  /** The control plane's base URL (from enrollment). */
  controlPlaneUrl: string;
  /** Host credential: the host id and its MQTT password, sent as HTTP Basic. */
  username: string;
  password: string;
  /** Connection and response-header timeout. */
  connectTimeoutMs?: number;
}

/**
 * Opens the data connections RPC requests name, back to the control plane (agents only ever dial out). Bodies are
 * streamed with backpressure in both directions (node:http, pipeline): no file is ever held in memory.
 */
export class HttpTunnelClient implements TunnelClient {
  private readonly base: URL;
  private readonly auth: string;

  constructor(private readonly o: TunnelClientOptions) {
    this.base = new URL(o.controlPlaneUrl);
    this.auth = `Basic ${Buffer.from(`${o.username}:${o.password}`, "utf8").toString("base64")}`;
  }

  private url(ref: TunnelRef): URL {
    return new URL(tunnelPath(ref.id), this.base);
  }

  private headers(ref: TunnelRef): Record<string, string> {
    return { authorization: this.auth, [TUNNEL_TOKEN_HEADER]: ref.token };
  }

  private request(url: URL, options: http.RequestOptions): http.ClientRequest {
    const mod = url.protocol === "https:" ? https : http;
    const req = mod.request(url, options);
    req.setTimeout(this.o.connectTimeoutMs ?? 10_000, () => req.destroy(new Error(`tunnel ${url.pathname}: no answer in time`)));
    return req;
  }

  download(ref: TunnelRef, signal: AbortSignal): Promise<Readable> {
    const url = this.url(ref);
    return new Promise<Readable>((resolve, reject) => {
      const req = this.request(url, { method: "GET", headers: this.headers(ref), signal });
      req.on("error", (e) => reject(new RpcFailure("tunnel_failed", `tunnel download: ${e.message}`)));
      req.on("response", (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new RpcFailure("tunnel_failed", `tunnel download refused with HTTP ${res.statusCode}`));
          return;
        }
        // The body may take long; only connecting and the headers are bounded.
        req.setTimeout(0);
        const declared = res.headers["content-length"];
        const expected = declared !== undefined ? Number(declared) : null;
        let got = 0;
        // node:http may end a body cut short without an error: count it and fail the stream on a mismatch.
        const counted = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            got += chunk.length;
            cb(null, chunk);
          },
          flush(cb) {
            cb(expected !== null && got !== expected ? new Error(`tunnel download ended after ${got} of ${expected} bytes`) : null);
          },
        });
        res.on("aborted", () => res.destroy(new Error("tunnel download aborted by the control plane")));
        pipeline(res, counted, () => undefined); // errors surface on `counted`
        resolve(counted);
      });
      req.end();
    });
  }

  upload(ref: TunnelRef, body: Readable, signal: AbortSignal, meta: { contentType?: string; size?: number } = {}): Promise<number> {
    const url = this.url(ref);
    const headers: Record<string, string> = { ...this.headers(ref), "content-type": meta.contentType ?? "application/octet-stream" };
    if (meta.size !== undefined) headers["content-length"] = String(meta.size);
    return new Promise<number>((resolve, reject) => {
      const req = this.request(url, { method: "POST", headers, signal });
      let settled = false;
      const fail = (msg: string) => {
        if (settled) return;
        settled = true;
        body.destroy();
        req.destroy();
        reject(new RpcFailure("tunnel_failed", msg));
      };
      req.on("error", (e) => fail(`tunnel upload: ${e.message}`));
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.length < 64 && chunks.push(c));
        res.on("end", () => {
          if (res.statusCode !== 200) return fail(`tunnel upload refused with HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString("utf8").slice(0, 500)}`);
          try {
            const bytes = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { bytes?: unknown }).bytes;
            if (typeof bytes !== "number") throw new Error("no byte count");
            settled = true;
            resolve(bytes);
          } catch (e) {
            fail(`tunnel upload: unexpected answer (${(e as Error).message})`);
          }
        });
      });
      // The upload may take long (the user reads at their pace); the socket timeout applies while connecting only.
      req.on("socket", (s) => s.once("connect", () => req.setTimeout(0)));
      pipeline(body, req, (err) => {
        if (err) fail(`tunnel upload: ${err.message}`);
      });
    });
  }

  /**
   * The socket is handed over paused: frames the control plane sends right after the upgrade (even in the same TCP
   * segment as the 101) stay queued in the socket until the caller attaches its `message` or `close` listener,
   * however many ticks later that is (see `holdUntilTaken`).
   */
  duplex(ref: TunnelRef, signal: AbortSignal): Promise<WebSocket> {
    const url = this.url(ref);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: this.headers(ref), handshakeTimeout: this.o.connectTimeoutMs ?? 10_000 });
      const onAbort = () => ws.terminate();
      signal.addEventListener("abort", onAbort, { once: true });
      ws.once("open", () => {
        signal.removeEventListener("abort", onAbort);
        holdUntilTaken(ws);
        resolve(ws);
      });
      ws.once("unexpected-response", (_req, res) => {
        res.resume();
        reject(new RpcFailure("tunnel_failed", `tunnel WebSocket refused with HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.once("error", (e) => reject(new RpcFailure("tunnel_failed", `tunnel WebSocket: ${e.message}`)));
    });
  }
}

/**
 * Pauses a just-opened WebSocket and resumes it once its new owner attaches a `message` or `close` listener.
 * Without this, `open` resolves a promise whose continuation runs only after Node's nextTick queue, where ws
 * already emits the frames that came with (or right after) the 101, so they reach no listener and are lost.
 * Pausing inside the `open` handler is safe: ws unshifts those bytes onto the paused socket before emitting `open`,
 * and none has reached its frame parser yet. The resume waits one tick so that the owner's remaining synchronous
 * listener registrations (a constructor attaching `message`, `close`, `error`) are all in place first. An owner
 * that calls `resume()` itself is fine too.
 */
export function holdUntilTaken(ws: WebSocket): void {
  ws.pause();
  const onListener = (event: string | symbol) => {
    if (event !== "message" && event !== "close") return;
    ws.off("newListener", onListener);
    process.nextTick(() => ws.resume());
  };
  ws.on("newListener", onListener);
}
