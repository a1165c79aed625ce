import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { Hono } from "hono";
import { createLogger, currentRequestId, runWithLogContext } from "./log.js";
import { requestContext } from "./http/middleware/request-context.js";
import type { AppEnv } from "./http/app.js";
import { tempDb, testAppDeps } from "./testing/fixtures.js";

/** A logger writing JSON lines into an array. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString("utf8").split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger("info", stream), lines };
}

const SECRET_KEYS = ["password", "currentPassword", "newPassword", "accessToken", "refreshToken", "token", "secret", "jwtSecret", "adminToken"];

describe("logger", () => {
  it("censors secrets at the top level and one level deep", () => {
    const { log, lines } = capture();
    const secrets = Object.fromEntries(SECRET_KEYS.map((k) => [k, `s3cret-${k}`]));
    log.info({ ...secrets, email: "a@example.test" }, "top");
    log.info({ body: secrets, headers: { authorization: "Bearer abc.def.ghi", accept: "*/*" } }, "nested");
    log.info({ req: { headers: { authorization: "Bearer xyz" } } }, "request");
    const text = JSON.stringify(lines);
    expect(text).not.toContain("s3cret-");
    expect(text).not.toContain("abc.def.ghi");
    expect(text).not.toContain("Bearer xyz");
    for (const k of SECRET_KEYS) {
      expect(lines[0]![k]).toBe("[redacted]");
      expect((lines[1]!.body as Record<string, unknown>)[k]).toBe("[redacted]");
    }
    expect(lines[0]!.email).toBe("a@example.test");
    expect(lines[1]!.headers).toEqual({ authorization: "[redacted]", accept: "*/*" });
    expect(lines[2]!.req).toEqual({ headers: { authorization: "[redacted]" } });
  });

  it("adds the current request id to every line written inside its context, across awaits", async () => {
    const { log, lines } = capture();
    log.info("outside");
    await runWithLogContext({ requestId: "req-42" }, async () => {
      log.info("sync");
      await new Promise((r) => setTimeout(r, 5));
      log.info({ hostId: "h1" }, "after await");
      expect(currentRequestId()).toBe("req-42");
    });
    log.info({ requestId: "explicit" }, "explicit wins");
    expect(lines.map((l) => [l.msg, l.requestId])).toEqual([
      ["outside", undefined],
      ["sync", "req-42"],
      ["after await", "req-42"],
      ["explicit wins", "explicit"],
    ]);
    expect(currentRequestId()).toBeUndefined();
  });

  it("tags log lines written by any code handling an HTTP request with its X-Request-ID", async () => {
    const { db, cleanup } = tempDb();
    try {
      const { log, lines } = capture();
      const deps = testAppDeps(db, { log });
      const app = new Hono<AppEnv>();
      app.use("*", requestContext(deps));
      // Stands in for a route or module deep inside a request that logs without knowing the request id.
      app.get("/work", async (c) => {
        await new Promise((r) => setTimeout(r, 5));
        deps.log.warn({ deviceId: "d1" }, "deep in the request");
        return c.json({ ok: true });
      });
      const [a, b] = await Promise.all([
        app.request("/work", { headers: { "x-request-id": "req-a" } }),
        app.request("/work", { headers: { "x-request-id": "req-b" } }),
      ]);
      expect([a.status, b.status]).toEqual([200, 200]);
      const deep = lines.filter((l) => l.msg === "deep in the request").map((l) => l.requestId).sort();
      expect(deep).toEqual(["req-a", "req-b"]);
      const access = lines.filter((l) => l.msg === "http request").map((l) => l.requestId).sort();
      expect(access).toEqual(["req-a", "req-b"]);
    } finally {
      cleanup();
    }
  });
});
