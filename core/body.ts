// Reads a request body as raw bytes, whatever its Content-Type (or none, with chunked
// transfer), decompresses it by Content-Encoding, and enforces two limits: the bytes on the
// wire and the bytes after decompression. Over either limit the answer is 413 and nothing
// of the body is used. A body that stops arriving for the body idle timeout is a 408.
import type { IncomingMessage } from "node:http";
import { gunzip } from "node:zlib";
import { BackpressureError, HttpError } from "./errors.ts";
import { clientAddress } from "./security/rate-limit.ts";
import { SnappyTooLarge, decodeSnappyFramedAsync } from "./snappy-framed.ts";

export interface BodyLimits {
  /** The request's share of a MemoryBudget, if the caller keeps one. */
  reservation?: Reservation;
  /** Largest body accepted on the wire, in bytes (the max_body_bytes option). */
  maxBodyBytes: number;
  /** Largest body accepted after decompression, in bytes (the max_decompressed_bytes option). */
  maxDecompressedBytes: number;
}

export type Decoder = (body: Buffer, maxOutput: number) => Promise<Buffer>;

/** A client's share is this part of the budget: it takes four clients to hold all of it. */
const FAIR_SHARES = 4;

/**
 * Bytes of request bodies held at once, across requests: raw as they arrive and decompressed.
 * Over the budget a request is refused with 503 (nothing of it is kept), so many concurrent
 * large pushes cannot grow memory without bound. One request alone is always let through.
 *
 * One client (by address) may hold at most a quarter of it across several requests at once,
 * so that a client that opens bodies and stalls them cannot leave nothing to everyone else.
 * A client holding through one request only is not held to its share: one large push is
 * refused, as anyone's, only when the whole budget is taken.
 */
export class MemoryBudget {
  used = 0;
  /** Most one client may hold across its requests, unless it holds through one request only. */
  readonly share: number;
  private readonly byClient = new Map<string, number>();

  constructor(
    readonly limit: number,
    private readonly option: string,
  ) {
    this.share = Math.ceil(limit / FAIR_SHARES);
  }

  /** Bytes the client holds now, across its requests. */
  heldBy(client: string): number {
    return this.byClient.get(client) ?? 0;
  }

  /**
   * A request's share of the budget; release() it when the request is done. With a client (the
   * request, whose peer address is used, or an address) it also counts against that client's
   * share; without one, only against the whole budget.
   */
  reserve(client?: IncomingMessage | string): Reservation {
    const who = client === undefined || typeof client === "string" ? client : clientAddress(client.socket.remoteAddress);
    let held = 0;
    return {
      take: (n: number) => {
        if (this.used > held && this.used + n > this.limit) {
          throw new BackpressureError(`pushes in flight hold ${this.used} bytes, the limit is ${this.limit} (${this.option}); nothing of this push was accepted, retry later`, 1);
        }
        if (who === undefined) {
          this.used += n;
          held += n;
          return;
        }
        const mine = this.heldBy(who);
        if (mine > held && mine + n > this.share) {
          throw new BackpressureError(
            `pushes in flight from ${who} hold ${mine} bytes; one client may hold ${this.share} bytes (a quarter of ${this.option}) with more than one push at once; nothing of this push was accepted, retry later`,
            1,
          );
        }
        this.used += n;
        held += n;
        this.byClient.set(who, mine + n);
      },
      release: () => {
        if (held === 0) return;
        this.used -= held;
        if (who !== undefined) {
          const rest = this.heldBy(who) - held;
          if (rest > 0) this.byClient.set(who, rest);
          else this.byClient.delete(who);
        }
        held = 0;
      },
    };
  }
}

export interface Reservation {
  /** Counts n more bytes; throws a 503 BackpressureError when over budget or over the client's share. */
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
      return await decodeSnappyFramedAsync(body, maxOutput);
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

const BODY_IDLE = Symbol("bodyIdleTimeout");

/**
 * How long the request's body may stop arriving before it is refused (the body_idle_timeout
 * option): set on every request by the HTTP server, read by whoever reads the body.
 */
export function setBodyIdleTimeout(req: IncomingMessage, ms: number): void {
  (req as IncomingMessage & { [BODY_IDLE]?: number })[BODY_IDLE] = ms;
}

function bodyIdleTimeout(req: IncomingMessage): number {
  return (req as IncomingMessage & { [BODY_IDLE]?: number })[BODY_IDLE] ?? 0;
}

function stalled(ms: number, received: number): HttpError {
  // The rest of the body may still come: the connection is closed after the answer rather than
  // read on for a next request.
  return new HttpError(408, `request body stopped arriving: no bytes for ${ms} ms after ${received} bytes (body_idle_timeout); nothing of this push was accepted`, { Connection: "close" });
}

/**
 * Reads the raw body, refusing it (413) as soon as it passes the limit, and (408) when no bytes
 * of it came for the request's body idle timeout; either way its reservation is the caller's
 * to release, at once.
 */
export function readRaw(req: IncomingMessage, limit: number, reservation?: Reservation): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  const length = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : 0;
  return new Promise((resolve, reject) => {
    // With its length declared, a body of several chunks is copied into one buffer as they
    // arrive: the copying, and the first touch of the memory (150 ms for 16 MiB on a loaded
    // 2-core VM), is spread over the arrival instead of one Buffer.concat holding the event loop.
    let whole: Buffer | undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const idleMs = bodyIdleTimeout(req);
    const idle = idleMs > 0 && !req.complete ? setTimeout(() => finish(stalled(idleMs, size)), idleMs) : undefined;
    const finish = (err: Error | null, body?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      req.off("data", onData).off("end", onEnd).off("error", onError).off("aborted", onAborted);
      if (err) reject(err);
      else resolve(body!);
    };
    const onData = (chunk: Buffer) => {
      idle?.refresh();
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
      const at = size - chunk.length;
      if (!whole && at > 0 && length >= size) {
        whole = Buffer.allocUnsafe(length);
        for (let i = 0, o = 0; i < chunks.length; o += chunks[i].length, i++) chunks[i].copy(whole, o);
        chunks.length = 0;
      }
      if (whole) chunk.copy(whole, at);
      else chunks.push(chunk);
    };
    const onEnd = () => finish(null, whole ? whole.subarray(0, size) : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
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
