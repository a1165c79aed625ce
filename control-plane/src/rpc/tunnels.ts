import { createHash, timingSafeEqual } from "node:crypto";
import type { Readable } from "node:stream";
import { newId, newSecret, type TunnelRef } from "@cloudphone/shared-protocol";
import type WebSocket from "ws";
import type { TunnelBroker } from "./types.js";

export type TunnelMode = TunnelRef["mode"];

/** What a route gets when it claims a tunnel for an agent's connection. */
export type Claimed =
  | { kind: "download"; source: Readable; size: number | null; finish: (err?: Error) => void }
  | { kind: "upload"; accept: (stream: Readable, size: number | null, contentType: string | null) => void }
  | { kind: "duplex"; accept: (socket: WebSocket) => void; fail: (err: Error) => void };

export type ClaimRefusal = { status: 403 | 404 | 409; code: string; message: string };

interface Entry {
  id: string;
  hostId: string;
  tokenDigest: Buffer;
  mode: TunnelMode;
  state: "waiting" | "streaming";
  timer: NodeJS.Timeout;
  claim: () => Claimed;
  /** Ends the tunnel with an error (expiry, or a caller giving up). */
  fail: (err: Error) => void;
}

export class TunnelExpiredError extends Error {
  constructor(id: string, ttlMs: number) {
    super(`the agent did not open tunnel ${id} within ${ttlMs} ms`);
    this.name = "TunnelExpiredError";
  }
}

const digest = (token: string): Buffer => createHash("sha256").update(token, "utf8").digest();

/**
 * One-time data connections agents open back to the control plane. Each tunnel has a random token (only its
 * SHA-256 is kept; compared in constant time), is bound to one host, expires when the agent has not come within
 * its TTL, and is consumed by the first valid connection. A tunnel counts as open from its creation until its
 * data has been handed over (download: sent; upload: the body stream ended; duplex: the socket closed).
 */
export class Tunnels implements TunnelBroker {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly defaultTtlMs = 10_000) {}

  openCount(): number {
    return this.entries.size;
  }

  private create(hostId: string, mode: TunnelMode, ttlMs: number, claim: () => Claimed, onFail: (err: Error) => void): TunnelRef {
    const id = newId();
    const token = newSecret(32);
    const entry: Entry = {
      id,
      hostId,
      tokenDigest: digest(token),
      mode,
      state: "waiting",
      claim,
      fail: (err) => {
        this.entries.delete(id);
        clearTimeout(entry.timer);
        onFail(err);
      },
      timer: setTimeout(() => {
        // Expiry concerns only a tunnel nobody connected to; a streaming one ends with its data.
        if (entry.state === "waiting") entry.fail(new TunnelExpiredError(id, ttlMs));
      }, ttlMs),
    };
    entry.timer.unref();
    this.entries.set(id, entry);
    return { id, token, mode };
  }

  private done(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    clearTimeout(e.timer);
    this.entries.delete(id);
  }

  offerDownload(hostId: string, source: Readable, size: number | null, opts: { ttlMs?: number } = {}): { ref: TunnelRef; done: Promise<void> } {
    let resolveDone!: () => void;
    let rejectDone!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolveDone = res;
      rejectDone = rej;
    });
    done.catch(() => undefined); // callers may ignore it; the RPC answer says what happened
    const ref = this.create(
      hostId,
      "download",
      opts.ttlMs ?? this.defaultTtlMs,
      () => ({
        kind: "download",
        source,
        size,
        finish: (err) => {
          this.done(ref.id);
          if (err) rejectDone(err);
          else resolveDone();
        },
      }),
      (err) => {
        source.destroy();
        rejectDone(err);
      },
    );
    return { ref, done };
  }

  expectUpload(hostId: string, opts: { ttlMs?: number } = {}): { ref: TunnelRef; body: Promise<{ stream: Readable; size: number | null; contentType: string | null }> } {
    let resolveBody!: (b: { stream: Readable; size: number | null; contentType: string | null }) => void;
    let rejectBody!: (e: Error) => void;
    const body = new Promise<{ stream: Readable; size: number | null; contentType: string | null }>((res, rej) => {
      resolveBody = res;
      rejectBody = rej;
    });
    body.catch(() => undefined);
    const ref = this.create(
      hostId,
      "upload",
      opts.ttlMs ?? this.defaultTtlMs,
      () => ({
        kind: "upload",
        accept: (stream, size, contentType) => {
          // Open until the body has been read to its end (or failed).
          stream.once("close", () => this.done(ref.id));
          resolveBody({ stream, size, contentType });
        },
      }),
      rejectBody,
    );
    return { ref, body };
  }

  expectDuplex(hostId: string, opts: { ttlMs?: number } = {}): { ref: TunnelRef; socket: Promise<WebSocket> } {
    let resolveSocket!: (s: WebSocket) => void;
    let rejectSocket!: (e: Error) => void;
    const socket = new Promise<WebSocket>((res, rej) => {
      resolveSocket = res;
      rejectSocket = rej;
    });
    socket.catch(() => undefined);
    const ref = this.create(
      hostId,
      "duplex",
      opts.ttlMs ?? this.defaultTtlMs,
      () => ({
        kind: "duplex",
        accept: (ws) => {
          ws.once("close", () => this.done(ref.id));
          resolveSocket(ws);
        },
        fail: (err) => {
          this.done(ref.id);
          rejectSocket(err);
        },
      }),
      rejectSocket,
    );
    return { ref, socket };
  }

  /** Gives up on a tunnel the agent has not connected to yet (e.g. the RPC failed); a no-op otherwise. */
  cancel(id: string, reason = "cancelled"): void {
    const e = this.entries.get(id);
    if (e?.state === "waiting") e.fail(new Error(reason));
  }

  /**
   * The agent's connection for tunnel `id`: bound to `hostId` (another host's → 404, like an unknown one), the
   * token compared in constant time (403; the tunnel stays usable for its rightful owner), the mode checked, and
   * consumed: a second connection → 409.
   */
  claim(id: string, hostId: string, token: string | undefined, mode: TunnelMode): Claimed | ClaimRefusal {
    const e = this.entries.get(id);
    if (!e || e.hostId !== hostId) return { status: 404, code: "tunnel_not_found", message: `no open tunnel ${id} for this host (unknown, expired or finished)` };
    if (token === undefined || !timingSafeEqual(digest(token), e.tokenDigest)) {
      return { status: 403, code: "invalid_tunnel_token", message: "missing or wrong X-Tunnel-Token" };
    }
    if (e.state !== "waiting") return { status: 409, code: "tunnel_used", message: `tunnel ${id} was already used` };
    if (e.mode !== mode) return { status: 409, code: "tunnel_mode_mismatch", message: `tunnel ${id} is a ${e.mode} tunnel` };
    e.state = "streaming";
    return e.claim();
  }
}
