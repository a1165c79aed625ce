import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createApp, type App } from "../app.js";
import type { Db } from "../../store/db.js";
import { tempDb, testAppDeps } from "../../testing/fixtures.js";
import { ROUTE_DOCS } from "./routes.js";
import type { RouteDoc } from "./types.js";

// Every documented route that takes a JSON body or a query string is called, as the admin, with input its schema
// refuses: the answer must be a 400 whose `fields` name the offending field, and nothing may be written.

let db: Db;
let cleanup: () => void;
let app: App;
let admin: string;
beforeEach(() => {
  ({ db, cleanup } = tempDb());
  const deps = testAppDeps(db);
  admin = deps.adminToken;
  app = createApp(deps);
});

afterEach(() => cleanup());

const concretePath = (r: RouteDoc) => r.path.replace(/:([A-Za-z]+)/g, "00000000000000000000000000");
const BOGUS = "definitelyNotAField";

/** Row counts of every table, to show a refused request wrote nothing. */
function snapshot(): Record<string, number> {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[];
  return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT COUNT(*) FROM "${t}"`).pluck().get() as number]));
}

interface ErrorReply {
  error: { code: string; message: string; fields?: { path: string; message: string }[] };
}

async function send(r: RouteDoc, init: { body?: string; query?: string }): Promise<{ status: number; body: ErrorReply }> {
  const res = await app.request(`${concretePath(r)}${init.query ?? ""}`, {
    method: r.method.toUpperCase(),
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  return { status: res.status, body: (await res.json()) as ErrorReply };
}

/** A JSON-schema-ish look at the zod object: is it strict (unknown keys refused)? */
const isStrictObject = (s: z.ZodType) => {
  const json = z.toJSONSchema(s, { io: "input", unrepresentable: "any" }) as { type?: string; additionalProperties?: unknown };
  return json.type === "object" && json.additionalProperties === false;
};

describe("bad input on every route", () => {
  const withBody = ROUTE_DOCS.filter((r) => r.body !== undefined && r.auth !== "enrollment");

  it("a body with an unknown field is a 400 naming that field, and writes nothing", async () => {
    const checked: string[] = [];
    const wrong: string[] = [];
    for (const r of withBody.filter((x) => isStrictObject(x.body!))) {
      const before = snapshot();
      const res = await send(r, { body: JSON.stringify({ [BOGUS]: 1 }) });
      const named = res.body.error.fields?.some((f) => f.path.includes(BOGUS)) ?? false;
      if (res.status !== 400 || res.body.error.code !== "invalid_request" || !named) wrong.push(`${r.method} ${r.path}: ${res.status} ${res.body.error.code}`);
      expect(snapshot(), `${r.method} ${r.path} wrote something`).toEqual(before);
      checked.push(`${r.method} ${r.path}`);
    }
    expect(wrong).toEqual([]);
    expect(checked.length).toBeGreaterThan(15);
  });

  it("a body that is not JSON is a 400 invalid_json", async () => {
    const wrong: string[] = [];
    for (const r of withBody) {
      const res = await send(r, { body: "{not json" });
      if (res.status !== 400 || res.body.error.code !== "invalid_json") wrong.push(`${r.method} ${r.path}: ${res.status} ${res.body.error.code}`);
    }
    expect(wrong).toEqual([]);
  });

  it("a body of the wrong type is a 400 invalid_request", async () => {
    const wrong: string[] = [];
    for (const r of withBody) {
      const res = await send(r, { body: "[1,2,3]" });
      if (res.status !== 400 || res.body.error.code !== "invalid_request") wrong.push(`${r.method} ${r.path}: ${res.status} ${res.body.error.code}`);
    }
    expect(wrong).toEqual([]);
  });

  it("a query parameter out of range is a 400 naming it", async () => {
    const checked: string[] = [];
    for (const r of ROUTE_DOCS.filter((x) => x.query !== undefined && x.method === "get")) {
      const json = z.toJSONSchema(r.query!, { io: "input", unrepresentable: "any" }) as { properties?: Record<string, { type?: string }> };
      const numeric = Object.entries(json.properties ?? {}).find(([, p]) => p.type === "number" || p.type === "integer");
      if (!numeric) continue;
      const res = await send(r, { query: `?${numeric[0]}=-99999999999` });
      expect(res.status, `${r.method} ${r.path}`).toBe(400);
      expect(res.body.error.fields?.map((f) => f.path), `${r.method} ${r.path}`).toContain(numeric[0]);
      checked.push(`${r.method} ${r.path}`);
    }
    expect(checked.length).toBeGreaterThan(3);
  });
});
