// Reads a request body as raw bytes, whatever its Content-Type (or none, with chunked
// transfer), decompresses it by Content-Encoding, and enforces two limits: the bytes on the
// wire and the bytes after decompression. Over either limit the answer is 413 and nothing
// of the body is used.
import type { IncomingMessage } from "node:http";
import { gunzip } from "node:zlib";
import { BackpressureError, HttpError } from "./errors.ts";
import { SnappyTooLarge, decodeSnappyFramed } from "./snappy-framed.ts";

export interface BodyLimits {
  /** The request's share of a MemoryBudget, if the caller keeps one. */
  reservation?: Reservation;
  /** Largest body accepted on the wire, in bytes (the max_body_bytes option). */
  maxBodyBytes: number;
  /** Largest body accepted after decompression, in bytes (the max_decompressed_bytes option). */
  maxDecompressedBytes: number;
}

export type Decoder = (body: Buffer, maxOutput: number) => Promise<Buffer>;

/**
 * Bytes of request bodies held at once, across requests: raw as they arrive and decompressed.
 * Over the budget a request is refused with 503 (nothing of it is kept), so many concurrent
 * large pushes cannot grow memory without bound. One request alone is always let through.
 */
export class MemoryBudget {
  used = 0;

  constructor(
    readonly limit: number,
    private readonly option: string,
  ) {}

  /** A request's share of the budget; release() it when the request is done. */
  reserve(): Reservation {
    let held = 0;
    return {
      take: (n: number) => {
        if (this.used > held && this.used + n > this.limit) {
          throw new BackpressureError(`pushes in flight hold ${this.used} bytes, the limit is ${this.limit} (${this.option}); nothing of this push was accepted, retry later`, 1);
        }
        this.used += n;
        held += n;
      },
      release: () => {
        this.used -= held;
        held = 0;
      },
    };
  }
}

export interface Reservation {
  /** Counts n more bytes; throws a 503 BackpressureError when over budget. */
  take(n: number): void;
  release(): void;
}

const decoders: Record<string, Decoder> = {
  gzip: (body, maxOutput) =>
    new Promise((resolve, reject) => {
      gunzip(body, { maxOutputLength: maxOutput }, (err, out) => {
        if (!err) return resolve(out);
        if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") return reject(tooLargeDecompressed(maxOutput));
        reject(new HttpError(400, `cannot decompress gzip body: ${err.message}`));
      });
    }),
  // Framed snappy, as Prometheus clients send it (not the raw block format of remote write).
  snappy: async (body, maxOutput) => {
    try {
      return decodeSnappyFramed(body, maxOutput);
    } catch (e) {
      if (e instanceof SnappyTooLarge) throw tooLargeDecompressed(maxOutput);
      throw new HttpError(400, `cannot decompress snappy body: ${(e as Error).message}`);
    }
  },
};

/** Lets an input add a Content-Encoding (e.g. snappy) without the host knowing it. */
export function registerDecoder(encoding: string, decoder: Decoder): void {
  decoders[encoding.toLowerCase()] = decoder;
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, `request body exceeds the limit of ${limit} bytes (max_body_bytes)`);
}

function tooLargeDecompressed(limit: number): HttpError {
  return new HttpError(413, `decompressed request body exceeds the limit of ${limit} bytes (max_decompressed_bytes)`);
}

export function contentEncoding(req: IncomingMessage): string {
  const raw = req.headers["content-encoding"];
  return (Array.isArray(raw) ? raw.join(",") : raw ?? "").trim().toLowerCase();
}

/** Reads the raw body, refusing it (413) as soon as it passes the limit. */
export function readRaw(req: IncomingMessage, limit: number, reservation?: Reservation): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | null, body?: Buffer) => {
      if (done) return;
      done = true;
      req.off("data", onData).off("end", onEnd).off("error", onError).off("aborted", onAborted);
      if (err) reject(err);
      else resolve(body!);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Keep draining without storing, so the client can read the 413 before the socket closes.
        req.resume();
        finish(tooLarge(limit));
        return;
      }
      try {
        reservation?.take(chunk.length);
      } catch (e) {
        req.resume();
        finish(e as Error);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(null, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    const onError = (e: Error) => finish(new HttpError(400, `error reading request body: ${e.message}`));
    const onAborted = () => finish(new HttpError(400, "request body aborted by the client"));
    req.on("data", onData).on("end", onEnd).on("error", onError).on("aborted", onAborted);
  });
}

/** Reads and decodes a body; an unknown Content-Encoding is a 415 naming it. */
export async function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const encoding = contentEncoding(req);
  const decode = encoding === "" || encoding === "identity" ? undefined : decoders[encoding];
  if (encoding !== "" && encoding !== "identity" && !decode) {
    req.resume();
    throw new HttpError(415, `unsupported Content-Encoding "${encoding}"; supported: identity, ${Object.keys(decoders).join(", ")}`);
  }
  const raw = await readRaw(req, limits.maxBodyBytes, limits.reservation);
  if (!decode) {
    if (raw.length > limits.maxDecompressedBytes) throw tooLargeDecompressed(limits.maxDecompressedBytes);
    return raw;
  }
  const body = await decode(raw, limits.maxDecompressedBytes);
  limits.reservation?.take(body.length);
  return body;
}
