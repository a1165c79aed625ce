import { buildOpenApiDocument } from "./openapi/document.js";
import { ROUTE_DOCS } from "./openapi/routes.js";
import type { App, AppDeps } from "./app.js";

export const API_INFO = {
  title: "cloudphone control plane",
  version: "1",
  description:
    "HTTP API of the cloudphone control plane. JSON in and out; money in integer minor units; times in epoch ms. " +
    "Every error has the body `ErrorBody`; every response carries `X-Request-ID`. Generated from the zod schemas the routes validate with.",
};

/** `GET /api/openapi.json` (public): the OpenAPI 3.1 document, built once on first use. */
export function registerOpenApiRoutes(app: App, _deps: AppDeps): void {
  let doc: Record<string, unknown> | null = null;
  app.get("/api/openapi.json", (c) => {
    doc ??= buildOpenApiDocument(ROUTE_DOCS, API_INFO);
    return c.json(doc);
  });
}
