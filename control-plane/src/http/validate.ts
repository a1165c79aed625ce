import type { Context } from "hono";
import type { z } from "zod";
import { ApiError, type FieldError } from "./errors.js";

function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => {
    let path = i.path.map(String).join(".");
    if (i.code === "unrecognized_keys") path = [path, ...i.keys].filter(Boolean).join(".");
    return { path: path || "(body)", message: i.message };
  });
}

/** Validates `data` against `schema`; on failure a 400 `invalid_request` naming each field. */
export function validate<S extends z.ZodType>(schema: S, data: unknown, what = "request body"): z.output<S> {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const fields = fieldErrors(r.error);
  const summary = fields.slice(0, 5).map((f) => `${f.path}: ${f.message}`).join("; ");
  throw new ApiError(400, "invalid_request", `invalid ${what}: ${summary}`, fields);
}

/** Reads a JSON body (an empty body counts as `{}`), then validates it. */
export async function readJson<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
  let data: unknown = {};
  if (text.trim() !== "") {
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new ApiError(400, "invalid_json", `request body is not valid JSON: ${(e as Error).message}`);
    }
  }
  return validate(schema, data);
}
