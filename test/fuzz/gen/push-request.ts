// Push requests as clients send them and as they should not: PUT/POST/DELETE on a grouping path
// (valid or mutated), a body of any format (valid or mutated) under a Content-Type that may or
// may not match it, compressed with gzip or snappy framing, or labelled compressed when it is
// not.
import fc from "fast-check";
import { gzipSync } from "node:zlib";
import { PROTOBUF_CONTENT_TYPE } from "../../support/protobuf.ts";
import { anyPath, groupingCase } from "./grouping-path.ts";
import { frame } from "./snappy-frames.ts";

export interface PushRequest {
  method: "PUT" | "POST" | "DELETE";
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

const CONTENT_TYPES = [
  "text/plain; version=0.0.4; charset=utf-8",
  "text/plain",
  "application/openmetrics-text; version=1.0.0; charset=utf-8",
  PROTOBUF_CONTENT_TYPE,
  "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text",
  "application/json",
  "text/plain; charset=latin1",
  ";;;",
  "",
];

/** A path as a request line can carry it: bytes outside visible ASCII percent-encoded. */
function requestTarget(afterJob: string): string {
  const raw = Buffer.from(afterJob, "latin1");
  let out = "/metrics/job";
  for (const b of raw) out += b <= 0x20 || b >= 0x7f || b === 0x3f || b === 0x23 ? `%${b.toString(16).padStart(2, "0").toUpperCase()}` : String.fromCharCode(b);
  return out;
}

function snappyFramed(body: Buffer): Buffer {
  const chunks = [];
  for (let i = 0; i < body.length || i === 0; i += 65536) chunks.push({ kind: "compressed" as const, data: body.subarray(i, i + 65536) });
  return frame(chunks);
}

/** A push request over bodies drawn from `bodies`. */
export function pushRequest(bodies: fc.Arbitrary<Buffer>): fc.Arbitrary<PushRequest> {
  return fc
    .record({
      method: fc.constantFrom("PUT", "POST", "PUT", "POST", "DELETE") as fc.Arbitrary<PushRequest["method"]>,
      // A path of the valid kind mostly: most pushes should reach the parsers.
      path: fc.oneof({ arbitrary: groupingCase().map((g) => g.path), weight: 5 }, anyPath),
      type: fc.option(fc.constantFrom(...CONTENT_TYPES), { nil: undefined, freq: 6 }),
      encoding: fc.constantFrom("none", "none", "none", "gzip", "snappy", "gzip-label", "snappy-label", "deflate", "gzip, gzip"),
      body: bodies,
    })
    .map(({ method, path, type, encoding, body }) => {
      const headers: Record<string, string> = {};
      if (type !== undefined) headers["content-type"] = type;
      let sent = body;
      if (encoding === "gzip") sent = gzipSync(body);
      else if (encoding === "snappy") sent = snappyFramed(body);
      if (encoding !== "none") headers["content-encoding"] = encoding.replace("-label", "");
      return { method, path: requestTarget(path), headers, body: method === "DELETE" ? Buffer.alloc(0) : sent };
    });
}
