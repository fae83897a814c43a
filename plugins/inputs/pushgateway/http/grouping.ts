// The grouping key in a push URL, parsed as the reference Pushgateway parses it:
//   P/metrics/job[@base64]/<job>{/<label>[@base64]/<value>}[/]
// The path is percent-decoded before it is split on "/", so a value holding "/" must use
// @base64 (URL-safe alphabet, padding optional). With UTF-8 names enabled, a label name is
// read with the "values" escaping scheme after its @base64 suffix is cut (U__my_2e_label is
// "my.label"), as Pushgateway 1.11 does with --push.enable-utf8-names.
import { isUtf8 } from "node:buffer";
import { HttpError } from "../../../../core/errors.ts";
import { goQuote, goQuoteBytes } from "../../../formats/prometheus/goformat.ts";
import { unescapeValues } from "../../../formats/prometheus/escaping.ts";
import { isLabelName, type NameValidation } from "../../../formats/prometheus/model.ts";

const BASE64_SUFFIX = "@base64";

const URL_SAFE = new Int16Array(256).fill(-1);
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".split("").forEach((c, i) => (URL_SAFE[c.charCodeAt(0)] = i));

export class Base64Error extends Error {
  constructor(
    readonly partial: string,
    offset: number,
  ) {
    super(`illegal base64 data at input byte ${offset}`);
  }
}

/**
 * URL-safe base64 without required padding, as Go's base64.RawURLEncoding after trimming
 * trailing "=": non-zero trailing bits are tolerated, "\r" and "\n" are skipped, and a
 * lone trailing character is an error.
 */
export function decodeBase64Url(text: string): string {
  return decodeBase64UrlBytes(text).toString("utf8");
}

export function decodeBase64UrlBytes(text: string): Buffer {
  const s = text.replace(/=+$/, "");
  const out: number[] = [];
  const quantum: number[] = [];
  let decoded = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13) continue;
    const v = c < 256 ? URL_SAFE[c] : -1;
    if (v < 0) throw new Base64Error(Buffer.from(out.slice(0, decoded)).toString("utf8"), i);
    quantum.push(v);
    if (quantum.length === 4) {
      const n = (quantum[0] << 18) | (quantum[1] << 12) | (quantum[2] << 6) | quantum[3];
      out.push((n >> 16) & 255, (n >> 8) & 255, n & 255);
      quantum.length = 0;
      decoded = out.length;
    }
  }
  if (quantum.length === 1) throw new Base64Error(Buffer.from(out).toString("utf8"), s.length - 1);
  if (quantum.length >= 2) {
    const n = (quantum[0] << 18) | (quantum[1] << 12) | ((quantum[2] ?? 0) << 6);
    out.push((n >> 16) & 255);
    if (quantum.length === 3) out.push((n >> 8) & 255);
  }
  return Buffer.from(out);
}

/**
 * Percent-decoding as Go's url.PathUnescape: a bad escape is an error, "+" stays "+". The
 * result is bytes: an escape may spell bytes that are not UTF-8, which only the label whose
 * value holds them can name.
 */
export function unescapePath(raw: string): Buffer {
  if (!raw.includes("%")) return Buffer.from(raw, "utf8");
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === "%") {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new HttpError(400, `invalid URL escape ${goQuote(raw.slice(i, i + 3))}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      const c = raw.charCodeAt(i);
      if (c < 0x80) bytes.push(c);
      else for (const b of Buffer.from(raw[i], "utf8")) bytes.push(b);
    }
  }
  return Buffer.from(bytes);
}

/** A label value as text; bytes that are not UTF-8 are a 400, as the reference refuses them. */
function utf8Value(name: string, value: Buffer): string {
  if (!isUtf8(value)) throw new HttpError(400, `value of grouping label ${goQuote(name)} is not valid UTF-8: ${goQuoteBytes(value, 0, value.length)}`);
  return value.toString("utf8");
}

/** Splits "/name/value/name@base64/value..." into labels; the last duplicate wins. */
export function splitLabels(labels: Buffer, names: NameValidation = "legacy"): Map<string, string> {
  const result = new Map<string, string>();
  if (labels.length <= 1) return result;
  const parts: Buffer[] = [];
  for (let from = 1; ; ) {
    const slash = labels.indexOf(0x2f, from);
    parts.push(labels.subarray(from, slash < 0 ? labels.length : slash));
    if (slash < 0) break;
    from = slash + 1;
  }
  if (parts.length % 2 !== 0) throw new HttpError(400, `odd number of components in label string ${goQuote(labels.toString("utf8"))}`);
  // "a//b": the reference redirects to a cleaned path, which clients take for success or
  // failure as they please; a value holding "/" was almost surely meant.
  for (let i = 1; i < parts.length - 1; i += 2) {
    if (parts[i].length === 0) {
      throw new HttpError(400, `empty path segment in label string ${goQuote(labels.toString("utf8"))}; a label value containing "/" must be base64-encoded (name@base64/value)`);
    }
  }
  for (let i = 0; i < parts.length; i += 2) {
    const name = parts[i].toString("utf8");
    const value = parts[i + 1];
    const encoded = name.endsWith(BASE64_SUFFIX);
    const cut = encoded ? name.slice(0, -BASE64_SUFFIX.length) : name;
    const label = names === "utf8" ? unescapeValues(cut) : cut;
    // Reserved either way: the reference looks only at the escaped form, which lets U______x through as "__x".
    if (!isLabelName(label, names) || label.startsWith("__") || cut.startsWith("__")) throw new HttpError(400, `improper label name ${goQuote(cut)}`);
    if (!encoded) {
      result.set(label, utf8Value(label, value));
      continue;
    }
    const text = value.toString("utf8");
    let decoded: Buffer;
    try {
      decoded = decodeBase64UrlBytes(text);
    } catch (e) {
      throw new HttpError(400, `invalid base64 encoding for label ${cut}=${goQuote(text)}: ${(e as Error).message}`);
    }
    result.set(label, utf8Value(label, decoded));
  }
  return result;
}

export interface GroupingKey {
  job: string;
  /** Every label of the grouping key, job included. */
  labels: Map<string, string>;
}

/**
 * Parses the part of a push path after "/metrics/job": "/<job>..." or "@base64/<job>...".
 * Returns undefined when the path is no push path at all (the router's 404).
 */
export function parseGroupingPath(afterJob: string, names: NameValidation = "legacy"): GroupingKey | undefined {
  const decoded = unescapePath(afterJob);
  const base64 = decoded.subarray(0, BASE64_SUFFIX.length + 1).toString("latin1") === BASE64_SUFFIX + "/";
  const rest = base64 ? decoded.subarray(BASE64_SUFFIX.length + 1) : decoded[0] === 0x2f ? decoded.subarray(1) : undefined;
  if (rest === undefined) return undefined;
  const slash = rest.indexOf(0x2f);
  const jobPart = slash < 0 ? rest : rest.subarray(0, slash);
  // The reference's router does not match an empty job segment.
  if (jobPart.length === 0) return undefined;
  const labelPart = slash < 0 ? Buffer.alloc(0) : rest.subarray(slash);
  let jobBytes = jobPart;
  if (base64) {
    try {
      jobBytes = decodeBase64UrlBytes(jobPart.toString("utf8"));
    } catch (e) {
      const err = e as Base64Error;
      throw new HttpError(400, `invalid base64 encoding in job name ${goQuote(err.partial)}: ${err.message}`);
    }
  }
  const labels = splitLabels(labelPart, names);
  const job = utf8Value("job", jobBytes);
  if (job === "") throw new HttpError(400, "job name is required");
  labels.set("job", job);
  return { job, labels };
}
