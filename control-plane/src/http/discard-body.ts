/**
 * Reads and throws away the rest of a request body the server refused (a 413 before any byte is used), for at most
 * `maxBytes` and `maxMs`. Answering while the client is still writing and then closing the connection makes many
 * clients fail with EPIPE/ECONNRESET instead of reading the answer; this is the "lingering close" web servers do.
 * Bounded, so a client declaring gigabytes costs at most that much reading before the connection closes anyway.
 */
export async function discardBody(body: ReadableStream<Uint8Array> | null, maxBytes = 32 * 1024 * 1024, maxMs = 3000): Promise<void> {
  if (!body) return;
  const reader = body.getReader();
  const deadline = Date.now() + maxMs;
  let read = 0;
  let timer: NodeJS.Timeout | undefined;
  try {
    while (read <= maxBytes) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), left)));
      const r = await Promise.race([reader.read(), timeout]);
      clearTimeout(timer);
      if (r === "timeout" || r.done) break;
      read += r.value.byteLength;
    }
  } catch {
    // the client went away: nothing left to discard
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => undefined);
  }
}
