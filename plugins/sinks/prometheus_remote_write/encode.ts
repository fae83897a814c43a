// The bytes of a remote-write request: a protobuf WriteRequest of this folder's remote.proto,
// snappy block-compressed (not framed, as the protocol says), and Prometheus' staleness
// markers, whose NaN bits must survive the encoding.
import { readFileSync } from "node:fs";
import { compressSync } from "snappy";
// Through core/protobuf.ts: the int64 timestamps must encode and decode as numbers.
import protobuf from "../../../core/protobuf.ts";
import { labelsOf, seriesKey, type LabelSet, type TimeSeries } from "./series.ts";

const SCHEMA = readFileSync(new URL("./remote.proto", import.meta.url), "utf8");
const root = protobuf.parse(SCHEMA, { keepCase: true }).root.resolveAll();
/** The WriteRequest message type of remote.proto (field names as written there). */
export const WriteRequestType = root.lookupType("pushkit.remotewrite.WriteRequest");

/** The WriteRequest of these series, protobuf-encoded (not compressed). */
export function encodeWriteRequest(series: readonly TimeSeries[]): Buffer {
  const w = WriteRequestType.encode({ timeseries: series });
  return Buffer.from(w.finish());
}

/** An encoded WriteRequest as it goes on the wire. */
export function compressWriteRequest(request: Uint8Array): Buffer {
  return compressSync(Buffer.from(request.buffer, request.byteOffset, request.byteLength)) as Buffer;
}

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
    byKey.set(seriesKey(labels), { labels, samples: [{ value: 0, timestamp: timeMs }] });
  }
  return encodeStaleSamples([...byKey.values()]);
}

/**
 * The WriteRequest (protobuf, not compressed) that puts a staleness marker at the time of every
 * sample of the given series, whatever its value: how removals (series that ended, with their
 * end times) are written. Throws like encodeStaleMarkers if a marker lost its bits.
 */
export function encodeStaleSamples(series: readonly TimeSeries[]): Buffer {
  // New sample objects: the marker keeps its bits only as an object property (see STALE_NAN).
  const marked = series.map((s) => ({ labels: s.labels, samples: s.samples.map((x) => ({ value: STALE_NAN, timestamp: x.timestamp })) }));
  const expected = marked.reduce((n, s) => n + s.samples.length, 0);
  const body = encodeWriteRequest(marked);
  // A Sample's value field cannot be mistaken inside a string: 0xf0 0x7f is not valid UTF-8.
  let found = 0;
  for (let i = body.indexOf(STALE_SAMPLE_VALUE); i !== -1; i = body.indexOf(STALE_SAMPLE_VALUE, i + 1)) found++;
  if (found !== expected) throw new Error(`staleness markers lost their NaN bits while encoding (${found} of ${expected} intact)`);
  return body;
}
