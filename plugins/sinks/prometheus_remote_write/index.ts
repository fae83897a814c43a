// Writes points to a Prometheus remote-write 1.0 receiver (Prometheus with
// --web.enable-remote-write-receiver, Mimir, Cortex, Thanos receive, VictoriaMetrics, ...):
// a protobuf WriteRequest (this folder's remote.proto), snappy block-compressed, POSTed.
//
// Each numeric field of a point is one sample of the series `<measurement>_<field>` with the
// point's tags as labels (see README.md for the exact naming rules). The module also exports
// what a caller needs to end series early: staleness markers (writeStaleMarkers).
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import protobuf from "protobufjs";
import { compressSync } from "snappy";
import { SinkWriteError } from "../../../core/errors.ts";
import { ConfigError, opt } from "../../../core/options.ts";
import { defineSink, type Sink } from "../../../core/plugin.ts";
import type { Point } from "../../../core/point.ts";

// ---------------------------------------------------------------------------------------------
// Schema

// int64 fields as plain numbers (ms timestamps fit in 2^53), as the pushgateway input sets it
// too: protobufjs reads this global when a schema is parsed, so every schema of the process
// must be parsed under the same setting, whichever module is loaded first.
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

const SCHEMA = readFileSync(new URL("./remote.proto", import.meta.url), "utf8");
const root = protobuf.parse(SCHEMA, { keepCase: true }).root.resolveAll();
/** The WriteRequest message type of remote.proto (field names as written there). */
export const WriteRequestType = root.lookupType("pushkit.remotewrite.WriteRequest");

export interface Label {
  name: string;
  value: string;
}

export interface Sample {
  value: number;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
}

export interface TimeSeries {
  /** Sorted by name, names unique, `__name__` among them. */
  labels: Label[];
  /** In increasing timestamp order, timestamps unique. */
  samples: Sample[];
}

/** A series as label name -> value, `__name__` included (the order does not matter). */
export type LabelSet = Record<string, string>;

// ---------------------------------------------------------------------------------------------
// Names

const METRIC_NAME_INVALID = /[^a-zA-Z0-9_:]/gu;
const LABEL_NAME_INVALID = /[^a-zA-Z0-9_]/gu;

/**
 * A valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`): every other character (code
 * point) becomes `_`, a leading digit gets a `_` before it, an empty name is `_`.
 */
export function sanitizeMetricName(name: string): string {
  const s = name.replace(METRIC_NAME_INVALID, "_");
  if (s === "") return "_";
  const c = s.charCodeAt(0);
  return c >= 48 && c <= 57 ? "_" + s : s;
}

/** A valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`), by the same rules (`:` is invalid here). */
export function sanitizeLabelName(name: string): string {
  const s = name.replace(LABEL_NAME_INVALID, "_");
  if (s === "") return "_";
  const c = s.charCodeAt(0);
  return c >= 48 && c <= 57 ? "_" + s : s;
}

/** The series name of a point's field: `<measurement>_<field>`, sanitised as a whole. */
export function metricName(measurement: string, field: string): string {
  return sanitizeMetricName(`${measurement}_${field}`);
}

const NAME_LABEL = "__name__";

/** Byte order of ASCII names (what Prometheus sorts by); sanitised names are ASCII. */
function byName(a: Label, b: Label): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The labels of a point's tags, sorted, without `__name__`: names sanitised; empty values left
 * out; when two tags sanitise to the same name, the tag already spelled that way wins, else the
 * first in key order; a tag that sanitises to `__name__` is dropped (the metric name wins).
 */
export function tagLabels(tags: Record<string, string>): Label[] {
  const byLabel = new Map<string, { value: string; exact: boolean }>();
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key];
    if (value === "") continue;
    const name = sanitizeLabelName(key);
    if (name === NAME_LABEL) continue;
    const exact = name === key;
    const had = byLabel.get(name);
    if (had && (had.exact || !exact)) continue;
    byLabel.set(name, { value, exact });
  }
  const labels: Label[] = [];
  for (const [name, { value }] of byLabel) labels.push({ name, value });
  return labels.sort(byName);
}

/** Sorted tag labels with `__name__` put in its sorted place. */
function withName(sorted: readonly Label[], name: string): Label[] {
  const out: Label[] = [];
  let placed = false;
  for (const l of sorted) {
    if (!placed && l.name > NAME_LABEL) {
      out.push({ name: NAME_LABEL, value: name });
      placed = true;
    }
    out.push(l);
  }
  if (!placed) out.push({ name: NAME_LABEL, value: name });
  return out;
}

/** A label set as sorted labels. */
export function labelsOf(set: LabelSet): Label[] {
  return Object.entries(set)
    .map(([name, value]) => ({ name, value }))
    .sort(byName);
}

/** Unix nanoseconds to milliseconds, rounded down (also before 1970). */
export function nsToMs(ns: bigint): number {
  const q = ns / 1_000_000n;
  return Number(ns < 0n && q * 1_000_000n !== ns ? q - 1n : q);
}

/** A field's sample value; undefined for a field that is not numeric (a string). */
function sampleValue(v: Point["fields"][string]): number | undefined {
  switch (typeof v) {
    case "number":
      // Any NaN a field carries is an ordinary NaN, never taken for a staleness marker.
      return Number.isNaN(v) ? NaN : v;
    case "bigint":
      return Number(v);
    case "boolean":
      return v ? 1 : 0;
    default:
      return undefined;
  }
}

function seriesKey(labels: readonly Label[]): string {
  let key = "";
  for (const l of labels) key += l.name + "\u0000" + l.value + "\u0001";
  return key;
}

/**
 * The series of a batch: every numeric field of every point is one sample of the series
 * `<measurement>_<field>` + the point's tag labels. Samples of the same label set share one
 * TimeSeries, in time order; of samples with the same timestamp, the last in the batch wins.
 */
export function pointsToTimeSeries(points: readonly Point[]): TimeSeries[] {
  const series = new Map<string, { labels: Label[]; samples: Sample[] }>();
  for (const p of points) {
    let base: Label[] | undefined;
    for (const field of Object.keys(p.fields)) {
      const value = sampleValue(p.fields[field]);
      if (value === undefined) continue;
      base ??= tagLabels(p.tags);
      const labels = withName(base, metricName(p.measurement, field));
      const key = seriesKey(labels);
      let s = series.get(key);
      if (!s) series.set(key, (s = { labels, samples: [] }));
      s.samples.push({ value, timestamp: nsToMs(p.time) });
    }
  }
  const out: TimeSeries[] = [];
  for (const s of series.values()) {
    let samples = s.samples;
    if (samples.length > 1) {
      samples.sort((a, b) => a.timestamp - b.timestamp); // stable: batch order among equal times
      samples = samples.filter((x, i) => i + 1 === samples.length || samples[i + 1].timestamp !== x.timestamp);
    }
    out.push({ labels: s.labels, samples });
  }
  return out;
}

/** The distinct label sets (series) the points write to, e.g. to mark them stale later. */
export function seriesOf(points: readonly Point[]): LabelSet[] {
  return pointsToTimeSeries(points).map((s) => Object.fromEntries(s.labels.map((l) => [l.name, l.value])));
}

/** The WriteRequest of these series, protobuf-encoded (not compressed). */
export function encodeWriteRequest(series: readonly TimeSeries[]): Buffer {
  const w = WriteRequestType.encode({ timeseries: series });
  return Buffer.from(w.finish());
}

// ---------------------------------------------------------------------------------------------
// Staleness markers

/** Prometheus' staleness marker: a NaN with exactly these bits (value.StaleNaN). */
export const STALE_NAN_BITS = 0x7ff0000000000002n;

const staleView = new DataView(new ArrayBuffer(8));
staleView.setBigUint64(0, STALE_NAN_BITS, true);
/**
 * The staleness marker as a number. Handle with care: V8 keeps these NaN bits in an object
 * property, but quiets them (0x7ff8000000000002, an ordinary NaN to Prometheus) when the number
 * is stored in an array of numbers. Samples are objects, which is why this works.
 */
export const STALE_NAN: number = staleView.getFloat64(0, true);

/** Whether a number carries exactly the staleness marker's bits. */
export function isStaleNaN(v: number): boolean {
  const d = new DataView(new ArrayBuffer(8));
  d.setFloat64(0, v, true);
  return d.getBigUint64(0, true) === STALE_NAN_BITS;
}

/** A Sample's value on the wire: tag 0x09 (field 1, 64-bit) then the marker's little-endian bits. */
const STALE_SAMPLE_VALUE = Buffer.from([0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]);

/**
 * The WriteRequest (protobuf, not compressed) that marks every given series stale at timeMs:
 * one sample with the staleness NaN each. Throws if the runtime changed the NaN's bits on the
 * way (which would write a plain NaN value instead of ending the series).
 */
export function encodeStaleMarkers(series: readonly LabelSet[], timeMs: number): Buffer {
  if (!Number.isSafeInteger(timeMs)) throw new RangeError(`staleness marker time must be an integer in ms, got ${timeMs}`);
  const byKey = new Map<string, TimeSeries>();
  for (const set of series) {
    const labels = labelsOf(set);
    byKey.set(seriesKey(labels), { labels, samples: [{ value: STALE_NAN, timestamp: timeMs }] });
  }
  const body = encodeWriteRequest([...byKey.values()]);
  // A Sample's value field cannot be mistaken inside a string: 0xf0 0x7f is not valid UTF-8.
  let found = 0;
  for (let i = body.indexOf(STALE_SAMPLE_VALUE); i !== -1; i = body.indexOf(STALE_SAMPLE_VALUE, i + 1)) found++;
  if (found !== byKey.size) throw new Error(`staleness markers lost their NaN bits while encoding (${found} of ${byKey.size} intact)`);
  return body;
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface RemoteWriteOptions {
  url: string;
  username: string;
  password: string;
  bearer_token: string;
  headers: Record<string, string>;
  timeout: number;
}

/** Headers the protocol sets; a `headers` option may not replace them. */
const PROTOCOL_HEADERS = ["content-encoding", "content-type", "content-length", "x-prometheus-remote-write-version", "transfer-encoding", "host", "connection"];
const MAX_RESPONSE_TEXT = 64 * 1024;

function pushkitVersion(): string {
  // The repository's package.json, from the sources (tsx) or from dist/.
  for (const rel of ["../../../package.json", "../../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "pushkit" && pkg.version) return pkg.version;
    } catch {
      // not there: try the next candidate
    }
  }
  return "unknown";
}

export const USER_AGENT = `pushkit/${pushkitVersion()}`;

/** A Retry-After value (seconds, or an HTTP date) in ms from now; undefined if absent or malformed. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Checks the options together (what one option's own check cannot see); throws a ConfigError. */
export function validateOptions(o: RemoteWriteOptions): void {
  const where = "sink prometheus_remote_write";
  checkUrl(o.url);
  if (o.bearer_token !== "" && (o.username !== "" || o.password !== "")) {
    throw new ConfigError(`${where}: set either username/password (basic auth) or bearer_token, not both`);
  }
  if (o.password !== "" && o.username === "") throw new ConfigError(`${where}: password is set without username`);
  const auth = o.bearer_token !== "" || o.username !== "";
  for (const [name, value] of Object.entries(o.headers)) {
    if (auth && name.toLowerCase() === "authorization") {
      throw new ConfigError(`${where}: headers.Authorization conflicts with ${o.bearer_token !== "" ? "bearer_token" : "username/password"}`);
    }
    try {
      http.validateHeaderValue(name, value);
    } catch (e) {
      throw new ConfigError(`${where}: headers.${name}: ${(e as Error).message}`);
    }
  }
}

function checkUrl(text: string): void {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ConfigError(`url must be an absolute http:// or https:// URL, got "${text}"`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new ConfigError(`url must be http:// or https://, got "${u.protocol}//"`);
  if (u.username !== "" || u.password !== "") throw new ConfigError("url must not hold credentials; set username and password");
  if (u.hash !== "") throw new ConfigError(`url must not have a fragment, got "${u.hash}"`);
}

function checkHeaderName(name: string): string | undefined {
  try {
    http.validateHeaderName(name);
  } catch {
    return `headers: "${name}" is not a valid HTTP header name`;
  }
  if (PROTOCOL_HEADERS.includes(name.toLowerCase())) return `headers: "${name}" is set by the remote-write protocol and cannot be changed`;
  return undefined;
}

/**
 * An HTTP client for one remote-write endpoint: compresses and POSTs WriteRequest bodies over
 * kept-alive connections, and turns every failure into a SinkWriteError that says whether
 * sending the same body again can help.
 */
export class RemoteWriteClient {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: RemoteWriteOptions) {
    validateOptions(options);
    this.url = new URL(options.url);
    const https_ = this.url.protocol === "https:";
    this.transport = https_ ? https : http;
    // As many connections as the delivery stage may have writes in flight (max_in_flight <= 64).
    const agentOptions = { keepAlive: true, maxSockets: 64, maxFreeSockets: 8 };
    this.agent = https_ ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    const headers: Record<string, string> = {};
    if (!Object.keys(options.headers).some((k) => k.toLowerCase() === "user-agent")) headers["User-Agent"] = USER_AGENT;
    Object.assign(headers, options.headers);
    if (options.username !== "") headers.Authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString("base64")}`;
    if (options.bearer_token !== "") headers.Authorization = `Bearer ${options.bearer_token}`;
    headers["Content-Encoding"] = "snappy";
    headers["Content-Type"] = "application/x-protobuf";
    headers["X-Prometheus-Remote-Write-Version"] = "0.1.0";
    this.headers = headers;
  }

  /** Compresses (snappy block format) and sends one encoded WriteRequest. */
  async send(request: Uint8Array): Promise<void> {
    const body = compressSync(Buffer.from(request.buffer, request.byteOffset, request.byteLength)) as Buffer;
    try {
      await this.post(body);
    } catch (e) {
      // A kept-alive connection the server closed while idle: the request never got there.
      const code = (e as NodeJS.ErrnoException).code;
      if ((e as { reusedSocket?: boolean }).reusedSocket && (code === "ECONNRESET" || code === "EPIPE")) await this.post(body);
      else throw e;
    }
  }

  private post(body: Buffer): Promise<void> {
    const target = this.options.url;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(e);
      };
      const req = this.transport.request(this.url, {
        method: "POST",
        agent: this.agent,
        headers: { ...this.headers, "Content-Length": String(body.length) },
      });
      const timer = setTimeout(() => {
        fail(new SinkWriteError(`remote write to ${target}: no answer within ${this.options.timeout} ms`, true));
        req.destroy();
      }, this.options.timeout);
      req.on("error", (e: NodeJS.ErrnoException) => {
        const err = new SinkWriteError(`remote write to ${target} failed: ${e.code ? `${e.code} ` : ""}${e.message}`, true);
        Object.assign(err, { code: e.code, reusedSocket: req.reusedSocket });
        fail(err);
      });
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        const parts: Buffer[] = [];
        let size = 0;
        res.on("data", (d: Buffer) => {
          if (size < MAX_RESPONSE_TEXT) parts.push(d);
          size += d.length;
        });
        res.on("error", (e) => fail(new SinkWriteError(`remote write to ${target}: reading the answer failed: ${e.message}`, true, { status })));
        res.on("end", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (status >= 200 && status < 300) return resolve();
          let text = Buffer.concat(parts).toString("utf8");
          if (size > MAX_RESPONSE_TEXT) text = text.slice(0, MAX_RESPONSE_TEXT) + "...";
          text = text.trim();
          const retryAfterMs = parseRetryAfter(headerText(res.headers["retry-after"]));
          const retry = status === 408 || status === 429 || status >= 500;
          const where = status >= 300 && status < 400 && res.headers.location ? ` (redirect to ${res.headers.location}, not followed)` : "";
          const message = `remote write to ${target}: HTTP ${status}${where}${text ? `: ${text.length > 500 ? text.slice(0, 500) + "..." : text}` : ""}`;
          reject(new SinkWriteError(message, retry, { status, ...(retryAfterMs !== undefined && { retryAfterMs }), response: text }));
        });
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Marks every given series stale at timeMs (ms since the epoch) on the client's endpoint. */
export async function writeStaleMarkers(client: RemoteWriteClient, series: readonly LabelSet[], timeMs: number): Promise<void> {
  if (series.length === 0) return;
  await client.send(encodeStaleMarkers(series, timeMs));
}

// ---------------------------------------------------------------------------------------------
// The sink

export interface RemoteWriteSink extends Sink {
  /** Marks the given series stale at timeMs; see writeStaleMarkers. */
  writeStaleMarkers(series: readonly LabelSet[], timeMs: number): Promise<void>;
}

export default defineSink({
  name: "prometheus_remote_write",
  description: "Prometheus remote write 1.0 (protobuf, snappy) to Prometheus, Mimir, Thanos, VictoriaMetrics...",
  options: {
    url: opt.string({
      default: "",
      required: true,
      description: "Remote-write endpoint, e.g. http://127.0.0.1:9090/api/v1/write (Prometheus with --web.enable-remote-write-receiver).",
      check: (v) => {
        try {
          checkUrl(v);
          return undefined;
        } catch (e) {
          return (e as Error).message.replace(/^url /, "");
        }
      },
    }),
    username: opt.string({ default: "", description: "Basic-auth user name (with password); not with bearer_token." }),
    password: opt.string({ default: "", description: "Basic-auth password." }),
    bearer_token: opt.string({ default: "", description: "Sent as Authorization: Bearer <token>; not with username/password." }),
    headers: opt.stringMap({ default: {}, description: "Extra HTTP headers of every request (not the protocol's own).", checkKey: checkHeaderName }),
    timeout: opt.duration({ default: 10_000, min: 10, description: "Longest time one request may take, answer included." }),
  },
  // "remote_write+http" would be no URL at all: a scheme may not hold "_" (RFC 3986), and
  // ENV_SINKS entries are parsed as URLs. Hence the hyphen.
  urlSchemes: ["remote-write+http", "remote-write+https"],
  // Remote-write receivers like requests of a few thousand samples (Prometheus' own sender
  // sends up to 2000 per request), soon after they are taken.
  // Durable like every network sink; one write at a time, since Prometheus refuses samples that arrive out of order.
  deliveryDefaults: { batch_points: 2000, flush_interval: 1000, durable: true, max_in_flight: 1 },
  fromUrl(url) {
    const scheme = url.protocol.replace(/^remote-write\+/, "").replace(/:$/, "");
    if (url.host === "") throw new Error(`expected remote-write+${scheme}://host:port/path, got no host`);
    if (url.pathname === "") throw new Error(`expected a path such as remote-write+${scheme}://${url.host}/api/v1/write`);
    if (url.hash !== "") throw new Error(`a fragment ("${url.hash}") has no meaning here`);
    const table: Record<string, unknown> = { url: `${scheme}://${url.host}${url.pathname}${url.search}` };
    if (url.username !== "") table.username = decodeURIComponent(url.username);
    if (url.password !== "") table.password = decodeURIComponent(url.password);
    return table;
  },
  create(options, ctx): RemoteWriteSink {
    const client = new RemoteWriteClient(options);
    return {
      async write(batch) {
        const series = pointsToTimeSeries(batch.points());
        if (series.length === 0) return;
        await client.send(encodeWriteRequest(series));
        ctx.log.debug({ points: batch.size, series: series.length }, "remote write sent");
      },
      writeStaleMarkers(series, timeMs) {
        return writeStaleMarkers(client, series, timeMs);
      },
      async close() {
        client.close();
      },
    };
  },
});
