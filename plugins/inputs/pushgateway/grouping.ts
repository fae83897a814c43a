// The grouping key in a push URL, parsed as the reference Pushgateway parses it:
//   P/metrics/job[@base64]/<job>{/<label>[@base64]/<value>}[/]
// The path is percent-decoded before it is split on "/", so a value holding "/" must use
// @base64 (URL-safe alphabet, padding optional).
import { HttpError } from "../../../core/errors.ts";
import { goQuote } from "./goformat.ts";

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
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
  return Buffer.from(out).toString("utf8");
}

/** Percent-decoding as Go's url.PathUnescape: a bad escape is an error, "+" stays "+". */
export function unescapePath(raw: string): string {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    // decodeURIComponent also rejects escapes that are not UTF-8; Go keeps those bytes.
    const bytes: number[] = [];
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] === "%") {
        const hex = raw.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new HttpError(400, `invalid URL escape ${goQuote(raw.slice(i, i + 3))}`);
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        for (const b of Buffer.from(raw[i], "utf8")) bytes.push(b);
      }
    }
    return Buffer.from(bytes).toString("utf8");
  }
}

/** Splits "/name/value/name@base64/value..." into labels; the last duplicate wins. */
export function splitLabels(labels: string): Map<string, string> {
  const result = new Map<string, string>();
  if (labels.length <= 1) return result;
  const parts = labels.slice(1).split("/");
  if (parts.length % 2 !== 0) throw new HttpError(400, `odd number of components in label string ${goQuote(labels)}`);
  for (let i = 0; i < parts.length; i += 2) {
    const name = parts[i];
    const value = parts[i + 1];
    const encoded = name.endsWith(BASE64_SUFFIX);
    const trimmed = encoded ? name.slice(0, -BASE64_SUFFIX.length) : name;
    if (!LABEL_NAME.test(trimmed) || trimmed.startsWith("__")) throw new HttpError(400, `improper label name ${goQuote(trimmed)}`);
    if (!encoded) {
      result.set(trimmed, value);
      continue;
    }
    try {
      result.set(trimmed, decodeBase64Url(value));
    } catch (e) {
      throw new HttpError(400, `invalid base64 encoding for label ${trimmed}=${goQuote(value)}: ${(e as Error).message}`);
    }
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
export function parseGroupingPath(afterJob: string): GroupingKey | undefined {
  const decoded = unescapePath(afterJob);
  const base64 = decoded.startsWith(BASE64_SUFFIX + "/");
  const rest = base64 ? decoded.slice(BASE64_SUFFIX.length + 1) : decoded.startsWith("/") ? decoded.slice(1) : undefined;
  if (rest === undefined) return undefined;
  const slash = rest.indexOf("/");
  let job = slash < 0 ? rest : rest.slice(0, slash);
  // The reference's router does not match an empty job segment.
  if (job === "") return undefined;
  const labelPart = slash < 0 ? "" : rest.slice(slash);
  if (base64) {
    try {
      job = decodeBase64Url(job);
    } catch (e) {
      const err = e as Base64Error;
      throw new HttpError(400, `invalid base64 encoding in job name ${goQuote(err.partial)}: ${err.message}`);
    }
  }
  const labels = splitLabels(labelPart);
  if (job === "") throw new HttpError(400, "job name is required");
  labels.set("job", job);
  return { job, labels };
}
