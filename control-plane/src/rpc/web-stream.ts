import type { Readable } from "node:stream";

/**
 * A web ReadableStream over a node Readable that reads only as fast as the consumer pulls (backpressure), and
 * reports how it ended: `onEnd()` after the last chunk, `onEnd(err)` when the source failed or the consumer
 * cancelled (the source is then destroyed).
 */
export function toWebStream(source: Readable, onEnd: (err?: Error) => void): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  let ended = false;
  const end = (err?: Error) => {
    if (ended) return;
    ended = true;
    onEnd(err);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        try {
          const r = await it.next();
          if (r.done) {
            ctrl.close();
            end();
          } else {
            const chunk = typeof r.value === "string" ? Buffer.from(r.value) : r.value;
            ctrl.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          }
        } catch (e) {
          const err = e instanceof Error ? e : new Error(String(e));
          ctrl.error(err);
          end(err);
        }
      },
      cancel(reason) {
        source.destroy();
        end(reason instanceof Error ? reason : new Error(`the receiver closed the stream${reason ? `: ${String(reason)}` : ""}`));
      },
    },
    { highWaterMark: 0 },
  );
}
