// The requests that test/integration/reference.test.ts sends both to the reference
// Pushgateway (Debian's 1.5.1) and to pushkit. Each case is one HTTP request, described by
// facts only (what it sends, and `features` naming what is special about it); which
// differences are on purpose is decided by the table at the top of the test, not here.
//
// Every push uses its own job (`ref<n>`, sometimes with a suffix), so that its group in the
// reference and its lines in pushkit's sink can be told apart from every other case's.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync, deflateSync } from "node:zlib";
import protobuf from "protobufjs";
import { compressSync } from "snappy";
import { conformanceDir } from "./conformance.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const schemaPath = path.join(repoRoot, "plugins/formats/prometheus/metrics.proto");

export type StatusClass = "accepted" | "redirected" | "rejected" | "no answer";

/** 2xx accepted, 3xx redirected, 4xx/5xx rejected (0: no answer within the timeout). */
export function statusClass(status: number): StatusClass {
  if (status >= 200 && status < 300) return "accepted";
  if (status >= 300 && status < 400) return "redirected";
  if (status >= 400) return "rejected";
  return "no answer";
}

export interface RefRequest {
  method: string;
  /** Sent byte for byte as the request target (percent-escapes, dot segments and all). */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Send the body with Transfer-Encoding: chunked in these many parts (as prom-client does). */
  chunks?: number;
}

export interface RefCase extends RefRequest {
  /** Stable and unique; the difference table refers to cases by it. */
  id: string;
  /** What the case checks, for humans. */
  note: string;
  /** The job a push is stored under when it is accepted; pushkit's lines are found by it. */
  job?: string;
  /** What is special about the request (e.g. "timestamps", "snappy"), for the difference table. */
  features: string[];
  /** Never sent to the reference, with the reason, and the class pushkit must answer. */
  pushkitOnly?: { reason: string; expect: StatusClass; message: RegExp };
  /**
   * When pushkit differs on purpose in accepting this request, the reference is also sent this
   * request (same path) to learn what pushkit must produce: e.g. the snappy body uncompressed,
   * or the body without its timestamps.
   */
  referenceEquivalent?: RefRequest;
}

// ---- Encoders --------------------------------------------------------------------------

export function b64url(s: string | Buffer): string {
  return Buffer.from(s).toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const CRC32C = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  CRC32C[n] = c >>> 0;
}

function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of data) crc = CRC32C[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The framing format's checksum: CRC-32C of the uncompressed data, rotated and offset. */
export function maskedCrc(data: Uint8Array): number {
  const c = crc32c(data);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** URL-safe base64 of s (whose length must be 1 mod 3) with the unused low bits of the last character set. */
function withTrailingBits(s: string): string {
  if (s.length % 3 !== 1) throw new Error(`withTrailingBits: length of ${JSON.stringify(s)} is not 1 mod 3`);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const b = b64url(s);
  return b.slice(0, -1) + alphabet[alphabet.indexOf(b[b.length - 1]) + 1];
}

export const SNAPPY_STREAM_ID = Buffer.from("ff060000734e61507059", "hex");

function snappyChunk(type: number, payload: Buffer): Buffer {
  const head = Buffer.from([type, payload.length & 0xff, (payload.length >> 8) & 0xff, (payload.length >> 16) & 0xff]);
  return Buffer.concat([head, payload]);
}

function crcBytes(data: Buffer, corrupt = false): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE((maskedCrc(data) ^ (corrupt ? 1 : 0)) >>> 0);
  return b;
}

/** A chunk of type 0x01: the data stored as is. */
export function snappyUncompressed(data: Buffer, corruptCrc = false): Buffer {
  return snappyChunk(0x01, Buffer.concat([crcBytes(data, corruptCrc), data]));
}

/** A chunk of type 0x00: the data as one snappy block. */
export function snappyCompressed(data: Buffer): Buffer {
  return snappyChunk(0x00, Buffer.concat([crcBytes(data), compressSync(data)]));
}

export function snappyFramed(...chunks: Buffer[]): Buffer {
  return Buffer.concat([SNAPPY_STREAM_ID, ...chunks]);
}

const MetricFamily = protobuf.loadSync(schemaPath).lookupType("io.prometheus.client.MetricFamily");

/** Delimited MetricFamily messages (objects in protobufjs' camelCase field names). */
export function delimited(...families: Record<string, unknown>[]): Buffer {
  const w = protobuf.Writer.create();
  for (const f of families) {
    const err = MetricFamily.verify(f);
    if (err) throw new Error(`bad test family ${JSON.stringify(f)}: ${err}`);
    MetricFamily.encodeDelimited(MetricFamily.fromObject(f), w);
  }
  return Buffer.from(w.finish());
}

/** One message without its length prefix. */
function message(f: Record<string, unknown>): Buffer {
  return Buffer.from(MetricFamily.encode(MetricFamily.fromObject(f)).finish());
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited field (wire type 2). */
function lenField(field: number, data: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(data.length), data]);
}

function withPrefix(msg: Buffer): Buffer {
  return Buffer.concat([varint(msg.length), msg]);
}

export const PROTO_CT = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/** The text body without sample timestamps (for the reference, which refuses them). */
export function stripTimestamps(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      const t = line.trim();
      if (t === "" || t.startsWith("#")) return line;
      // The value and timestamp follow the name or the closing brace of the labels.
      let i = 0;
      const brace = line.indexOf("{");
      if (brace >= 0) {
        let quoted = false;
        for (i = brace + 1; i < line.length; i++) {
          const c = line[i];
          if (quoted && c === "\\") i++;
          else if (c === '"') quoted = !quoted;
          else if (!quoted && c === "}") break;
        }
        i++;
      } else {
        i = line.search(/\S/);
        while (i < line.length && !/[ \t]/.test(line[i])) i++;
      }
      const rest = line.slice(i).trim().split(/[ \t]+/);
      return rest.length === 2 ? line.slice(0, i) + " " + rest[0] : line;
    })
    .join("\n");
}

// ---- The conformance corpus -----------------------------------------------------------

interface ValidJson {
  index: number;
  comment: string;
  input: string;
  legacy_validation_expectation: string;
}

interface ErrorJson {
  index: number;
  comment: string;
  input: string;
  input_bytes_hex: string | null;
}

function loadJson<T>(file: string): T[] {
  const full = path.join(conformanceDir, file);
  const data: unknown = JSON.parse(readFileSync(full, "utf8"));
  if (!Array.isArray(data) || data.length === 0) throw new Error(`${full}: expected a non-empty JSON array`);
  return data as T[];
}

// ---- The corpus -------------------------------------------------------------------------

export function buildCorpus(): RefCase[] {
  const cases: RefCase[] = [];
  const ids = new Set<string>();
  let n = 0;
  /** A fresh job name. */
  const job = (suffix = "") => `ref${n++}${suffix}`;

  const add = (c: Omit<RefCase, "features" | "headers"> & { features?: string[]; headers?: Record<string, string> }) => {
    if (ids.has(c.id)) throw new Error(`duplicate case id ${c.id}`);
    ids.add(c.id);
    cases.push({ ...c, headers: c.headers ?? {}, features: c.features ?? [] });
  };

  const text = (s: string) => Buffer.from(s, "utf8");
  // A body whose labels a grouping key may override: instance and x come from the body.
  const urlBody = text('# TYPE url_sample gauge\nurl_sample{instance="body",x="body"} 1.5\nurl_other 2\n');

  // ---- §2 URL grammar ----
  const url = (id: string, note: string, p: (j: string) => string, o: { job?: (j: string) => string | undefined; method?: string; features?: string[] } = {}) => {
    const j = job();
    add({ id: `url-${id}`, note, method: o.method ?? "PUT", path: p(j), body: urlBody, job: o.job ? o.job(j) : j, features: o.features });
  };
  url("plain", "plain job", (j) => `/metrics/job/${j}`);
  url("plain-post", "plain job, POST", (j) => `/metrics/job/${j}`, { method: "POST" });
  url("labels", "job and two labels", (j) => `/metrics/job/${j}/instance/i1/x/path`);
  url("b64-job", "base64 job without padding", (j) => `/metrics/job@base64/${b64url(j)}`);
  url("b64-job-pad1", "base64 job, one =", (j) => `/metrics/job@base64/${b64url(j + "ab")}=`, { job: (j) => j + "ab" });
  url("b64-job-pad2", "base64 job, two =", (j) => `/metrics/job@base64/${b64url(j + "a")}==`, { job: (j) => j + "a" });
  url("b64-job-pad-extra", "base64 job, more = than needed", (j) => `/metrics/job@base64/${b64url(j + "a")}====`, { job: (j) => j + "a" });
  url("b64-job-full-pad", "base64 job with its proper padding", (j) => `/metrics/job@base64/${Buffer.from(j + "a").toString("base64")}`, { job: (j) => j + "a" });
  url("b64-job-slash", "base64 job holding /", (j) => `/metrics/job@base64/${b64url(j + "/var/tmp")}`, { job: (j) => j + "/var/tmp" });
  url("b64-job-urlsafe", "base64 job in the URL-safe alphabet (- and _)", (j) => `/metrics/job@base64/${b64url(j + "?>?>")}`, { job: (j) => j + "?>?>" });
  url("b64-job-unicode", "base64 job, non-ASCII", (j) => `/metrics/job@base64/${b64url(j + "Προμηθεύς")}`, { job: (j) => j + "Προμηθεύς" });
  url("b64-job-labels", "base64 job followed by labels", (j) => `/metrics/job@base64/${b64url(j)}/instance/i2`);
  url("b64-job-trailing-bits", "base64 job with non-zero trailing bits", (j) => `/metrics/job@base64/${withTrailingBits(j + "xx".slice(0, (4 - (j.length % 3)) % 3))}`, { job: (j) => j + "xx".slice(0, (4 - (j.length % 3)) % 3) });
  url("b64-label", "base64 label value", (j) => `/metrics/job/${j}/x@base64/${b64url("a/b")}`);
  url("b64-label-pad", "base64 label value with padding", (j) => `/metrics/job/${j}/x@base64/YQ==`);
  url("b64-label-trailing-bits", "base64 label, non-zero trailing bits (YR)", (j) => `/metrics/job/${j}/x@base64/YR`);
  url("b64-label-urlsafe", "base64 label in the URL-safe alphabet (Pz8_ = ???)", (j) => `/metrics/job/${j}/x@base64/Pz8_`);
  url("b64-label-empty-eq", "base64 label = (empty value)", (j) => `/metrics/job/${j}/x@base64/=`);
  url("b64-label-empty-eqs", "base64 label === (empty value)", (j) => `/metrics/job/${j}/x@base64/===`);
  url("b64-label-empty-trailing", "base64 label with nothing after it (trailing slash)", (j) => `/metrics/job/${j}/x@base64/`);
  url("b64-label-unicode", "base64 label, non-ASCII", (j) => `/metrics/job/${j}/x@base64/${b64url("zoë €")}`);
  url("b64-label-instance", "base64 instance", (j) => `/metrics/job/${j}/instance@base64/${b64url("host:9100")}`);
  url("b64-label-std-plus", "base64 label in the standard alphabet (+)", (j) => `/metrics/job/${j}/x@base64/Pz8+`);
  url("b64-label-std-slash", "base64 label in the standard alphabet (/, percent-encoded)", (j) => `/metrics/job/${j}/x@base64/Pz8%2F`);
  url("b64-label-len1mod4", "base64 label of length 1 mod 4", (j) => `/metrics/job/${j}/x@base64/Y`);
  url("b64-label-len5", "base64 label of length 5", (j) => `/metrics/job/${j}/x@base64/YWJjZ`);
  url("b64-label-inner-eq", "base64 label with = inside", (j) => `/metrics/job/${j}/x@base64/Y=Q`);
  url("b64-label-bang", "base64 label !!!", (j) => `/metrics/job/${j}/x@base64/!!!`);
  url("b64-label-space", "base64 label with a percent-encoded space", (j) => `/metrics/job/${j}/x@base64/YW%20I`);
  url("b64-name-typo", "x@base6 is a label name, not a base64 marker", (j) => `/metrics/job/${j}/x@base6/YQ`);
  url("b64-name-upper", "x@BASE64 is a label name", (j) => `/metrics/job/${j}/x@BASE64/YQ`);
  url("b64-job-name-upper", "job@BASE64 is not a route", (j) => `/metrics/job@BASE64/${b64url(j)}`);
  url("b64-job-empty-eq", "base64 job = (empty job)", () => `/metrics/job@base64/=`, { job: () => undefined });
  url("b64-job-empty-eqs", "base64 job == (empty job)", () => `/metrics/job@base64/==`, { job: () => undefined });
  url("b64-job-missing", "job@base64/ with nothing after it", () => `/metrics/job@base64/`, { job: () => undefined });
  url("empty-job", "/metrics/job/ (empty job)", () => `/metrics/job/`, { job: () => undefined });
  url("empty-job-post", "/metrics/job/ (empty job), POST", () => `/metrics/job/`, { job: () => undefined, method: "POST" });
  url("no-job", "/metrics/job", () => `/metrics/job`, { job: () => undefined });
  url("jobs", "/metrics/jobs/...", (j) => `/metrics/jobs/${j}`, { job: () => undefined });
  url("odd-1", "odd number of components (one label name)", (j) => `/metrics/job/${j}/instance`);
  url("odd-3", "odd number of components (three)", (j) => `/metrics/job/${j}/a/b/c`);
  url("trailing-slash-job", "trailing slash after the job", (j) => `/metrics/job/${j}/`);
  url("trailing-slash-name", "trailing slash after a label name: empty value", (j) => `/metrics/job/${j}/instance/`);
  url("trailing-slash-name-x", "trailing slash after label x: empty value (the body's x stays?)", (j) => `/metrics/job/${j}/x/`);
  url("trailing-slash-value", "trailing slash after a label value", (j) => `/metrics/job/${j}/a/b/`);
  url("double-slash-job", "empty segment after the job", (j) => `/metrics/job/${j}//a/b`, { features: ["empty-segment"] });
  url("double-slash-end", "two trailing slashes", (j) => `/metrics/job/${j}/a/b//`, { features: ["empty-segment"] });
  url("double-slash-before-job", "empty job segment", (j) => `/metrics/job//${j}`, { features: ["empty-segment"], job: () => undefined });
  url("double-slash-prefix", "empty segment before job", (j) => `/metrics//job/${j}`, { features: ["empty-segment"] });
  url("dot-segment", "a /./ segment, sent raw", (j) => `/metrics/job/${j}/./a/b`, { features: ["dot-segment"] });
  url("dotdot-segment", "a /../ segment, sent raw", (j) => `/metrics/job/${j}/a/b/../c/d`, { features: ["dot-segment"] });
  url("improper-eq", "label name a=b", (j) => `/metrics/job/${j}/a=b/c`);
  url("improper-digit", "label name starting with a digit", (j) => `/metrics/job/${j}/1x/y`);
  url("improper-space", "label name with a space", (j) => `/metrics/job/${j}/x%20y/z`);
  url("improper-dash", "label name with a dash", (j) => `/metrics/job/${j}/x-y/z`);
  url("improper-dunder", "label name starting with __", (j) => `/metrics/job/${j}/__x/y`);
  url("improper-name", "label name __name__", (j) => `/metrics/job/${j}/__name__/y`);
  url("improper-unicode", "non-ASCII label name", (j) => `/metrics/job/${j}/%C3%A9t%C3%A9/y`);
  url("improper-b64-dunder", "base64 label named __x", (j) => `/metrics/job/${j}/__x@base64/YQ`);
  url("legal-underscore", "label name _x", (j) => `/metrics/job/${j}/_x/y`);
  url("legal-upper-digits", "label name X1_a", (j) => `/metrics/job/${j}/X1_a/y`);
  url("legal-le", "label le in the path", (j) => `/metrics/job/${j}/le/1`);
  url("legal-quantile", "label quantile in the path", (j) => `/metrics/job/${j}/quantile/0.5`);
  url("job-label", "a job label in the path is overridden by the job", (j) => `/metrics/job/${j}/job/other`);
  url("job-label-b64", "a base64 job label in the path is overridden", (j) => `/metrics/job/${j}/job@base64/${b64url("other")}`);
  url("dup-label", "duplicate label: the last wins", (j) => `/metrics/job/${j}/a/1/a/2`);
  url("dup-label-b64", "duplicate label, one base64: the last wins", (j) => `/metrics/job/${j}/a@base64/${b64url("one")}/a/two`);
  url("dup-instance", "duplicate instance", (j) => `/metrics/job/${j}/instance/i/instance/k`);
  url("pct-name", "percent-encoded label name (%78 = x)", (j) => `/metrics/job/${j}/%78/y`);
  url("pct-slash-value", "%2F in a value splits it", (j) => `/metrics/job/${j}/x/a%2Fb`);
  url("pct-slash-job", "%2F in the job splits it", (j) => `/metrics/job/${j}%2Fx`);
  url("pct-space-job", "percent-encoded space in the job", (j) => `/metrics/job/${j}%20x`, { job: (j) => j + " x" });
  url("pct-value-space", "percent-encoded space and comma in a value", (j) => `/metrics/job/${j}/x/a%20b%2Cc`);
  url("pct-value-percent", "%25 in a value", (j) => `/metrics/job/${j}/x/100%25`);
  url("pct-value-utf8", "percent-encoded UTF-8 (€)", (j) => `/metrics/job/${j}/x/%E2%82%AC`);
  url("pct-value-plus", "+ in a value stays +", (j) => `/metrics/job/${j}/x/a+b`);
  url("pct-value-equals", "= in a value", (j) => `/metrics/job/${j}/x/a=b`);
  url("pct-value-bad", "bad percent-escape %zz", (j) => `/metrics/job/${j}/x/%zz`);
  url("pct-value-short", "truncated percent-escape %2", (j) => `/metrics/job/${j}/x/%2`);
  url("pct-value-invalid-utf8", "percent-encoded invalid UTF-8 (%FF) in a value", (j) => `/metrics/job/${j}/x/%FF`);
  url("b64-label-invalid-utf8", "base64 label decoding to invalid UTF-8 (0xff)", (j) => `/metrics/job/${j}/x@base64/_w`);
  url("pct-job-invalid-utf8", "percent-encoded invalid UTF-8 (%FF) in the job", (j) => `/metrics/job/${j}%FF`, { job: () => undefined });
  url("b64-job-invalid-utf8", "base64 job decoding to invalid UTF-8", (j) => `/metrics/job@base64/${b64url(Buffer.concat([Buffer.from(j), Buffer.from([0xff])]))}`, { job: () => undefined });
  url("pct-b64-job", "percent-encoded base64 job", (j) => `/metrics/job@base64/${b64url(j).replace(/./g, (c) => "%" + c.charCodeAt(0).toString(16))}`);
  url("query", "query string is ignored", (j) => `/metrics/job/${j}?x=1`);
  url("query-job", "query string naming another job", (j) => `/metrics/job/${j}/a/b?job=other&x=y`);
  url("query-empty", "empty query string", (j) => `/metrics/job/${j}?`);
  url("query-b64", "query string after a base64 job", (j) => `/metrics/job@base64/${b64url(j)}?a=b`);
  url("fragment-like", "percent-encoded # in a value", (j) => `/metrics/job/${j}/x/a%23b`);
  url("long-value", "a 2000-character label value", (j) => `/metrics/job/${j}/x/${"v".repeat(2000)}`);

  // Invalid base64 in the job deadlocks the job@base64 route of 1.5.1: pushkit only.
  for (const [id, b64] of [
    ["bang", "!!!"],
    ["std-plus", "Pz8+"],
    ["len1mod4", "Y"],
  ] as const) {
    const j = job();
    add({
      id: `url-b64-job-invalid-${id}`,
      note: `invalid base64 job ${b64}`,
      method: "PUT",
      path: `/metrics/job@base64/${b64}/x/${j}`,
      body: urlBody,
      features: ["invalid-base64-job"],
      pushkitOnly: { reason: "reference 1.5.1 deadlocks its job@base64 route after this request", expect: "rejected", message: /^invalid base64 encoding in job name/ },
    });
  }

  // ---- Methods ----
  const method = (id: string, m: string, note: string, o: { body?: Buffer; path?: (j: string) => string; job?: boolean } = {}) => {
    const j = job();
    add({ id: `method-${id}`, note, method: m, path: o.path ? o.path(j) : `/metrics/job/${j}`, body: o.body, job: o.job ? j : undefined });
  };
  method("get", "GET", "GET on a push path");
  method("head", "HEAD", "HEAD on a push path");
  method("patch", "PATCH", "PATCH on a push path", { body: text("a_b 1\n") });
  method("options", "OPTIONS", "OPTIONS on a push path");
  method("trace", "TRACE", "TRACE on a push path");
  method("delete", "DELETE", "DELETE of a group that does not exist");
  method("delete-labels", "DELETE", "DELETE with labels", { path: (j) => `/metrics/job/${j}/instance/i` });
  method("delete-body", "DELETE", "DELETE with a body (ignored)", { body: text("not even a metric\n") });
  method("delete-odd", "DELETE", "DELETE with an odd number of components", { path: (j) => `/metrics/job/${j}/instance` });
  method("delete-b64", "DELETE", "DELETE with a base64 job", { path: (j) => `/metrics/job@base64/${b64url(j)}` });
  method("delete-empty-job", "DELETE", "DELETE of /metrics/job/", { path: () => `/metrics/job/` });
  method("put-empty", "PUT", "PUT with an empty body", { body: Buffer.alloc(0), job: true });
  method("post-empty", "POST", "POST with an empty body", { body: Buffer.alloc(0), job: true });
  method("put-nobody", "PUT", "PUT without any body", { job: true });
  method("get-metrics-prefix", "PUT", "PUT to /metrics (not a push path)", { path: () => `/metrics`, body: text("a_b 1\n") });

  // ---- Conformance corpus bodies, as text ----
  for (const c of loadJson<ValidJson>("text-valid.json")) {
    const j = job();
    // Bodies that fail anyway (legacy name validation) fail before their timestamps matter.
    const stripped = c.legacy_validation_expectation.startsWith("error") ? c.input : stripTimestamps(c.input);
    add({
      id: `conf-valid-${c.index}`,
      note: `text-valid.json #${c.index}: ${c.comment}`,
      method: "PUT",
      path: `/metrics/job/${j}`,
      body: text(c.input),
      job: j,
      features: stripped !== c.input ? ["timestamps"] : [],
      referenceEquivalent: stripped !== c.input ? { method: "PUT", path: `/metrics/job/${j}`, headers: {}, body: text(stripped) } : undefined,
    });
  }
  for (const c of loadJson<ErrorJson>("text-errors.json")) {
    const j = job();
    add({
      id: `conf-error-${c.index}`,
      note: `text-errors.json #${c.index}: ${c.comment}`,
      method: "PUT",
      path: `/metrics/job/${j}`,
      body: c.input_bytes_hex !== null ? Buffer.from(c.input_bytes_hex, "hex") : text(c.input),
      job: j,
    });
  }

  // ---- Bodies ----
  const body = (id: string, note: string, b: Buffer, o: { features?: string[]; headers?: Record<string, string>; method?: string; equivalent?: Buffer; chunks?: number } = {}) => {
    const j = job();
    add({
      id: `body-${id}`,
      note,
      method: o.method ?? "PUT",
      path: `/metrics/job/${j}/instance/i`,
      headers: o.headers,
      body: b,
      chunks: o.chunks,
      job: j,
      features: o.features,
      referenceEquivalent: o.equivalent
        ? { method: o.method ?? "PUT", path: `/metrics/job/${j}/instance/i`, headers: Object.fromEntries(Object.entries(o.headers ?? {}).filter(([k]) => k.toLowerCase() !== "content-encoding")), body: o.equivalent }
        : undefined,
    });
  };
  const allTypes =
    "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n" +
    'http_requests_total{code="200",method="get"} 1027\nhttp_requests_total{code="400",method="post"} 3\n' +
    "# TYPE temp_celsius gauge\ntemp_celsius{room=\"a b,c=d\"} -3.5\ntemp_celsius{room=\"x\\\\y\\\"z\\n\"} 1e-7\n" +
    "# TYPE rpc_seconds summary\nrpc_seconds{quantile=\"0.5\"} 0.05\nrpc_seconds{quantile=\"0.99\"} 0.25\nrpc_seconds_sum 17.5\nrpc_seconds_count 200\n" +
    '# TYPE lat_seconds histogram\nlat_seconds_bucket{le="0.1"} 3\nlat_seconds_bucket{le="1.0"} 5\nlat_seconds_bucket{le="1e+06"} 6\nlat_seconds_bucket{le="+Inf"} 7\nlat_seconds_sum 3.25\nlat_seconds_count 7\n' +
    "some_untyped 42\nsingle 1\n_leading_underscore 2\ntrailing_ 3\n";
  body("all-types", "every metric type, escapes in label values", text(allTypes));
  body("all-types-post", "every metric type, POST", text(allTypes), { method: "POST" });
  body("chunked", "a chunked body without Content-Type (prom-client)", text(allTypes), { chunks: 4 });
  body("nan-inf", "NaN and infinite values are skipped", text("# TYPE g gauge\ng_nan NaN\ng_inf +Inf\ng_neg_inf -Inf\ng_ok 1\n# TYPE s summary\ns{quantile=\"0.5\"} NaN\ns{quantile=\"0.9\"} 2\ns_sum NaN\ns_count 3\n"));
  body("values", "value spellings", text("v_a 1e3\nv_b .5\nv_c +1\nv_d -0\nv_e 0.1\nv_f 123456789012345680000\nv_g 1.7976931348623157e308\nv_h 5e-324\nv_i Inf\n"));
  body("only-comments", "comments and blank lines only", text("# just a comment\n\n# another\n"));
  body("blank-lines", "blank lines between samples", text("\n\nb_one 1\n\n\nb_two 2\n\n"));
  body("blanks", "tabs and blanks around labels", text('bl_x \t{ a = "1" , b="2", }\t 5\n'));
  body("type-case", "TYPE in upper case", text("# TYPE tc_x COUNTER\ntc_x 1\n"));
  body("interleaved", "interleaved families", text('il_a{x="1"} 1\nil_b 2\nil_a{x="2"} 3\n'));
  body("job-instance-labels", "job and instance labels in the body", text('jl_x{job="body",instance="body"} 1\n'));
  body("le-quantile-labels", "le and quantile labels on a gauge", text('lq_x{le="1",quantile="0.5"} 1\n'));
  body("tag-field-clash", "a label with the key of the field", text('clash_value{value="tag"} 1\nclash_count{count_count="a"} 2\n'));
  body("histogram-no-inf", "text histogram without +Inf bucket", text('# TYPE hn histogram\nhn_bucket{le="1"} 1\nhn_bucket{le="2"} 2\nhn_sum 3\nhn_count 2\n'));
  body("summary-no-quantiles", "summary with only sum and count", text("# TYPE sq summary\nsq_sum 1\nsq_count 2\n"));
  body("summary-labels", "summary with labels and quantile spellings", text('# TYPE sl summary\nsl{a="1",quantile="0.50"} 1\nsl{a="1",quantile="1e-2"} 2\nsl{a="2",quantile="0.5"} 3\nsl_sum{a="1"} 9\nsl_count{a="1"} 4\nsl_sum{a="2"} 9\nsl_count{a="2"} 1\n'));
  body("many-samples", "2,000 samples (parsed in a worker)", text(Array.from({ length: 2000 }, (_, i) => `ms_value{i="${i}",pad="${"p".repeat(80)}"} ${i}`).join("\n") + "\n"));
  body("crlf", "CRLF line ends", text("crlf_x 1\r\n"));
  body("no-newline", "no final newline", text("nn_x 1"));
  body("nul", "a NUL byte", Buffer.from("nul_x 1\n\0\n"));
  body("binary", "binary garbage", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]));
  body("bom", "a UTF-8 byte order mark", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text("bom_x 1\n")]));
  body("json", "a JSON body", text('{"metric":"x","value":1}\n'));
  body("invalid-utf8-value", "invalid UTF-8 in a label value", Buffer.from('iu_x{a="\xff"} 1\n', "latin1"));
  body("long-line", "a 100,000-character label value", text(`ll_x{a="${"a".repeat(100_000)}"} 1\n`));
  body("timestamps", "samples with timestamps", text("ts_a 1 1700000000000\nts_b 2 1700000000001\n"), { features: ["timestamps"], equivalent: text("ts_a 1\nts_b 2\n") });
  body("timestamp-zero", "a zero timestamp", text("tz_a 1 0\n"), { features: ["timestamps"], equivalent: text("tz_a 1\n") });
  body("timestamp-negative", "a negative timestamp", text("tn_a 1 -5\n"), { features: ["timestamps"], equivalent: text("tn_a 1\n") });
  body("dup-series", "the same series twice", text("ds_x 1\nds_x 2\n"), { features: ["duplicate-series"] });
  body("dup-series-labels", "the same labelled series twice", text('dl_x{a="1"} 1\ndl_x{b="2"} 1\ndl_x{a="1"} 2\n'), { features: ["duplicate-series"] });
  body("dup-series-summary", "a summary's series twice", text('# TYPE dss summary\ndss{quantile="0.5"} 1\ndss_sum 1\ndss_count 1\ndss_sum 2\n'));
  body("dup-quantile", "the same quantile twice", text('# TYPE dq summary\ndq{quantile="0.5"} 1\ndq{quantile="0.5"} 2\ndq_count 1\ndq_sum 3\n'));
  body("content-type-text", "explicit text/plain; version=0.0.4", text(allTypes), { headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" } });
  body("content-type-json", "application/json Content-Type, text body", text("ctj_x 1\n"), { headers: { "Content-Type": "application/json" } });
  body("content-type-bad", "unparsable Content-Type, text body", text("ctb_x 1\n"), { headers: { "Content-Type": "not a media type;;" } });

  // ---- Content-Encoding ----
  const plain = text("# TYPE enc_value gauge\nenc_value{k=\"v\"} 7\nenc_other 8\n");
  const gz = gzipSync(plain);
  const enc = (id: string, note: string, encoding: string | undefined, b: Buffer, o: { features?: string[]; equivalent?: Buffer } = {}) =>
    body(`enc-${id}`, note, b, { headers: encoding === undefined ? {} : { "Content-Encoding": encoding }, features: o.features, equivalent: o.equivalent });
  enc("gzip", "gzip", "gzip", gz);
  enc("gzip-blanks", "gzip with blanks around it", " gzip ", gz);
  enc("gzip-upper", "GZIP (upper case) with a gzip body", "GZIP", gz, { features: ["gzip-not-lowercase"], equivalent: plain });
  enc("gzip-mixed-plain", "Gzip (mixed case) with a plain body", "Gzip", plain, { features: ["gzip-not-lowercase"] });
  enc("gzip-corrupt", "gzip with a plain body", "gzip", plain);
  enc("gzip-truncated", "gzip cut in half", "gzip", gz.subarray(0, gz.length >> 1));
  enc("gzip-bad-crc", "gzip with a corrupt trailer", "gzip", Buffer.concat([gz.subarray(0, gz.length - 8), Buffer.from([1, 2, 3, 4]), gz.subarray(gz.length - 4)]));
  enc("gzip-empty", "gzip of nothing", "gzip", gzipSync(Buffer.alloc(0)));
  enc("gzip-members", "two gzip members", "gzip", Buffer.concat([gzipSync("gm_a 1\n"), gzipSync("gm_b 2\n")]));
  enc("gzip-trailing-garbage", "gzip followed by garbage", "gzip", Buffer.concat([gz, text("garbage")]));
  enc("gzip-double", "gzip of gzip", "gzip", gzipSync(gz));
  enc("gzip-text-error", "gzip of a bad text body", "gzip", gzipSync('bad{x="y" 1\n'));
  enc("identity", "identity", "identity", plain);
  enc("identity-upper", "IDENTITY", "IDENTITY", plain);
  enc("empty", "an empty Content-Encoding", "", plain);
  for (const e of ["br", "deflate", "x-foo", "compress", "x-gzip", "gzip, identity", "*"]) {
    enc(`unknown-${e.replace(/[^a-z]+/g, "-")}`, `unknown encoding ${JSON.stringify(e)}, plain body`, e, plain, { features: ["unknown-encoding"] });
  }
  enc("deflate-body", "deflate with a deflate body", "deflate", deflateSync(plain), { features: ["unknown-encoding-on-binary"] });
  const snappyBody = snappyFramed(snappyUncompressed(plain));
  enc("snappy-stored", "snappy, one uncompressed chunk", "snappy", snappyBody, { features: ["snappy"], equivalent: plain });
  enc("snappy-compressed", "snappy, one compressed chunk", "snappy", snappyFramed(snappyCompressed(plain)), { features: ["snappy"], equivalent: plain });
  const part1 = plain.subarray(0, 20);
  const part2 = plain.subarray(20);
  enc(
    "snappy-chunks",
    "snappy, compressed + padding + skippable + stored chunks",
    "snappy",
    snappyFramed(snappyCompressed(part1), snappyChunk(0xfe, Buffer.alloc(7)), snappyChunk(0x80, text("skip me")), snappyUncompressed(part2)),
    { features: ["snappy"], equivalent: plain },
  );
  const big = text(Array.from({ length: 2500 }, (_, i) => `sl_value{i="${i}",pad="${"q".repeat(60)}"} ${i}`).join("\n") + "\n");
  const bigChunks: Buffer[] = [];
  for (let i = 0; i < big.length; i += 65536) bigChunks.push(snappyCompressed(big.subarray(i, i + 65536)));
  enc("snappy-large", "snappy, a 200 KB body in 64 KiB chunks", "snappy", snappyFramed(...bigChunks), { features: ["snappy"], equivalent: big });
  enc("snappy-upper", "SNAPPY (upper case)", "SNAPPY", snappyBody, { features: ["snappy"], equivalent: plain });
  enc("snappy-empty-stream", "snappy, only the stream identifier", "snappy", SNAPPY_STREAM_ID, { features: ["snappy"], equivalent: Buffer.alloc(0) });
  enc("snappy-bad-crc", "snappy with a wrong checksum", "snappy", snappyFramed(snappyUncompressed(plain, true)), { features: ["snappy-invalid"] });
  enc("snappy-no-stream-id", "snappy chunk without the stream identifier", "snappy", snappyUncompressed(plain), { features: ["snappy-invalid"] });
  enc("snappy-raw-block", "a raw snappy block (remote-write style), not framed", "snappy", compressSync(plain), { features: ["snappy-invalid"] });
  enc("snappy-plain-body", "snappy with a plain text body", "snappy", plain, { features: ["snappy-on-plain-text"] });
  enc("snappy-reserved-chunk", "snappy with an unskippable reserved chunk type", "snappy", snappyFramed(snappyChunk(0x02, text("x")), snappyUncompressed(plain)), { features: ["snappy-invalid"] });
  enc("snappy-truncated", "snappy stream cut short", "snappy", snappyBody.subarray(0, snappyBody.length - 5), { features: ["snappy-invalid"] });
  enc("snappy-text-error", "snappy of a bad text body", "snappy", snappyFramed(snappyUncompressed(text('bad{x="y" 1\n'))), { features: ["snappy-invalid"] });

  // ---- Size limits (the test configures pushkit with max_body_bytes 256 KiB, max_decompressed_bytes 1 MiB) ----
  const padding = (bytes: number) => "# padding padding padding padding padding padding padding padding\n".repeat(Math.ceil(bytes / 67));
  body("size-body", "a 300 KB body (over max_body_bytes)", text(padding(300_000) + "sz_a 1\n"), { features: ["over-size-limit"] });
  body("size-decompressed", "a gzip body of 2 MB decompressed (over max_decompressed_bytes)", gzipSync(padding(2_000_000) + "sz_b 1\n"), {
    headers: { "Content-Encoding": "gzip" },
    features: ["over-size-limit"],
  });
  body("size-under", "a gzip body of 900 KB decompressed (under the limits)", gzipSync(padding(900_000) + "sz_c 1\n"), { headers: { "Content-Encoding": "gzip" } });

  // ---- Protobuf ----
  const pb = (id: string, note: string, b: Buffer, o: { ct?: string; features?: string[]; equivalent?: Buffer; method?: string; encoding?: string } = {}) =>
    body(`pb-${id}`, note, b, {
      headers: { "Content-Type": o.ct ?? PROTO_CT, ...(o.encoding ? { "Content-Encoding": o.encoding } : {}) },
      features: ["protobuf", ...(o.features ?? [])],
      method: o.method,
      equivalent: o.equivalent,
    });
  const counter = { name: "pb_requests_total", help: "Requests.", type: 0, metric: [{ label: [{ name: "code", value: "200" }], counter: { value: 1027 } }, { label: [{ name: "code", value: "500" }], counter: { value: 3 } }] };
  const gauge = { name: "pb_temperature", type: 1, metric: [{ label: [{ name: "room", value: "a b,c=d" }], gauge: { value: -3.5 } }] };
  const untyped = { name: "pb_untyped", type: 3, metric: [{ untyped: { value: 42 } }] };
  const summary = { name: "pb_rpc_seconds", type: 2, metric: [{ summary: { sampleCount: 200, sampleSum: 17.5, quantile: [{ quantile: 0.5, value: 0.05 }, { quantile: 0.99, value: 0.25 }, { quantile: 1e-5, value: 0.01 }] } }] };
  const histogram = {
    name: "pb_latency_seconds",
    type: 4,
    metric: [{ histogram: { sampleCount: 7, sampleSum: 3.25, bucket: [{ upperBound: 0.1, cumulativeCount: 3 }, { upperBound: 1, cumulativeCount: 5 }, { upperBound: Infinity, cumulativeCount: 7 }] } }],
  };
  const histogramNoInf = { name: "pb_size_bytes", type: 4, metric: [{ histogram: { sampleCount: 9, sampleSum: 1000, bucket: [{ upperBound: 100, cumulativeCount: 4 }, { upperBound: 1e6, cumulativeCount: 8 }] } }] };
  const all = delimited(counter, gauge, untyped, summary, histogram);
  pb("counter", "counter with labels and help", delimited(counter));
  pb("gauge", "gauge", delimited(gauge));
  pb("untyped", "untyped", delimited(untyped));
  pb("summary", "summary", delimited(summary));
  pb("histogram", "histogram with an explicit +Inf bucket", delimited(histogram));
  pb("histogram-implied-inf", "histogram without +Inf bucket (implied, as client_golang sends it)", delimited(histogramNoInf), { features: ["protobuf-implied-inf"] });
  pb("several", "five families", all);
  pb("several-post", "five families, POST", all, { method: "POST" });
  pb("repeated-name", "the same family name twice: the last wins", delimited({ name: "pb_rep", type: 1, metric: [{ gauge: { value: 1 } }] }, { name: "pb_rep", type: 1, metric: [{ label: [{ name: "x", value: "y" }], gauge: { value: 2 } }] }));
  pb("empty", "an empty body", Buffer.alloc(0));
  pb("empty-family", "a family without metrics", delimited({ name: "pb_nothing", type: 1 }));
  pb("nan-inf", "NaN and infinite values", delimited({ name: "pb_nan", type: 1, metric: [{ label: [{ name: "a", value: "1" }], gauge: { value: NaN } }, { label: [{ name: "a", value: "2" }], gauge: { value: -Infinity } }, { label: [{ name: "a", value: "3" }], gauge: { value: 0 } }] }, { name: "pb_nan_summary", type: 2, metric: [{ summary: { sampleCount: 1, sampleSum: NaN, quantile: [{ quantile: 0.5, value: NaN }] } }] }));
  pb("labels", "job, instance, le and quantile labels in a family", delimited({ name: "pb_labelled", type: 1, metric: [{ label: [{ name: "job", value: "body" }, { name: "instance", value: "body" }, { name: "le", value: "x" }, { name: "zz", value: "" }], gauge: { value: 1 } }] }));
  pb("exemplar", "counter with an exemplar", delimited({ name: "pb_ex_total", type: 0, metric: [{ counter: { value: 5, exemplar: { label: [{ name: "trace_id", value: "abc" }], value: 1 } } }] }));
  pb("unit", "family with a unit (unknown to 1.5.1)", delimited({ name: "pb_with_unit_seconds", type: 1, unit: "seconds", metric: [{ gauge: { value: 1 } }] }));
  pb("unknown-field", "message with an unknown field", Buffer.concat([withPrefix(Buffer.concat([message({ name: "pb_unknown_field", type: 1, metric: [{ gauge: { value: 1 } }] }), lenField(99, text("ignored"))]))]));
  pb("timestamp", "a metric with timestamp_ms", delimited({ name: "pb_ts", type: 1, metric: [{ gauge: { value: 1 }, timestampMs: 1700000000000 }] }), { features: ["timestamps"], equivalent: delimited({ name: "pb_ts", type: 1, metric: [{ gauge: { value: 1 } }] }) });
  pb("gauge-histogram", "a gauge histogram", delimited({ name: "pb_gh", type: 5, metric: [{ histogram: { sampleCount: 5, sampleSum: 2.5, bucket: [{ upperBound: 1, cumulativeCount: 2 }, { upperBound: Infinity, cumulativeCount: 5 }] } }] }), { features: ["gauge-histogram"] });
  pb("float-histogram", "a histogram with float counts", delimited({ name: "pb_fh", type: 4, metric: [{ histogram: { sampleCountFloat: 5.5, sampleSum: 2.5, bucket: [{ upperBound: 1, cumulativeCountFloat: 2.5 }, { upperBound: Infinity, cumulativeCountFloat: 5.5 }] } }] }), { features: ["float-histogram"] });
  pb("native-histogram", "a native histogram", delimited({ name: "pb_nh", type: 4, metric: [{ histogram: { sampleCount: 4, sampleSum: 10, schema: 0, zeroThreshold: 1e-128, zeroCount: 1, positiveSpan: [{ offset: 1, length: 2 }], positiveDelta: [1, 1] } }] }), { features: ["native-histogram"] });
  pb("invalid-name", "invalid metric name", delimited({ name: "pb-bad", type: 1, metric: [{ gauge: { value: 1 } }] }));
  pb("empty-name", "an empty message (no name)", Buffer.from([0]));
  pb("invalid-label-name", "invalid label name", delimited({ name: "pb_bad_label", type: 1, metric: [{ label: [{ name: "a-b", value: "1" }], gauge: { value: 1 } }] }));
  pb("dunder-label-name", "label name starting with __", delimited({ name: "pb_dunder", type: 1, metric: [{ label: [{ name: "__x", value: "1" }], gauge: { value: 1 } }] }));
  pb("dup-label-name", "the same label twice in a metric", delimited({ name: "pb_dup_label", type: 1, metric: [{ label: [{ name: "a", value: "1" }, { name: "a", value: "2" }], gauge: { value: 1 } }] }));
  pb("invalid-utf8-label", "invalid UTF-8 in a label value", withPrefix(Buffer.concat([
    lenField(1, text("pb_utf8")),
    Buffer.from([0x18, 0x01]),
    lenField(4, Buffer.concat([lenField(1, Buffer.concat([lenField(1, text("a")), lenField(2, Buffer.from([0xff, 0xfe]))])), lenField(2, Buffer.from([0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]))])),
  ])));
  pb("type-mismatch", "COUNTER family with a gauge value", delimited({ name: "pb_mismatch", type: 0, metric: [{ gauge: { value: 1 } }] }));
  pb("no-value", "GAUGE metric without a value", delimited({ name: "pb_no_value", type: 1, metric: [{ label: [{ name: "a", value: "1" }] }] }));
  pb("unknown-type", "unknown MetricType 9", withPrefix(Buffer.concat([lenField(1, text("pb_unknown_type")), Buffer.from([0x18, 0x09]), message({ metric: [{ gauge: { value: 1 } }] })])));
  pb("dup-series", "the same series twice in a family", delimited({ name: "pb_dup", type: 1, metric: [{ gauge: { value: 1 } }, { gauge: { value: 2 } }] }), { features: ["duplicate-series"] });
  pb("truncated", "a truncated message", all.subarray(0, all.length - 10));
  pb("truncated-prefix", "a body ending inside a length prefix", Buffer.concat([delimited(gauge), Buffer.from([0x80])]));
  pb("length-too-large", "a length prefix larger than the rest", Buffer.concat([varint(500), message(gauge)]));
  pb("overlong-varint", "an 11-byte varint length", Buffer.concat([Buffer.alloc(10, 0xff), Buffer.from([0x01]), message(gauge)]));
  pb("garbage", "garbage bytes", Buffer.from("0badf00ddeadbeef0102030405060708", "hex"));
  pb("text-body", "a text body with the protobuf Content-Type", text("pb_text 1\n"));
  pb("gzip", "gzip of a protobuf body", gzipSync(all), { encoding: "gzip" });
  pb("snappy", "snappy of a protobuf body", snappyFramed(snappyCompressed(all)), { encoding: "snappy", features: ["snappy"], equivalent: all });

  // Content-Type spellings that select protobuf, and near misses that fall back to text.
  const ctCases: [string, string][] = [
    ["ct-upper", "APPLICATION/VND.GOOGLE.PROTOBUF; PROTO=io.prometheus.client.MetricFamily; ENCODING=delimited"],
    ["ct-order", "application/vnd.google.protobuf; encoding=delimited; proto=io.prometheus.client.MetricFamily"],
    ["ct-quoted", 'application/vnd.google.protobuf; proto="io.prometheus.client.MetricFamily"; encoding="delimited"'],
    ["ct-blanks", "application/vnd.google.protobuf ;proto=io.prometheus.client.MetricFamily;   encoding=delimited"],
    ["ct-extra-param", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; charset=utf-8"],
    ["ct-no-blanks", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"],
    ["ct-trailing-semicolon", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited;"],
    ["near-encoding-text", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text"],
    ["near-no-encoding", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily"],
    ["near-no-proto", "application/vnd.google.protobuf; encoding=delimited"],
    ["near-other-proto", "application/vnd.google.protobuf; proto=io.prometheus.client.Metric; encoding=delimited"],
    ["near-value-case", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=DELIMITED"],
    ["near-proto-case", "application/vnd.google.protobuf; proto=io.prometheus.client.metricfamily; encoding=delimited"],
    ["near-type", "application/x-protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"],
    ["near-bare", "application/vnd.google.protobuf"],
    ["near-duplicate-param", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; encoding=delimited"],
    ["near-bad-param", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; junk"],
    ["near-text", "text/plain; version=0.0.4"],
    ["near-comma-list", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited, text/plain"],
  ];
  for (const [id, ct] of ctCases) pb(id, `Content-Type ${JSON.stringify(ct)}`, delimited(gauge, summary), { ct });

  // ---- OpenMetrics (the reference reads these as text 0.0.4) ----
  const om = (id: string, note: string, b: string, ct?: string, features: string[] = []) =>
    body(`om-${id}`, note, text(b), { headers: ct === undefined ? {} : { "Content-Type": ct }, features: ["openmetrics", ...features] });
  om("content-type", "OpenMetrics Content-Type, gauges", "# TYPE om_temp gauge\n# HELP om_temp Temperature.\nom_temp{room=\"a\"} 21.5\nom_temp{room=\"b\"} 19\n# EOF\n", "application/openmetrics-text; version=1.0.0; charset=utf-8");
  om("no-content-type", "no Content-Type, body ends with # EOF", "# TYPE om_level gauge\nom_level 3\n# EOF\n");
  om("unknown-type", "OpenMetrics type unknown", "# TYPE om_thing unknown\nom_thing 1\n# EOF\n", "application/openmetrics-text; version=1.0.0", ["openmetrics-only-syntax"]);

  return cases;
}
