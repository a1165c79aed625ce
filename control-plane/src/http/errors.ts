import type { ContentfulStatusCode } from "hono/utils/http-status";

export interface FieldError {
  path: string;
  message: string;
}

/** An error that becomes an `ErrorBody` response with this status and code. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly fields?: FieldError[],
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string, requestId: string | undefined, fields?: FieldError[]) {
  return { error: { code, message, ...(fields ? { fields } : {}) }, ...(requestId ? { requestId } : {}) };
}
