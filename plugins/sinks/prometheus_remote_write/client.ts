// The HTTP side of remote write 1.0: the headers the protocol requires on every request, and
// how its failures read. Connections, timeouts and the retry/refuse judgement are
// core/http-post.ts's, shared with the other network sinks.
import { HttpPoster, mergeHeaders, type Wording } from "../../../core/http-post.ts";
import { compressWriteRequest, encodeStaleMarkers } from "./encode.ts";
import { validateOptions, type RemoteWriteOptions } from "./options.ts";
import type { LabelSet } from "./series.ts";

const PROTOCOL_HEADERS = {
  "Content-Encoding": "snappy",
  "Content-Type": "application/x-protobuf",
  "X-Prometheus-Remote-Write-Version": "0.1.0",
};

/** Characters of an answer quoted in a message; the whole of it (up to 64 KiB) is kept in detail.response. */
const QUOTED_CHARS = 500;

// Older than core/http-post.ts's default wording and kept as it was: log alerts and searches
// of dead-letter files may match it. Receivers answer in short plain-text lines ("out of
// order sample"), quoted as they are.
const wording: Wording = {
  network: (url, f) => `remote write to ${url} failed: ${f.code ? `${f.code} ` : ""}${f.message}`,
  timeout: (url, timeoutMs) => `remote write to ${url}: no answer within ${timeoutMs} ms`,
  answer(url, a) {
    const text = (a.truncated ? `${a.body}...` : a.body).trim();
    const redirect = a.status >= 300 && a.status < 400 && a.headers.location ? ` (redirect to ${a.headers.location}, not followed)` : "";
    const quoted = text.length > QUOTED_CHARS ? `${text.slice(0, QUOTED_CHARS)}...` : text;
    return { message: `remote write to ${url}: HTTP ${a.status}${redirect}${text ? `: ${quoted}` : ""}`, response: text };
  },
};

/**
 * A client of one remote-write endpoint, usable without the sink (e.g. to send staleness
 * markers). Every failure is a SinkWriteError that says whether sending the same body again
 * can help.
 */
export class RemoteWriteClient {
  private readonly poster: HttpPoster;

  constructor(options: RemoteWriteOptions) {
    validateOptions(options);
    const auth: Record<string, string> = {};
    if (options.username !== "") auth.Authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString("base64")}`;
    if (options.bearer_token !== "") auth.Authorization = `Bearer ${options.bearer_token}`;
    this.poster = new HttpPoster({
      url: options.url,
      headers: mergeHeaders(options.headers, auth, PROTOCOL_HEADERS),
      timeoutMs: options.timeout,
      wording,
    });
  }

  /** Compresses and sends one encoded WriteRequest. */
  async send(request: Uint8Array): Promise<void> {
    await this.poster.post(compressWriteRequest(request));
  }

  close(): void {
    this.poster.close();
  }
}

/** Marks every given series stale at timeMs (ms since the epoch) on the client's endpoint. */
export async function writeStaleMarkers(client: RemoteWriteClient, series: readonly LabelSet[], timeMs: number): Promise<void> {
  if (series.length === 0) return;
  await client.send(encodeStaleMarkers(series, timeMs));
}
