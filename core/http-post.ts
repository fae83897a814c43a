// POSTs a body to a backend URL and judges the answer for the delivery stage, which needs one
// thing from a failed write: whether sending the same batch again can help. 2xx is written;
// 408, 429, 5xx, a network error and a timeout are worth retrying (after the backend's
// Retry-After); any other status is a refusal of the batch itself. The sinks that use it own
// their body (encoding, compression, headers) and how their failures read; nothing here knows
// a backend.
import http from "node:http";
import https from "node:https";
import { SinkWriteError } from "./errors.ts";
import { formatDuration } from "./options.ts";
import { VERSION } from "./version.ts";

/** Bytes of a backend's answer kept with an error (and with a batch set aside). */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Characters of the answer quoted in a message by default. */
const SNIPPET_CHARS = 300;

/** Sent unless a sink's headers name another User-Agent: backends log it, proxies route by it. */
export const USER_AGENT = `pushkit/${VERSION}`;

/** Query parameters whose values never appear in messages or logs (InfluxDB 1.x takes p=). */
const SECRET_PARAMS = new Set(["p", "password", "token", "access_token", "api_key", "apikey", "secret"]);

/** The URL as messages and logs show it: no user-info, secret query values masked. */
export function displayUrl(url: URL | string): string {
  const u = new URL(String(url));
  u.username = "";
  u.password = "";
  // Only rewritten when needed: setting a parameter re-encodes the whole query string.
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
  // Date.parse takes almost anything ("-5", "1 2"); an HTTP date starts with the day name
  // (IMF-fixdate, RFC 850 and asctime all do).
  if (!/^(mon|tue|wed|thu|fri|sat|sun)/i.test(v)) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Whether sending the same body again can succeed after this status. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Header tables merged left to right; a later name replaces an earlier one whatever its case,
 * so that a configured "content-type" replaces a default "Content-Type" instead of both
 * being handed to node:http.
 */
export function mergeHeaders(...tables: Record<string, string>[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const table of tables) {
    for (const [k, v] of Object.entries(table)) {
      for (const existing of Object.keys(out)) if (existing.toLowerCase() === k.toLowerCase()) delete out[existing];
      out[k] = v;
    }
  }
  return out;
}

/** A whole answer that was not 2xx. */
export interface Answer {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  /** The first MAX_RESPONSE_BYTES of the body, as UTF-8. */
  body: string;
  /** The body was longer than what `body` holds. */
  truncated: boolean;
}

/** A request that got no whole answer: refused, reset, DNS, TLS, cut off in the middle. */
export interface NetworkFailure {
  message: string;
  code?: string;
}

export interface Verdict {
  retry: boolean;
  /** Only with retry: a refused batch is not sent again, whatever the backend asks. */
  retryAfterMs?: number;
}

/**
 * How a sink's failures read. The classification is the poster's; the words are the sink's,
 * since operators grep logs and dead-letter files for them. `url` is already displayUrl'd.
 */
export interface Wording {
  network(url: string, f: NetworkFailure): string;
  timeout(url: string, timeoutMs: number): string;
  /** The message, and the answer text kept with the error (`detail.response`). */
  answer(url: string, a: Answer, v: Verdict): { message: string; response: string };
}

/** Whitespace collapsed (answers are often pretty-printed JSON or HTML), cut to its start. */
export function snippet(text: string, chars = SNIPPET_CHARS): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > chars ? `${flat.slice(0, chars)}...` : flat;
}

/**
 * "POST <url>: <status> <reason>: <start of the answer>", with what an operator should do about
 * a redirect or a refusal. `errorHeader` names a header that stands in for an empty body (a
 * proxy may swallow the body but pass the backend's headers).
 */
export function postWording(o: { errorHeader?: string } = {}): Wording {
  const errorHeader = o.errorHeader?.toLowerCase();
  return {
    network: (url, f) => `POST ${url} failed: ${f.message || f.code}`,
    timeout: (url, timeoutMs) => `POST ${url} failed: no complete answer within ${formatDuration(timeoutMs)} (timeout)`,
    answer(url, a, v) {
      const said = snippet(a.body) || (errorHeader ? snippet(String(a.headers[errorHeader] ?? "")) : "");
      let message = `POST ${url}: ${a.status} ${a.statusText}`.trimEnd();
      if (said) message += `: ${said}`;
      if (a.status >= 300 && a.status < 400) {
        message += ` (redirects${a.headers.location ? ` to ${a.headers.location}` : ""} are not followed: set url to the final address)`;
      }
      if (v.retryAfterMs !== undefined) message += ` (Retry-After ${formatDuration(v.retryAfterMs)})`;
      if (!v.retry) message += "; the backend refused this batch, sending it again cannot help";
      return { message, response: a.body };
    },
  };
}

export interface HttpPosterOptions {
  url: string;
  /** Sent with every request; Content-Length is the poster's, User-Agent defaults to USER_AGENT. */
  headers: Record<string, string>;
  /** Longest time one request may take, from connecting to the end of the answer. */
  timeoutMs: number;
  /** Default: postWording(). */
  wording?: Wording;
}

/** Why send() gave up before a whole answer arrived. */
class RequestFailure extends Error {
  constructor(
    readonly failure: NetworkFailure | "timeout",
    /** The request went out on a kept-alive connection the server may have closed meanwhile. */
    readonly staleConnection = false,
  ) {
    super(failure === "timeout" ? "timeout" : failure.message);
  }
}

/** One backend URL, POSTed to over kept-alive connections until close(). */
export class HttpPoster {
  readonly displayUrl: string;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly wording: Wording;

  constructor(o: HttpPosterOptions) {
    this.url = new URL(o.url);
    this.displayUrl = displayUrl(this.url);
    const tls = this.url.protocol === "https:";
    this.transport = tls ? https : http;
    // No socket limit: the delivery stage decides how many writes are in flight, and a write
    // queued for a socket would spend its timeout waiting.
    this.agent = tls ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.headers = mergeHeaders({ "User-Agent": USER_AGENT }, o.headers);
    this.timeoutMs = o.timeoutMs;
    this.wording = o.wording ?? postWording();
  }

  /** POSTs the chunks as one body; resolves on 2xx, rejects with a SinkWriteError otherwise. */
  async post(body: Buffer | readonly Buffer[]): Promise<void> {
    const chunks = Buffer.isBuffer(body) ? [body] : body;
    let length = 0;
    for (const c of chunks) length += c.length;
    let answer: Answer;
    try {
      answer = await this.send(chunks, length);
    } catch (e) {
      // A server may close an idle kept-alive connection just as we reuse it: that request
      // never reached it, so it is sent once more on a fresh connection before anything is reported.
      if (!(e as RequestFailure).staleConnection) throw this.failed(e as RequestFailure);
      try {
        answer = await this.send(chunks, length);
      } catch (e2) {
        throw this.failed(e2 as RequestFailure);
      }
    }
    if (answer.status >= 200 && answer.status < 300) return;
    const retry = retryableStatus(answer.status);
    const retryAfterMs = retry ? parseRetryAfter(answer.headers["retry-after"]) : undefined;
    const { message, response } = this.wording.answer(this.displayUrl, answer, { retry, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    throw new SinkWriteError(message, retry, { status: answer.status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), response });
  }

  close(): void {
    this.agent.destroy();
  }

  private failed(e: RequestFailure): SinkWriteError {
    const message = e.failure === "timeout" ? this.wording.timeout(this.displayUrl, this.timeoutMs) : this.wording.network(this.displayUrl, e.failure);
    return new SinkWriteError(message, true);
  }

  /** Rejects only with a RequestFailure. */
  private send(body: readonly Buffer[], length: number): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      let settled = false;
      let answered = false;
      let req: http.ClientRequest | undefined;
      const timer = setTimeout(() => fail(new RequestFailure("timeout")), this.timeoutMs);
      const fail = (e: RequestFailure) => {
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
            let received = 0;
            res.on("data", (d: Buffer) => {
              // Read to the end all the same: the connection stays reusable.
              if (received < MAX_RESPONSE_BYTES) parts.push(d);
              received += d.length;
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
                truncated: received > MAX_RESPONSE_BYTES,
              });
            });
            res.on("error", (e) => fail(new RequestFailure({ message: `answer cut off: ${e.message}` })));
            res.on("close", () => {
              if (!res.complete) fail(new RequestFailure({ message: "connection closed before the whole answer arrived" }));
            });
          },
        );
      } catch (e) {
        // node:http throws at once for what it cannot send at all (e.g. a header value it refuses).
        fail(new RequestFailure({ message: (e as Error)?.message ?? String(e), code: (e as NodeJS.ErrnoException)?.code }));
        return;
      }
      const r = req;
      r.on("error", (e: NodeJS.ErrnoException) => {
        // Once an answer has started, its own events decide (a server may answer early and
        // close, e.g. 413, which also breaks the upload).
        if (answered) return;
        const stale = r.reusedSocket && (e.code === "ECONNRESET" || e.code === "EPIPE");
        fail(new RequestFailure({ message: e.message, code: e.code }, stale));
      });
      for (const c of body) r.write(c);
      r.end();
    });
  }
}
