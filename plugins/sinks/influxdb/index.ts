// Line protocol POSTed over HTTP(S) to anything that speaks InfluxDB's write API: InfluxDB 1.x
// (/write?db=), InfluxDB 2.x (/api/v2/write?org=&bucket=), VictoriaMetrics (/write) and
// DataKit (/v1/write/metric). The sink is configured by the full URL the batch is POSTed to;
// each write is one request, gzip-compressed, on a kept-alive connection. A failed write
// rejects with a SinkWriteError that says whether sending the same batch again can help, and,
// for a refusal of points, how many the answer says were refused (refusal.ts).
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { HttpPoster, displayUrl, mergeHeaders, postWording } from "../../../core/http-post.ts";
import { ConfigError, formatDuration, opt, tomlString, type OptionSpec, type OptionsOf } from "../../../core/options.ts";
import { SinkWriteError } from "../../../core/errors.ts";
import { defineSink } from "../../../core/plugin.ts";
import { refusedPoints } from "./refusal.ts";

const gzipAsync = promisify(gzip);

const EXAMPLES =
  "e.g. http://127.0.0.1:8086/write?db=metrics (InfluxDB 1.x, VictoriaMetrics), " +
  "http://127.0.0.1:8086/api/v2/write?org=ORG&bucket=BUCKET (InfluxDB 2.x) or http://127.0.0.1:9529/v1/write/metric (DataKit)";

/** Nanosecond spellings of `precision`: InfluxDB 1.x takes n and ns, 2.x ns, DataKit n. */
const NANOSECONDS = new Set(["n", "ns"]);

/** The problem with a write URL, or undefined when it is usable. */
export function checkUrl(text: string): string | undefined {
  if (text.trim() === "") return `must not be empty: the URL the line protocol is POSTed to, ${EXAMPLES}`;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)) return `must be an http:// or https:// URL, got "${text}"`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return `"${text}" is not a URL; expected the URL the line protocol is POSTed to, ${EXAMPLES}`;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return `must be an http:// or https:// URL, got "${u.protocol}//"`;
  if (u.username !== "" || u.password !== "") return "must not hold credentials: set the username and password options (or token) instead";
  if (u.hash !== "") return `must not have a #fragment, got "${u.hash}"`;
  if (u.pathname === "/") return `needs the write path, not just the server: ${EXAMPLES}`;
  const precision = u.searchParams.get("precision");
  if (precision !== null && !NANOSECONDS.has(precision)) {
    return `has precision=${precision}, but pushkit writes nanosecond timestamps: use precision=ns (precision=n for DataKit) or leave it out`;
  }
  // InfluxDB 2.x's own write path (VictoriaMetrics also serves it, but its /write is the one to use).
  if (u.pathname === "/api/v2/write") {
    if (!u.searchParams.get("bucket")) return "an InfluxDB 2.x write URL (/api/v2/write) needs ?bucket=BUCKET (and org=ORG)";
    if (!u.searchParams.get("org") && !u.searchParams.get("orgID")) return "an InfluxDB 2.x write URL (/api/v2/write) needs ?org=ORG (or orgID=ID)";
  }
  return undefined;
}

// Headers the sink itself owns: the body's framing and encoding, and the connection.
const RESERVED_HEADERS = new Set(["content-length", "content-encoding", "transfer-encoding", "connection", "host", "keep-alive", "te", "upgrade", "trailer"]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function checkHeaderName(name: string): string | undefined {
  if (!HEADER_NAME.test(name)) return `"${name}" is not a valid HTTP header name`;
  if (RESERVED_HEADERS.has(name.toLowerCase())) return `header "${name}" is set by the sink itself and cannot be configured`;
  return undefined;
}

// A line break in a credential (e.g. from a file read into $VAR) would end the header early.
function noControlCharacters(what: string): (v: string) => string | undefined {
  return (v) => (/[\u0000-\u001f\u007f]/.test(v) ? `${what} must not contain control characters (a trailing newline?)` : undefined);
}

// check-config prints the effective configuration: credentials show as "***" there.

/** A credential: check-config shows whether it is set, never its value. */
function secret(spec: OptionSpec<string>): OptionSpec<string> {
  return { ...spec, toToml: (v) => (v === "" ? '""' : '"***"') };
}

/** The url with secret query values (p=, token=, ...) masked. */
function maskedUrl(spec: OptionSpec<string>): OptionSpec<string> {
  return { ...spec, toToml: (v) => (checkUrl(v) === undefined ? tomlString(displayUrl(v)) : spec.toToml(v)) };
}

const SENSITIVE_HEADER = /authorization|token|secret|password|api-?key|cookie/i;

/** Headers with the values of credential-like names masked. */
function maskedHeaders(spec: OptionSpec<Record<string, string>>): OptionSpec<Record<string, string>> {
  return { ...spec, toToml: (m) => spec.toToml(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, SENSITIVE_HEADER.test(k) ? "***" : v]))) };
}

const options = {
  url: maskedUrl(opt.string({
    default: "",
    required: true,
    description:
      "The URL the line protocol is POSTed to, query string included: http://HOST:8086/write?db=DB (InfluxDB 1.x, " +
      "VictoriaMetrics), http://HOST:8086/api/v2/write?org=ORG&bucket=BUCKET (InfluxDB 2.x), " +
      "http://HOST:9529/v1/write/metric (DataKit). Timestamps are nanoseconds: precision, when given, must be ns (or n).",
    check: checkUrl,
  })),
  username: opt.string({
    default: "",
    description: "User for HTTP basic authentication (InfluxDB 1.x with auth-enabled, or a proxy); empty: none.",
    check: (v) => (v.includes(":") ? "username must not contain \":\" (basic authentication cannot carry it)" : noControlCharacters("username")(v)),
  }),
  password: secret(opt.string({ default: "", description: "Password for HTTP basic authentication, with username.", check: noControlCharacters("password") })),
  token: secret(opt.string({
    default: "",
    description: "API token, sent as \"Authorization: Token <token>\" (InfluxDB 2.x); empty: none. Not together with username.",
    check: noControlCharacters("token"),
  })),
  headers: maskedHeaders(opt.stringMap({
    default: {},
    description: "Extra HTTP headers sent with every write, e.g. { X-Scope-OrgID = \"team-a\" }.",
    checkKey: checkHeaderName,
  })),
  gzip: opt.boolean({ default: true, description: "Compress request bodies with gzip (Content-Encoding: gzip)." }),
  timeout: opt.duration({
    default: 10_000,
    min: 100,
    description: "Longest time one write request may take, from connecting to the end of the answer; then it fails and is retried.",
  }),
};

export type InfluxdbOptions = OptionsOf<typeof options>;

/** Checks that need more than one option; throws a ConfigError naming the problem. */
export function checkOptions(o: InfluxdbOptions): void {
  const where = `sink influxdb (${displayUrl(o.url)})`;
  if (o.token !== "" && o.username !== "") {
    throw new ConfigError(`${where}: both token and username are set; use token (Authorization: Token, InfluxDB 2.x) or username/password (basic authentication), not both`);
  }
  if (o.password !== "" && o.username === "") throw new ConfigError(`${where}: password is set without username`);
  for (const [k, v] of Object.entries(o.headers)) {
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(v)) throw new ConfigError(`${where}: headers "${k}": the value must not contain control characters`);
  }
  const auth = Object.keys(o.headers).find((k) => k.toLowerCase() === "authorization");
  if (auth && (o.token !== "" || o.username !== "")) {
    throw new ConfigError(`${where}: headers sets "${auth}" and ${o.token !== "" ? "token" : "username"} is set too; use one way to authenticate`);
  }
}

/** The headers of every write; a configured header replaces the sink's own of that name. */
function requestHeaders(o: InfluxdbOptions): Record<string, string> {
  const own: Record<string, string> = { "Content-Type": "text/plain; charset=utf-8" };
  if (o.gzip) own["Content-Encoding"] = "gzip";
  if (o.token !== "") own.Authorization = `Token ${o.token}`;
  else if (o.username !== "") own.Authorization = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString("base64")}`;
  return mergeHeaders(own, o.headers);
}

/** A refusal of points (400, 422) with how many of them the answer says were refused (see refusal.ts). */
function withRefusedCount(e: unknown, size: number): unknown {
  if (!(e instanceof SinkWriteError) || e.retry || (e.detail.status !== 400 && e.detail.status !== 422)) return e;
  const refused = refusedPoints(e.detail.response ?? "", size);
  return refused === undefined ? e : new SinkWriteError(e.message, false, { ...e.detail, refused });
}

export default defineSink({
  name: "influxdb",
  description: "Line protocol POSTed to InfluxDB 1.x/2.x, VictoriaMetrics or DataKit over HTTP",
  options,
  urlSchemes: ["influxdb+http", "influxdb+https"],
  // A network round trip per write: batches of a few thousand points, sent at least every second.
  // A network backend: accepted points wait on disk until it has them; two writes at once hide its latency.
  deliveryDefaults: { batch_points: 5000, flush_interval: 1000, durable: true, max_in_flight: 2 },
  fromUrl(url) {
    // influxdb+http://user:pass@host:8086/write?db=x -> url http://host:8086/write?db=x plus credentials.
    const u = new URL(url.href.replace(/^influxdb\+/i, ""));
    const out: Record<string, unknown> = {};
    if (u.username !== "") out.username = decodeURIComponent(u.username);
    if (u.password !== "") out.password = decodeURIComponent(u.password);
    u.username = "";
    u.password = "";
    out.url = u.href;
    return out;
  },
  create(o, ctx) {
    checkOptions(o);
    const poster = new HttpPoster({
      url: o.url,
      headers: requestHeaders(o),
      timeoutMs: o.timeout,
      // InfluxDB 1.x also gives its error in a header, useful when a proxy swallowed the body.
      wording: postWording({ errorHeader: "X-Influxdb-Error" }),
    });
    return {
      async start() {
        ctx.log.info({ url: poster.displayUrl, gzip: o.gzip, timeout: formatDuration(o.timeout) }, "influxdb sink writing line protocol over HTTP");
      },
      async write(batch) {
        const chunks = batch.lineProtocol();
        const length = batch.byteLength();
        if (length === 0) return;
        try {
          // Uncompressed, the chunks go out as they are, without being copied into one buffer.
          await poster.post(o.gzip ? await gzipAsync(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length)) : chunks);
        } catch (e) {
          throw withRefusedCount(e, batch.size);
        }
      },
      async close() {
        poster.close();
      },
    };
  },
});
