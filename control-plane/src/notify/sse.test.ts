import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import { ErrorBody } from "@cloudphone/shared-protocol";
import { createApp, type AppDeps, type AppEnv } from "../http/app.js";
import { ApiError, errorBody } from "../http/errors.js";
import { registerNotificationRoutes } from "../http/routes-notify.js";
import { hashSecret } from "../hosts/secrets.js";
import { recordPlatformEvent } from "../platform/record.js";
import { createPlatformRelay, type PlatformRelay } from "../platform/relay.js";
import type { Db } from "../store/db.js";
import { silentLogger, tempDb, testAppDeps } from "../testing/fixtures.js";
import { Notifier, type DeliveredEvent } from "./notifier.js";
import { NotificationList } from "./schemas.js";

let db: Db;
let cleanup: () => void;
let deps: AppDeps;
let notifier: Notifier;
let relay: PlatformRelay;
let base: string;
const closers: (() => Promise<void> | void)[] = [];

/** A user with an API token inserted straight into the schema (the real auth middleware then authenticates it). */
function user(id: string, scopes: string[] = ["account:read"], role: "user" | "admin" = "user"): string {
  const now = Date.now();
  db.prepare("INSERT OR IGNORE INTO users (id, email, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)").run(id, `${id}@example.test`, role, now, now);
  const token = `cpt_${id}_${scopes.join("_").replace(/:/g, "-")}_0123456789abcdef`;
  db.prepare("INSERT INTO api_tokens (id, user_id, name, token_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(
    `tok-${id}-${scopes.length}-${Math.random().toString(36).slice(2, 8)}`, id, "test", hashSecret(token), JSON.stringify(scopes), now,
  );
  return token;
}

async function serve(fetch: (r: Request) => Response | Promise<Response>): Promise<string> {
  const server = createAdaptorServer({ fetch });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeEach(async () => {
  ({ db, cleanup } = tempDb());
  notifier = new Notifier();
  deps = testAppDeps(db, { notifier });
  relay = createPlatformRelay({ db, log: silentLogger(), bus: () => null, notifier, metrics: deps.metrics });
  base = await serve(createApp(deps).fetch);
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await relay.stop();
  cleanup();
});

interface Frame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** A minimal EventSource-style reader over a fetch body. */
function reader(body: ReadableStream<Uint8Array>) {
  const frames: Frame[] = [];
  const r = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let ended = false;
  const pump = (async () => {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await r.read();
      } catch {
        break;
      }
      if (chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const f: Frame = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) f.comment = line.slice(1).trim();
          else {
            const k = line.slice(0, line.indexOf(":"));
            const v = line.slice(line.indexOf(":") + 1).replace(/^ /, "");
            if (k === "id" || k === "event" || k === "data") f[k] = v;
          }
        }
        frames.push(f);
      }
    }
    ended = true;
  })();
  const events = () => frames.filter((f) => f.data !== undefined && f.event === undefined).map((f) => ({ sseId: f.id, ...(JSON.parse(f.data!) as DeliveredEvent) }));
  return {
    frames,
    events,
    ended: () => ended,
    async until(pred: () => boolean, ms = 3000) {
      const end = Date.now() + ms;
      while (!pred() && Date.now() < end) await new Promise((res) => setTimeout(res, 10));
      expect(pred()).toBe(true);
    },
    close: async () => {
      await r.cancel().catch(() => {});
      await pump;
    },
  };
}

async function open(path: string, headers: Record<string, string> = {}) {
  const ac = new AbortController();
  const res = await fetch(base + path, { headers: { accept: "text/event-stream", ...headers }, signal: ac.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const rd = reader(res.body!);
  closers.push(async () => {
    ac.abort();
    await rd.close();
  });
  return { ...rd, abort: () => ac.abort() };
}

const waitFor = async (pred: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  expect(pred()).toBe(true);
};

const event = (userId: string | null, name = "billing.low_balance", data: Record<string, unknown> = {}) => {
  const id = recordPlatformEvent(db, { name, userId, data });
  return (db.prepare("SELECT seq FROM platform_outbox WHERE id = ?").get(id) as { seq: number }).seq;
};

describe("GET /api/notifications/stream (SSE)", () => {
  it("sends a user their own events only, with id = outbox seq", async () => {
    const alice = user("alice");
    user("bob");
    const s = await open("/api/notifications/stream", { authorization: `Bearer ${alice}` });
    await waitFor(() => notifier.listenerCount === 1);
    const a1 = event("alice", "order.completed", { orderId: "o1" });
    event("bob");
    event(null, "alert.raised");
    const a2 = event("alice");
    await relay.tick();
    await s.until(() => s.events().length === 2);
    await new Promise((r) => setTimeout(r, 50));
    const got = s.events();
    expect(got.map((e) => e.seq)).toEqual([a1, a2]);
    expect(got.map((e) => e.sseId)).toEqual([String(a1), String(a2)]);
    expect(got[0]).toMatchObject({ name: "order.completed", userId: "alice", data: { orderId: "o1" } });
    expect(s.frames[0]!.comment).toBe("connected");
  });

  it("replays what was missed after Last-Event-ID, then goes live without duplicates", async () => {
    const alice = user("alice");
    const first = event("alice");
    const second = event("alice");
    event("bob");
    const third = event("alice");
    // The relay has not handed these rows out yet: they reach the stream both from the table and live.
    const s = await open("/api/notifications/stream", { authorization: `Bearer ${alice}`, "last-event-id": String(first) });
    await s.until(() => s.events().length === 2);
    await relay.tick();
    const fourth = event("alice");
    await relay.tick();
    await s.until(() => s.events().length === 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.events().map((e) => e.seq)).toEqual([second, third, fourth]);
  });

  it("accepts ?access_token= and ?since= for EventSource clients", async () => {
    const alice = user("alice");
    const first = event("alice");
    const second = event("alice");
    const s = await open(`/api/notifications/stream?since=${first}&access_token=${alice}`);
    await s.until(() => s.events().length === 1);
    expect(s.events()[0]!.seq).toBe(second);
    // Last-Event-ID (a reconnect) wins over ?since=.
    const t = await open(`/api/notifications/stream?since=0&access_token=${alice}`, { "last-event-id": String(second) });
    await t.until(() => t.frames.some((f) => f.comment === "connected"));
    await new Promise((r) => setTimeout(r, 50));
    expect(t.events()).toHaveLength(0);
  });

  it("removes its listener when the client disconnects", async () => {
    const alice = user("alice");
    const a = await open("/api/notifications/stream", { authorization: `Bearer ${alice}` });
    const b = await open("/api/notifications/stream", { authorization: `Bearer ${alice}` });
    await waitFor(() => notifier.listenerCount === 2);
    a.abort();
    await waitFor(() => notifier.listenerCount === 1);
    await b.close();
    await waitFor(() => notifier.listenerCount === 0);
    expect(deps.metrics).toBeDefined();
    expect(await deps.metrics.render()).toContain("cloudphone_notification_subscribers 0");
  });

  it("lets an admin see every user's events with ?all=true; a user asking for all is refused", async () => {
    const alice = user("alice");
    const s = await open("/api/notifications/stream?all=true", { authorization: `Bearer ${deps.adminToken}` });
    await waitFor(() => notifier.listenerCount === 1);
    const seqs = [event("alice"), event("bob"), event(null, "alert.raised")];
    await relay.tick();
    await s.until(() => s.events().length === 3);
    expect(s.events().map((e) => e.seq)).toEqual(seqs);

    const r = await fetch(`${base}/api/notifications/stream?all=true`, { headers: { accept: "text/event-stream", authorization: `Bearer ${alice}` } });
    expect(r.status).toBe(403);
    expect(ErrorBody.parse(await r.json()).error.code).toBe("forbidden");
  });

  it("refuses a token without account:read, a missing token, and a malformed Last-Event-ID", async () => {
    const narrow = user("carol", ["devices:read"]);
    const r1 = await fetch(`${base}/api/notifications/stream`, { headers: { accept: "text/event-stream", authorization: `Bearer ${narrow}` } });
    expect(r1.status).toBe(403);
    const r2 = await fetch(`${base}/api/notifications/stream`, { headers: { accept: "text/event-stream" } });
    expect(r2.status).toBe(401);
    const alice = user("alice");
    const r3 = await fetch(`${base}/api/notifications/stream`, { headers: { accept: "text/event-stream", authorization: `Bearer ${alice}`, "last-event-id": "abc" } });
    expect(r3.status).toBe(400);
    expect(ErrorBody.parse(await r3.json()).error.fields?.[0]?.path).toBe("headers.last-event-id");
    expect(notifier.listenerCount).toBe(0);
  });
});

/** The notification routes alone, behind a stand-in for the auth middleware, with short timings. */
function bareApp(options: Parameters<typeof registerNotificationRoutes>[2]) {
  const app = new Hono<AppEnv>();
  app.use("*", async (c, next) => {
    c.set("requestId", "test");
    c.set("principal", { userId: c.req.header("x-user") ?? "alice", role: "user", scopes: "all", via: "jwt" });
    await next();
  });
  registerNotificationRoutes(app, deps, options);
  app.onError((err, c) => (err instanceof ApiError ? c.json(errorBody(err.code, err.message, "test", err.fields), err.status) : c.text("boom", 500)));
  return app;
}

describe("notification stream behaviour", () => {
  it("sends a heartbeat comment when idle", async () => {
    const url = await serve(bareApp({ heartbeatMs: 40 }).fetch);
    const res = await fetch(`${url}/api/notifications/stream`, { headers: { accept: "text/event-stream" } });
    const s = reader(res.body!);
    closers.push(() => s.close());
    await s.until(() => s.frames.filter((f) => f.comment === "heartbeat").length >= 2);
    expect(s.frames.find((f) => f.comment === "connected")).toBeDefined();
  });

  it("closes a stream whose client does not read once its buffer overflows; the client resumes from Last-Event-ID", async () => {
    const app = bareApp({ maxQueue: 5, heartbeatMs: 60_000 });
    const res = await app.request("/api/notifications/stream", { headers: { accept: "text/event-stream" } });
    await waitFor(() => notifier.listenerCount === 1);
    // Not reading: the first write blocks, the rest queue up to the bound.
    for (let i = 0; i < 20; i++) event("alice");
    await relay.tick();
    const s = reader(res.body!);
    await s.until(() => s.ended());
    const overflow = s.frames.find((f) => f.event === "overflow");
    expect(overflow).toBeDefined();
    const delivered = s.events().map((e) => e.seq);
    expect(delivered.length).toBeGreaterThan(0);
    expect(delivered.length).toBeLessThan(20);
    expect(JSON.parse(overflow!.data!)).toEqual({ lastSeq: delivered.at(-1) });
    await waitFor(() => notifier.listenerCount === 0);
  });

  it("replays only the newest events beyond the bound and says so", async () => {
    const app = bareApp({ replayLimit: 3 });
    const seqs = Array.from({ length: 6 }, () => event("alice"));
    const res = await app.request("/api/notifications/stream?since=0", { headers: { accept: "text/event-stream" } });
    const s = reader(res.body!);
    closers.push(() => s.close());
    await s.until(() => s.events().length === 3);
    expect(s.events().map((e) => e.seq)).toEqual(seqs.slice(3));
    const truncated = s.frames.find((f) => f.event === "truncated");
    expect(JSON.parse(truncated!.data!)).toEqual({ since: 0, firstSeq: seqs[3] });
  });
});

describe("GET /api/notifications (JSON)", () => {
  it("pages a user's events forward from since, newest page without since", async () => {
    const alice = user("alice");
    const seqs = Array.from({ length: 5 }, (_, i) => event(i === 2 ? "bob" : "alice"));
    const mine = seqs.filter((_, i) => i !== 2);
    const get = async (q: string) => {
      const r = await fetch(`${base}/api/notifications${q}`, { headers: { authorization: `Bearer ${alice}` } });
      expect(r.status).toBe(200);
      return NotificationList.parse(await r.json());
    };
    const newest = await get("?limit=2");
    expect(newest.events.map((e) => e.seq)).toEqual(mine.slice(2));
    expect(newest.nextSince).toBe(mine[3]);
    const page1 = await get("?since=0&limit=3");
    expect(page1.events.map((e) => e.seq)).toEqual(mine.slice(0, 3));
    const page2 = await get(`?since=${page1.nextSince}&limit=3`);
    expect(page2.events.map((e) => e.seq)).toEqual(mine.slice(3));
    const empty = await get(`?since=${page2.nextSince}`);
    expect(empty).toEqual({ events: [], nextSince: page2.nextSince });
    const bad = await fetch(`${base}/api/notifications?limit=0`, { headers: { authorization: `Bearer ${alice}` } });
    expect(bad.status).toBe(400);
    expect(ErrorBody.parse(await bad.json()).error.fields?.[0]?.path).toBe("limit");
  });

  it("reports the platform outbox statistics to admins", async () => {
    event("alice");
    const r = await fetch(`${base}/api/platform/outbox/stats`, { headers: { authorization: `Bearer ${deps.adminToken}` } });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ pending: 1, published: 0, failed: 0 });
    const alice = user("alice");
    expect((await fetch(`${base}/api/platform/outbox/stats`, { headers: { authorization: `Bearer ${alice}` } })).status).toBe(403);
  });
});
