// An answer produced while it is sent: the producer writes a chunk, and writes the next only
// when the client has taken enough (Readable.from asks for more as the socket drains), so a
// client that reads slowly or not at all holds a few chunks, not the whole answer. When the
// client goes away (or the server cuts it off) the stream is destroyed and the producer stops
// at its next pause. Piped here rather than by Koa, which reports a client that went away
// mid-answer as an error on stderr.
import type { Context } from "koa";
import type { Logger } from "pino";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SliceAborted, Slicer } from "../store/slices.ts";

/** Errors that only say the client went away before the end. */
const GONE = new Set(["ERR_STREAM_PREMATURE_CLOSE", "ERR_STREAM_DESTROYED", "ECONNRESET", "EPIPE"]);

/** Answers 200 with what `produce` writes (Content-Type and other headers set before). */
export function streamBody(ctx: Context, produce: (slicer: Slicer) => AsyncIterable<Buffer>, log: Logger): void {
  ctx.status = 200;
  ctx.respond = false;
  const res = ctx.res;
  if (ctx.method === "HEAD") {
    res.end();
    return;
  }
  const stop = new AbortController();
  // The stream closes when the answer ends, or when its client went away or was cut off.
  const stream = Readable.from(produce(new Slicer(stop.signal).share()), { objectMode: false });
  stream.once("close", () => stop.abort());
  pipeline(stream, res).catch((err: NodeJS.ErrnoException) => {
    if (err instanceof SliceAborted || GONE.has(err.code ?? "")) log.debug({ path: ctx.path, reason: err.message }, "client went away before the end of the answer");
    // The head is sent by then: the client sees the answer cut short, and the log says why.
    else log.error({ err, path: ctx.path }, "answer failed while being written");
  });
}
