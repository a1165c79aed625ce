import { z } from "zod";
import { ErrorBody } from "@cloudphone/shared-protocol";
import type { ErrorDoc, RouteDoc } from "./types.js";

type Json = Record<string, unknown>;

/** JSON Schema 2020-12 (what OpenAPI 3.1 uses) of a zod schema, without the `$schema` marker. */
export function jsonSchema(schema: z.ZodType, io: "input" | "output"): Json {
  const s = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Json;
  delete s.$schema;
  return io === "output" ? openObjects(s) : s;
}

/** Responses may grow fields: drop the `additionalProperties: false` that zod's output mode emits for objects. */
function openObjects(v: Json): Json {
  const out: Json = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "additionalProperties" && x === false) continue;
    if (Array.isArray(x)) out[k] = x.map((i) => (i && typeof i === "object" ? openObjects(i as Json) : i));
    else out[k] = x && typeof x === "object" ? openObjects(x as Json) : x;
  }
  return out;
}

/** `/api/devices/:id` → `/api/devices/{id}`. */
export const openApiPath = (honoPath: string): string => honoPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
const pathParams = (honoPath: string): string[] => [...honoPath.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);

const AUTH_TEXT: Record<RouteDoc["auth"], string> = {
  none: "Public.",
  enrollment: "Public: the one-time enrollment token is part of the body.",
  bearer: "Any authenticated caller (JWT access token, API token or the admin token).",
  admin: "Admin role (API tokens also need the `admin` scope).",
};

function errorsOf(r: RouteDoc): ErrorDoc[] {
  const e: ErrorDoc[] = [];
  if (r.body) {
    e.push({ status: 400, code: "invalid_json", when: "the body is not JSON" });
    e.push({ status: 400, code: "invalid_request", when: "the body fails validation (`fields` names each offending path)" });
  } else if (r.query || r.params) {
    e.push({ status: 400, code: "invalid_request", when: "the query or path fails validation (`fields` names each parameter)" });
  }
  if (r.auth === "bearer" || r.auth === "admin") {
    e.push({ status: 401, code: "unauthorized", when: "no bearer token" });
    e.push({ status: 401, code: "invalid_token", when: "unknown, forged, revoked or stale token (`token_expired` when expired)" });
    if (r.scope) e.push({ status: 403, code: "insufficient_scope", when: `an API token without \`${r.scope}\`` });
    if (r.auth === "admin") e.push({ status: 403, code: "forbidden", when: "the caller is not an admin" });
    e.push({ status: 429, code: "rate_limited", when: "over the per-user request budget (`Retry-After`)" });
  }
  return [...e, ...(r.errors ?? [])];
}

/** `get` + `/api/devices/:id/events` → `getApiDevicesByIdEvents`: unique per method and path. */
export function operationId(r: Pick<RouteDoc, "method" | "path">): string {
  const words = r.path
    .split("/")
    .filter(Boolean)
    .flatMap((seg) => (seg.startsWith(":") ? ["by", ...seg.slice(1).split(/[^A-Za-z0-9]+/)] : seg.split(/[^A-Za-z0-9]+/)))
    .filter(Boolean);
  return r.method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
}

function operation(r: RouteDoc): Json {
  const parameters: Json[] = pathParams(r.path).map((name) => ({
    name,
    in: "path",
    required: true,
    schema: r.params?.[name] ? jsonSchema(r.params[name], "input") : { type: "string" },
  }));
  if (r.query) {
    const q = jsonSchema(r.query, "input");
    const required = new Set((q.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries((q.properties as Record<string, Json> | undefined) ?? {})) {
      const { description, ...rest } = schema;
      parameters.push({ name, in: "query", required: required.has(name), schema: rest, ...(description ? { description } : {}) });
    }
  }
  const responses: Json = {};
  const ok = r.response;
  responses[String(ok.status)] = {
    description: ok.description,
    ...(ok.schema || ok.contentType
      ? { content: { [ok.contentType ?? "application/json"]: ok.schema ? { schema: jsonSchema(ok.schema, "output") } : {} } }
      : {}),
  };
  for (const s of r.alsoSucceeds ?? []) responses[String(s.status)] = { description: s.description };
  const byStatus = new Map<number, ErrorDoc[]>();
  for (const e of errorsOf(r)) byStatus.set(e.status, [...(byStatus.get(e.status) ?? []), e]);
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    responses[String(status)] = {
      description: list.map((e) => `\`${e.code}\`: ${e.when}`).join("; "),
      content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorBody" } } },
    };
  }
  const authText = AUTH_TEXT[r.auth] + (r.scope ? ` API tokens need the \`${r.scope}\` scope.` : "");
  return {
    operationId: operationId(r),
    summary: r.summary,
    description: [r.description, authText].filter(Boolean).join("\n\n"),
    tags: [r.tag],
    security: r.auth === "bearer" || r.auth === "admin" ? [{ bearerAuth: [] }] : [],
    ...(parameters.length ? { parameters } : {}),
    ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(r.body, "input") } } } } : {}),
    responses,
    ...(r.scope ? { "x-required-scope": r.scope } : {}),
    ...(r.auth === "admin" ? { "x-required-role": "admin" } : {}),
  };
}

export interface DocumentInfo {
  title: string;
  version: string;
  description: string;
}

/** The OpenAPI 3.1 document of `routes`. Pure: the same list always gives the same document. */
export function buildOpenApiDocument(routes: readonly RouteDoc[], info: DocumentInfo): Json {
  const paths: Record<string, Json> = {};
  for (const r of routes) {
    const p = openApiPath(r.path);
    paths[p] ??= {};
    if (paths[p][r.method]) throw new Error(`route documented twice: ${r.method.toUpperCase()} ${r.path}`);
    paths[p][r.method] = operation(r);
  }
  const tags = [...new Set(routes.map((r) => r.tag))].map((name) => ({ name }));
  return {
    openapi: "3.1.0",
    info,
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    servers: [{ url: "/" }],
    tags,
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description:
            "A JWT access token (POST /api/auth/login), an API token (`cpt_…`, POST /api/me/tokens) or the control plane's admin token. " +
            "For `GET` with `Accept: text/event-stream` the token may instead be given as `?access_token=` (EventSource cannot set headers).",
        },
      },
      schemas: { ErrorBody: jsonSchema(ErrorBody, "output") },
    },
  };
}
