// Which parser reads a push. Protobuf exactly when the reference would choose it (a
// Content-Type that reads as the delimited MetricFamily media type); OpenMetrics when the
// Content-Type says so, or when there is none and the body ends with OpenMetrics' "# EOF"
// line (prom-client sends an OpenMetrics registry without a Content-Type); text 0.0.4 otherwise.
import { parseMediaType } from "../../../core/mediatype.ts";
import type { MetricFamily } from "./model.ts";
import { parseOpenMetrics } from "./parse-openmetrics.ts";
import { parseProtobuf } from "./parse-protobuf.ts";
import { parseText } from "./parse-text.ts";

export const BODY_FORMATS = ["text", "protobuf", "openmetrics"] as const;
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

/** Parses a body in the given format; a BodyParseError says what is wrong and where. */
export function parseBody(body: Buffer, format: BodyFormat): MetricFamily[] {
  switch (format) {
    case "protobuf":
      return parseProtobuf(body);
    case "openmetrics":
      return parseOpenMetrics(body);
    case "text":
      return parseText(body);
  }
}
