import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Context } from "hono";
import type { App, AppEnv } from "./app.js";
import { ApiError } from "./errors.js";

/**
 * The viewer page (issue 5): static files served from `console/` next to this module's directory, i.e.
 * `dist/console/` in production (the build compiles `input-map.ts` there and copies the rest) and `src/console/`
 * under vitest. Only the files listed here are served, so no request path ever reaches the file system
 * (no traversal, no dotfiles, no source maps or declarations).
 *
 *   GET /            → 302 /console/
 *   GET /console     → 302 /console/
 *   GET /console/    → index.html
 *   GET /console/:f  → one of FILES
 *
 * These routes are outside /api/: public (no bearer), not rate limited, and not in the OpenAPI document (its test
 * compares only /api/ routes).
 */
export const CONSOLE_FILES: ReadonlyMap<string, string> = new Map([
  ["index.html", "text/html; charset=utf-8"],
  ["viewer.css", "text/css; charset=utf-8"],
  ["viewer.js", "text/javascript; charset=utf-8"],
  ["api.js", "text/javascript; charset=utf-8"],
  ["stream.js", "text/javascript; charset=utf-8"],
  ["input.js", "text/javascript; charset=utf-8"],
  ["input-map.js", "text/javascript; charset=utf-8"],
]);

/**
 * Same-origin scripts, styles and fetches only; no inline script or style, no framing. The video is a
 * MediaStream (srcObject), which needs no media-src; WebRTC media is not governed by connect-src.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": CONSOLE_CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  // The page is small and changes with releases: always revalidate rather than serve a stale viewer.
  "Cache-Control": "no-cache",
};

export interface ConsoleOptions {
  /** Directory holding the files (default: `../console/` relative to this module). */
  dir?: string;
}

export function registerConsoleRoutes(app: App, options: ConsoleOptions = {}): void {
  const dir = options.dir ?? fileURLToPath(new URL("../console/", import.meta.url));

  const serve = async (c: Context<AppEnv>, name: string) => {
    const type = CONSOLE_FILES.get(name);
    if (type === undefined) throw new ApiError(404, "not_found", `no console file ${JSON.stringify(name.slice(0, 100))}`);
    let body: Buffer;
    try {
      body = await readFile(`${dir}/${name}`);
    } catch {
      throw new ApiError(404, "not_found", `console file ${name} is missing from this build`);
    }
    return c.body(new Uint8Array(body), 200, { "Content-Type": type, ...SECURITY_HEADERS });
  };

  app.get("/", (c) => c.redirect("/console/", 302));
  app.get("/console", (c) => c.redirect("/console/", 302));
  app.get("/console/", (c) => serve(c, "index.html"));
  app.get("/console/:file", (c) => serve(c, c.req.param("file")));
}
