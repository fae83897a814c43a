// One POST per batch on kept-alive connections, and what its answer means: 2xx written;
// 408, 429 and 5xx (and any network error or timeout) worth retrying, with the backend's
// Retry-After; any other status a refusal of the batch itself (retry false).
import http from "node:http";
import https from "node:https";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { SinkWriteError } from "../../../core/errors.ts";
import { formatDuration } from "../../../core/options.ts";
import type { InfluxdbOptions } from "./index.ts";

const gzipAsync = promisify(gzip);

/** Bytes of the backend's answer kept with an error (and with a batch set aside). */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Characters of the answer quoted in an error message. */
const SNIPPET_CHARS = 300;

/** Query parameters whose values never appear in messages or logs (InfluxDB 1.x takes p=). */
const SECRET_PARAMS = new Set(["p", "password", "token", "access_token", "api_key", "apikey", "secret"]);

/** The URL as messages and logs show it: no user-info, secret query values masked. */
export function displayUrl(url: URL | string): string {
  const u = new URL(String(url));
  u.username = "";
  u.password = "";
  if ([...u.searchParams.keys()].some((k) => SECRET_PARAMS.has(k.toLowerCase()))) {
    for (const k of new Set(u.searchParams.keys())) if (SECRET_PARAMS.has(k.toLowerCase())) u.searchParams.set(k, "xxx");
  }
  return u.href;
}

/** Retry-After as milliseconds from now: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  // An HTTP date starts with the day name (IMF-fixdate, RFC 850 and asctime all do).
  if (!/^(mon|tue|wed|thu|fri|sat|sun)/i.test(v)) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Whether sending the same batch again can succeed after this status. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

interface Answer {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request that failed before a whole answer arrived. */
class RequestFailure extends Error {
  constructor(
    message: string,
    /** The request went out on a kept-alive connection the server may have closed meanwhile. */
    readonly staleConnection: boolean,
  ) {
    super(message);
  }
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > SNIPPET_CHARS ? `${flat.slice(0, SNIPPET_CHARS)}...` : flat;
}

export class HttpPoster {
  readonly displayUrl: string;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly headers: Record<string, string>;

  constructor(private readonly o: InfluxdbOptions) {
    this.url = new URL(o.url);
    this.displayUrl = displayUrl(this.url);
    const tls = this.url.protocol === "https:";
    this.transport = tls ? https : http;
    // No socket limit: the delivery stage decides how many writes are in flight, and a write
    // queued for a socket would spend its timeout waiting.
    this.agent = tls ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    const headers: Record<string, string> = { "Content-Type": "text/plain; charset=utf-8", "User-Agent": "pushkit" };
    if (o.gzip) headers["Content-Encoding"] = "gzip";
    if (o.token !== "") headers.Authorization = `Token ${o.token}`;
    else if (o.username !== "") headers.Authorization = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString("base64")}`;
    for (const [k, v] of Object.entries(o.headers)) {
      for (const existing of Object.keys(headers)) if (existing.toLowerCase() === k.toLowerCase()) delete headers[existing];
      headers[k] = v;
    }
    this.headers = headers;
  }

  /** POSTs the chunks as one body; resolves on 2xx, rejects with a SinkWriteError otherwise. */
  async write(chunks: readonly Buffer[]): Promise<void> {
    let length = 0;
    for (const c of chunks) length += c.length;
    if (length === 0) return;
    const body = this.o.gzip ? [await gzipAsync(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length))] : chunks;
    const bodyLength = this.o.gzip ? body[0].length : length;
    let answer: Answer;
    try {
      answer = await this.send(body, bodyLength);
    } catch (e) {
      // A server may close an idle kept-alive connection just as we reuse it: that request
      // never reached it, so it is sent once more on a fresh connection before anything is reported.
      if (!(e instanceof RequestFailure && e.staleConnection)) throw this.networkError(e);
      try {
        answer = await this.send(body, bodyLength);
      } catch (e2) {
        throw this.networkError(e2);
      }
    }
    if (answer.status >= 200 && answer.status < 300) return;
    throw this.httpError(answer);
  }

  close(): void {
    this.agent.destroy();
  }

  private networkError(e: unknown): SinkWriteError {
    return new SinkWriteError(`POST ${this.displayUrl} failed: ${(e as Error)?.message ?? e}`, true);
  }

  private httpError(a: Answer): SinkWriteError {
    const retry = retryableStatus(a.status);
    const retryAfterMs = retry ? parseRetryAfter(a.headers["retry-after"]) : undefined;
    // InfluxDB 1.x also gives its error in a header, useful when a proxy swallowed the body.
    const said = snippet(a.body) || snippet(String(a.headers["x-influxdb-error"] ?? ""));
    let message = `POST ${this.displayUrl}: ${a.status} ${a.statusText}`.trimEnd();
    if (said) message += `: ${said}`;
    if (a.status >= 300 && a.status < 400) {
      message += ` (redirects${a.headers.location ? ` to ${a.headers.location}` : ""} are not followed: set url to the final address)`;
    }
    if (retryAfterMs !== undefined) message += ` (Retry-After ${formatDuration(retryAfterMs)})`;
    if (!retry) message += "; the backend refused this batch, sending it again cannot help";
    return new SinkWriteError(message, retry, { status: a.status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), response: a.body });
  }

  private send(body: readonly Buffer[], length: number): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      let settled = false;
      let answered = false;
      let req: http.ClientRequest | undefined;
      const timer = setTimeout(() => fail(new RequestFailure(`no complete answer within ${formatDuration(this.o.timeout)} (timeout)`, false)), this.o.timeout);
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req?.destroy();
        reject(e);
      };
      try {
        req = this.transport.request(
          this.url,
          { method: "POST", agent: this.agent, headers: { ...this.headers, "Content-Length": String(length) } },
          (res) => {
            answered = true;
            const parts: Buffer[] = [];
            let kept = 0;
            res.on("data", (d: Buffer) => {
              if (kept >= MAX_RESPONSE_BYTES) return;
              parts.push(d);
              kept += d.length;
            });
            res.on("end", () => {
              if (settled) return;
              settled = true;
              clearTimeout(timer);
              resolve({
                status: res.statusCode ?? 0,
                statusText: res.statusMessage ?? "",
                headers: res.headers,
                body: Buffer.concat(parts).subarray(0, MAX_RESPONSE_BYTES).toString("utf8"),
              });
            });
            res.on("error", (e) => fail(new RequestFailure(`answer cut off: ${e.message}`, false)));
            res.on("close", () => {
              if (!res.complete) fail(new RequestFailure("connection closed before the whole answer arrived", false));
            });
          },
        );
      } catch (e) {
        fail(e as Error);
        return;
      }
      const r = req;
      r.on("error", (e: NodeJS.ErrnoException) => {
        // Once an answer has started, its own events decide (a server may answer early and
        // close, e.g. 413, which also breaks the upload).
        if (answered) return;
        const stale = r.reusedSocket && (e.code === "ECONNRESET" || e.code === "EPIPE");
        fail(new RequestFailure(e.message || String(e.code), stale));
      });
      for (const c of body) r.write(c);
      r.end();
    });
  }
}
