import { z } from "zod";

/**
 * Text frames (JSON control messages) of the shell and logcat WebSockets; bytes of a shell go as binary frames and
 * log lines as plain text frames. Close codes above 4000 carry an HTTP-like status (`4000 + status`).
 */

/** Browser → shell: the terminal's new size. */
export const ShellControl = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("resize"), cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }),
]);
export type ShellControl = z.infer<typeof ShellControl>;

/** Parses a text frame from the browser; an error message naming the problem when it is not a control message. */
export function parseShellControl(text: string): { ok: true; msg: ShellControl } | { ok: false; error: string } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { ok: false, error: "text frames must be JSON control messages; send terminal input as binary frames" };
  }
  const r = ShellControl.safeParse(data);
  if (r.success) return { ok: true, msg: r.data };
  const issue = r.error.issues[0];
  return { ok: false, error: `invalid control message: ${issue ? `${issue.path.join(".") || "(message)"}: ${issue.message}` : "unknown"}` };
}

export const exitFrame = (code: number): string => JSON.stringify({ type: "exit", code });
export const errorFrame = (message: string): string => JSON.stringify({ type: "error", message });

export const CLOSE_NORMAL = 1000;
/** The device's stream broke (adbd or the transport went away). */
export const CLOSE_DEVICE_LOST = 1011;
/** No traffic either way for `shell.idleTimeoutMs`. */
export const CLOSE_IDLE = 4408;
/** The agent is shutting down. */
export const CLOSE_GOING_AWAY = 1001;

/** A close reason fits in 123 bytes (RFC 6455: 125 for the payload, 2 of which are the code). */
export function closeReason(text: string): string {
  const b = Buffer.from(text, "utf8");
  if (b.length <= 123) return text;
  // Cut on a character boundary.
  return new TextDecoder().decode(b.subarray(0, 120)).replace(/\uFFFD$/, "") + "...";
}
