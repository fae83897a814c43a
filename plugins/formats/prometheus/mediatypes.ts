// The three Prometheus exposition formats and their media types: which parser reads a push,
// which writer answers a scrape.
//
// A push: protobuf exactly when the reference would choose it (a Content-Type that reads as
// the delimited MetricFamily media type); OpenMetrics when the Content-Type says so, or when
// there is none and the body ends with OpenMetrics' "# EOF" line (prom-client sends an
// OpenMetrics registry without a Content-Type); text 0.0.4 otherwise.
// A scrape: whichever of the three the Accept header asks for first (text when it asks for
// none of them), with names escaped as it asks (underscores when it does not say).
import { parseMediaType, type MediaType } from "../../../core/mediatype.ts";
import { DEFAULT_ESCAPING, isEscapingScheme, type EscapingScheme } from "./escaping.ts";

export const BODY_FORMATS = ["text", "protobuf", "openmetrics"] as const;
/** text 0.0.4, delimited protobuf or OpenMetrics 1.0: what a push is parsed as, what a scrape is written as. */
export type BodyFormat = (typeof BODY_FORMATS)[number];

const OPENMETRICS = "application/openmetrics-text";
const EOF_LINE = Buffer.from("# EOF");

/** The delimited MetricFamily protobuf media type, whatever the order and case of its parameters. */
function isDelimitedProtobuf(media: MediaType): boolean {
  return media.type === "application/vnd.google.protobuf" && media.params.get("proto") === "io.prometheus.client.MetricFamily" && media.params.get("encoding") === "delimited";
}

function endsWithEof(body: Buffer): boolean {
  let end = body.length;
  if (end > 0 && body[end - 1] === 10) end--;
  if (end < EOF_LINE.length) return false;
  const start = end - EOF_LINE.length;
  return (start === 0 || body[start - 1] === 10) && body.subarray(start, end).equals(EOF_LINE);
}

export function bodyFormat(contentType: string | undefined, body: Buffer): BodyFormat {
  if (contentType === undefined || contentType.trim() === "") return endsWithEof(body) ? "openmetrics" : "text";
  const media = parseMediaType(contentType);
  if (!media) return "text";
  if (isDelimitedProtobuf(media)) return "protobuf";
  if (media.type === OPENMETRICS) return "openmetrics";
  return "text";
}

// ---- a scrape ----

/** What a scrape is answered with: the format, and how names are escaped in it. */
export interface ScrapeFormat {
  format: BodyFormat;
  escaping: EscapingScheme;
}

/** The Content-Type of a scrape's answer in each format, without its escaping parameter. */
const CONTENT_TYPES: Record<BodyFormat, string> = {
  text: "text/plain; version=0.0.4; charset=utf-8",
  protobuf: "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
};

/** The Content-Type of a scrape's answer: the format's, and the escaping scheme it was written with. */
export function contentType(s: ScrapeFormat): string {
  return `${CONTENT_TYPES[s.format]}; escaping=${s.escaping}`;
}

/**
 * The format and escaping scheme of a scrape, as prometheus/common's NegotiateIncludingOpenMetrics
 * chooses them: the Accept entries by descending q (in order of appearance on ties), the first
 * that names a format served here wins; the escaping scheme is the last valid `escaping=` of the
 * entries walked up to and including it (an unknown scheme is ignored), else the default.
 */
export function negotiate(accept: string | undefined): ScrapeFormat {
  let escaping = DEFAULT_ESCAPING;
  if (!accept) return { format: "text", escaping };
  const ranked: { media: MediaType; q: number; at: number }[] = [];
  accept.split(",").forEach((part, at) => {
    const media = parseMediaType(part.trim());
    if (!media) return;
    const q = Number(media.params.get("q") ?? "1");
    ranked.push({ media, q: Number.isFinite(q) ? q : 0, at });
  });
  ranked.sort((a, b) => b.q - a.q || a.at - b.at);
  for (const { media, q } of ranked) {
    if (q <= 0) continue;
    const scheme = media.params.get("escaping");
    if (scheme !== undefined && isEscapingScheme(scheme)) escaping = scheme;
    const format = formatOf(media);
    if (format) return { format, escaping };
  }
  return { format: "text", escaping };
}

/** The format an Accept entry names, if it is one served here. */
function formatOf(media: MediaType): BodyFormat | undefined {
  const version = media.params.get("version");
  if (isDelimitedProtobuf(media)) return "protobuf";
  if (media.type === "text/plain" && (version === undefined || version === "0.0.4")) return "text";
  if (media.type === OPENMETRICS && (version === undefined || version === "1.0.0" || version === "0.0.1")) return "openmetrics";
  return undefined;
}
