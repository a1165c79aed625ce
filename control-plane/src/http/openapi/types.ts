import type { z } from "zod";
import type { Scope } from "../../auth/principal.js";

export type Method = "get" | "post" | "put" | "patch" | "delete" | "options";

/**
 * Who may call a route: `none` (public), `enrollment` (public; the one-time token is in the body), `bearer` (any
 * authenticated caller, optionally with an API token `scope`), `admin` (the admin role; API tokens need `admin`).
 */
export type Auth = "none" | "enrollment" | "bearer" | "admin";

export interface ErrorDoc {
  status: number;
  code: string;
  when: string;
}

/** One documented route. `path` is the Hono pattern (`/api/devices/:id`), exactly as registered. */
export interface RouteDoc {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  auth: Auth;
  scope?: Scope;
  description?: string;
  /** The zod schema the route validates its JSON body with. */
  body?: z.ZodType;
  /** The zod object schema the route validates its query string with. */
  query?: z.ZodType;
  /** Path parameters with a schema of their own (otherwise: a string). */
  params?: Record<string, z.ZodType>;
  response: { status: number; description: string; schema?: z.ZodType; contentType?: string };
  /** Other success statuses (e.g. 200 for an idempotent replay of a 201). */
  alsoSucceeds?: readonly { status: number; description: string }[];
  /** Route-specific errors; 400 (validation), 401 and 429 are added from the route's shape. */
  errors?: readonly ErrorDoc[];
}

export const err = (status: number, code: string, when: string): ErrorDoc => ({ status, code, when });
