// The three Prometheus exposition formats and their media types: which parser reads a push,
// which writer answers a scrape.
//
// A push: protobuf exactly when the reference would choose it (a Content-Type that reads as
// the delimited MetricFamily media type); OpenMetrics when the Content-Type says so, or when
// there is none and the body ends with OpenMetrics' "# EOF" line (prom-client sends an
// OpenMetrics registry without a Content-Type); text 0.0.4 otherwise.
// A scrape: whichever of the three the Accept header asks for first (text when it asks for
// none of them).
import { parseMediaType } from "../../../core/mediatype.ts";

export const BODY_FORMATS = ["text", "protobuf", "openmetrics"] as const;
/** text 0.0.4, delimited protobuf or OpenMetrics 1.0: what a push is parsed as, what a scrape is written as. */
export type BodyFormat = (typeof BODY_FORMATS)[number];

const PROTOBUF = "application/vnd.google.protobuf";
const OPENMETRICS = "application/openmetrics-text";
const EOF_LINE = Buffer.from("# EOF");

function endsWithEof(body: Buffer): boolean {
  let end = body.length;
  if (end > 0 && body[end - 1] === 10) end--;
  if (end < EOF_LINE.length) return false;
  const start = end - EOF_LINE.length;
  return (start === 0 || body[start - 1] === 10) && body.subarray(start, end).equals(EOF_LINE);
}

export function bodyFormat(contentType: string | undefined, body: Buffer): BodyFormat {
  if (contentType === undefined || contentType.trim() === "") return endsWithEof(body) ? "openmetrics" : "text";
  // A client sends the same Content-Type on every push: read it once.
  if (contentType !== lastType) {
    lastType = contentType;
    lastFormat = formatOf(contentType);
  }
  return lastFormat;
}

let lastType: string | undefined;
let lastFormat: BodyFormat = "text";

function formatOf(contentType: string): BodyFormat {
  const media = parseMediaType(contentType);
  if (!media) return "text";
  if (media.type === PROTOBUF && media.params.get("proto") === "io.prometheus.client.MetricFamily" && media.params.get("encoding") === "delimited") return "protobuf";
  if (media.type === OPENMETRICS) return "openmetrics";
  return "text";
}

// ---- a scrape ----

/** The Content-Type of a scrape's answer in each format. */
export const CONTENT_TYPES: Record<BodyFormat, string> = {
  text: "text/plain; version=0.0.4; charset=utf-8",
  protobuf: "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
};

/** The first format the Accept header names, by descending q (in order of appearance on ties). */
export function negotiate(accept: string | undefined): BodyFormat {
  if (!accept) return "text";
  const ranked: { format: BodyFormat | undefined; q: number; at: number }[] = [];
  accept.split(",").forEach((part, at) => {
    const mt = parseMediaType(part.trim());
    if (!mt) return;
    const q = Number(mt.params.get("q") ?? "1");
    const version = mt.params.get("version");
    let format: BodyFormat | undefined;
    if (mt.type === "application/vnd.google.protobuf" && mt.params.get("proto") === "io.prometheus.client.MetricFamily" && mt.params.get("encoding") === "delimited") format = "protobuf";
    else if (mt.type === "text/plain" && (version === undefined || version === "0.0.4")) format = "text";
    else if (mt.type === "application/openmetrics-text" && (version === undefined || version === "1.0.0" || version === "0.0.1")) format = "openmetrics";
    ranked.push({ format, q: Number.isFinite(q) ? q : 0, at });
  });
  ranked.sort((a, b) => b.q - a.q || a.at - b.at);
  return ranked.find((r) => r.format && r.q > 0)?.format ?? "text";
}
