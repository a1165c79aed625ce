import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Hono } from "hono";
import { createApp, type App, type AppEnv } from "./app.js";
import type { Db } from "../store/db.js";
import { tempDb, testAppDeps } from "../testing/fixtures.js";
import { CONSOLE_CSP, CONSOLE_FILES, registerConsoleRoutes } from "./routes-console.js";
import { ROUTE_DOCS } from "./openapi/routes.js";
import { ApiError } from "./errors.js";

let db: Db;
let cleanup: () => void;
let app: App;
beforeEach(() => {
  ({ db, cleanup } = tempDb());
  app = createApp(testAppDeps(db));
});
afterEach(() => cleanup());

describe("viewer page routes", () => {
  it("redirects / and /console to /console/", async () => {
    for (const path of ["/", "/console"]) {
      const r = await app.request(path);
      expect(r.status, path).toBe(302);
      expect(r.headers.get("location"), path).toBe("/console/");
    }
  });

  it("serves the page without a token, with its content type, CSP and nosniff", async () => {
    const r = await app.request("/console/");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(r.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await r.text();
    expect(html).toContain('<script type="module" src="viewer.js"></script>');
    // The CSP forbids inline scripts and styles: the page must have none.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|<style/);
  });

  it("serves each script and the stylesheet the page refers to (source files under vitest)", async () => {
    for (const [name, type] of [["viewer.js", "text/javascript"], ["api.js", "text/javascript"], ["stream.js", "text/javascript"], ["input.js", "text/javascript"], ["viewer.css", "text/css"]] as const) {
      const r = await app.request(`/console/${name}`);
      expect(r.status, name).toBe(200);
      expect(r.headers.get("content-type"), name).toBe(`${type}; charset=utf-8`);
      expect((await r.text()).length, name).toBeGreaterThan(100);
    }
  });

  it("refuses anything outside the file list: traversal, encoded traversal, subpaths, dotfiles, sources", async () => {
    for (const path of ["/console/../package.json", "/console/..%2Fhttp%2Fapp.ts", "/console/%2e%2e%2fapp.ts", "/console/input-map.ts", "/console/input-map.test.ts",
      "/console/.env", "/console/x/viewer.js", "/console/viewer.js.map", "/console/VIEWER.JS"]) {
      const r = await app.request(path);
      expect(r.status, path).toBe(404);
      expect(r.headers.get("content-type"), path).toContain("application/json");
    }
  });

  it("reports a listed file missing from the build as 404, not 500", async () => {
    const dir = mkdtempSync(join(tmpdir(), "console-"));
    try {
      writeFileSync(join(dir, "index.html"), "<!doctype html><title>t</title>");
      const small = new Hono<AppEnv>();
      small.use("*", async (c, next) => {
        c.set("requestId", "r");
        await next();
      });
      small.onError((e, c) => c.json({ error: String(e) }, e instanceof ApiError ? e.status : 500));
      registerConsoleRoutes(small, { dir });
      expect((await small.request("/console/")).status).toBe(200);
      expect((await small.request("/console/viewer.js")).status).toBe(404);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lists only files that exist in the source tree (or that tsc emits from it)", async () => {
    const { existsSync } = await import("node:fs");
    const src = new URL("../console/", import.meta.url);
    for (const name of CONSOLE_FILES.keys()) {
      const emitted = name.replace(/\.js$/, ".ts");
      expect(existsSync(new URL(name, src)) || existsSync(new URL(emitted, src)), name).toBe(true);
    }
  });

  it("is not part of the API document (outside /api/)", () => {
    expect(ROUTE_DOCS.filter((r) => r.path === "/" || r.path.startsWith("/console"))).toEqual([]);
  });
});
