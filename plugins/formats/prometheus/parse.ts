// Parses a push body with the parser of its format (mediatypes.ts chooses the format).
import type { BodyFormat } from "./mediatypes.ts";
import type { MetricFamily, ParseOptions } from "./model.ts";
import { parseOpenMetrics } from "./parse-openmetrics.ts";
import { parseProtobuf } from "./parse-protobuf.ts";
import { parseText } from "./parse-text.ts";

/** Parses a body in the given format; a BodyParseError says what is wrong and where. */
export function parseBody(body: Buffer, format: BodyFormat, options: ParseOptions = {}): MetricFamily[] {
  switch (format) {
    case "protobuf":
      return parseProtobuf(body, options);
    case "openmetrics":
      return parseOpenMetrics(body, options);
    case "text":
      return parseText(body, options);
  }
}
