// Parser for delimited protobuf pushes: a body of (varint length, MetricFamily message)
// records to its end, decoded by protobufjs against this folder's metrics.proto. A truncated
// or corrupt record fails the whole push with the byte offset of the record and what was wrong.
//
// The families it gives are the ones the text parser would give for the same data: a classic
// histogram gets its implied +Inf bucket, and a native histogram becomes cumulative classic
// buckets (see nativeBuckets).
import { isUtf8 } from "node:buffer";
import { readFileSync } from "node:fs";
import protobuf from "protobufjs";
import { BodyParseError } from "./families.ts";
import type { Bucket, Histogram, Metric, MetricFamily, MetricType } from "./families.ts";
import { goQuote } from "./goformat.ts";

export class ProtoParseError extends BodyParseError {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`protobuf parsing error at byte ${offset}: ${detail}`);
    this.name = "ProtoParseError";
  }
}

// int64 and uint64 fields as plain numbers: timestamps in ms and counts fit in 2^53.
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

const SCHEMA = readFileSync(new URL("./metrics.proto", import.meta.url), "utf8");
const MetricFamilyMessage = protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType("io.prometheus.client.MetricFamily");

/** A reader whose strings must be valid UTF-8: protobufjs would replace bad bytes silently. */
class Utf8CheckingReader extends protobuf.BufferReader {
  override string(): string {
    const len = this.uint32();
    const start = this.pos;
    const end = start + len;
    if (end > this.len) throw new RangeError(`string of ${len} bytes at byte ${start} runs past the end of its message`);
    this.pos = end;
    const bytes = (this.buf as Buffer).subarray(start, end);
    if (!isUtf8(bytes)) throw new RangeError(`string at byte ${start} is not valid UTF-8`);
    return bytes.toString("utf8");
  }
}

// What protobufjs hands back, as far as we read it (keepCase: the schema's field names).
interface PbLabel {
  name: string;
  value: string;
}
interface PbValue {
  value: number;
}
interface PbSpan {
  offset: number;
  length: number;
}
interface PbHistogram {
  sample_count: number;
  sample_count_float: number;
  sample_sum: number;
  bucket: { cumulative_count: number; cumulative_count_float: number; upper_bound: number }[];
  schema: number;
  zero_threshold: number;
  zero_count: number;
  zero_count_float: number;
  negative_span: PbSpan[];
  negative_delta: number[];
  negative_count: number[];
  positive_span: PbSpan[];
  positive_delta: number[];
  positive_count: number[];
}
interface PbMetric {
  label: PbLabel[];
  // Absent sub-messages read as null.
  gauge: PbValue | null;
  counter: PbValue | null;
  untyped: PbValue | null;
  summary: { sample_count: number; sample_sum: number; quantile: { quantile: number; value: number }[] } | null;
  histogram: PbHistogram | null;
  timestamp_ms: number;
}
interface PbFamily {
  name: string;
  help: string;
  type: number;
  metric: PbMetric[];
}

const TYPES: MetricType[] = ["COUNTER", "GAUGE", "SUMMARY", "UNTYPED", "HISTOGRAM", "GAUGE_HISTOGRAM"];
const TYPE_FIELD: Record<MetricType, keyof PbMetric> = {
  COUNTER: "counter",
  GAUGE: "gauge",
  SUMMARY: "summary",
  UNTYPED: "untyped",
  HISTOGRAM: "histogram",
  GAUGE_HISTOGRAM: "histogram",
};

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const has = (o: object, key: string) => Object.prototype.hasOwnProperty.call(o, key);

/** Parses a whole delimited-protobuf body. A repeated family name: the later family wins, as in the reference. */
export function parseProtobuf(body: Buffer): MetricFamily[] {
  const reader = new Utf8CheckingReader(body);
  const byName = new Map<string, MetricFamily>();
  while (reader.pos < reader.len) {
    const start = reader.pos;
    let len: number;
    try {
      len = reader.uint32();
    } catch {
      throw new ProtoParseError(start, "truncated length prefix of a MetricFamily message");
    }
    const left = reader.len - reader.pos;
    if (len > left) throw new ProtoParseError(start, `MetricFamily message of ${len} bytes, but only ${left} bytes are left in the body (truncated?)`);
    let message: PbFamily;
    try {
      message = MetricFamilyMessage.decode(reader, len) as unknown as PbFamily;
    } catch (e) {
      throw new ProtoParseError(start, `invalid MetricFamily message (${len} bytes): ${(e as Error).message}`);
    }
    const family = toFamily(message, (detail) => new ProtoParseError(start, detail));
    byName.delete(family.name);
    byName.set(family.name, family);
  }
  return [...byName.values()];
}

type Fail = (detail: string) => Error;

function toFamily(pb: PbFamily, fail: Fail): MetricFamily {
  const name = pb.name;
  if (!METRIC_NAME.test(name)) throw fail(`invalid metric name ${goQuote(name)}`);
  // protobufjs, like Go, keeps an unknown enum value out of the field: the type reads as COUNTER.
  const type = TYPES[pb.type];
  const family: MetricFamily = { name, type, metrics: [] };
  if (pb.help !== "") family.help = pb.help;
  for (const m of pb.metric) family.metrics.push(toMetric(m, family, fail));
  return family;
}

function toMetric(pb: PbMetric, family: MetricFamily, fail: Fail): Metric {
  const where = () => `metric ${goQuote(family.name)}`;
  const labels: string[] = [];
  for (const l of pb.label) {
    if (!LABEL_NAME.test(l.name) || l.name.startsWith("__")) throw fail(`${where()}: invalid label name ${goQuote(l.name)}`);
    for (let i = 0; i < labels.length; i += 2) if (labels[i] === l.name) throw fail(`${where()}: label ${goQuote(l.name)} appears twice`);
    labels.push(l.name, l.value);
  }
  const metric: Metric = { labels };
  if (has(pb, "timestamp_ms")) metric.timestampMs = pb.timestamp_ms;
  const field = TYPE_FIELD[family.type];
  const data = pb[field];
  if (data == null || typeof data !== "object") throw fail(`${where()} {${labelText(labels)}} is of type ${family.type} but carries no ${field} value`);
  switch (family.type) {
    case "COUNTER":
    case "GAUGE":
    case "UNTYPED":
      metric.value = (data as PbValue).value;
      break;
    case "SUMMARY": {
      const s = pb.summary!;
      metric.summary = { count: s.sample_count, sum: s.sample_sum, quantiles: s.quantile.map((q) => ({ quantile: q.quantile, value: q.value })) };
      break;
    }
    case "HISTOGRAM":
    case "GAUGE_HISTOGRAM":
      metric.histogram = toHistogram(pb.histogram!, (d) => fail(`${where()} {${labelText(labels)}}: ${d}`));
      break;
  }
  return metric;
}

function labelText(labels: string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < labels.length; i += 2) parts.push(`${labels[i]}=${goQuote(labels[i + 1])}`);
  return parts.join(",");
}

function toHistogram(pb: PbHistogram, fail: Fail): Histogram {
  const isFloat = pb.sample_count_float > 0 || pb.zero_count_float > 0 || pb.negative_count.length > 0 || pb.positive_count.length > 0 || pb.bucket.some((b) => b.cumulative_count_float > 0);
  const count = pb.sample_count_float > 0 ? pb.sample_count_float : pb.sample_count;
  const h: Histogram = { count, sum: pb.sample_sum, buckets: [], floatCounts: isFloat };
  if (pb.bucket.length > 0) {
    for (const b of pb.bucket) h.buckets.push({ upperBound: b.upper_bound, count: b.cumulative_count_float > 0 ? b.cumulative_count_float : b.cumulative_count });
  } else if (isNative(pb)) {
    h.buckets = nativeBuckets(pb, fail);
  }
  // The text format always ends with the +Inf bucket; protobuf leaves it implied.
  const last = h.buckets[h.buckets.length - 1];
  if (last === undefined || last.upperBound !== Infinity) h.buckets.push({ upperBound: Infinity, count });
  return h;
}

function isNative(pb: PbHistogram): boolean {
  return pb.schema !== 0 || pb.zero_threshold > 0 || pb.zero_count > 0 || pb.zero_count_float > 0 || pb.negative_span.length > 0 || pb.positive_span.length > 0;
}

/** 2^(2^-schema) to the power `index`, exact where the power of two is whole. */
function boundary(index: number, schema: number): number {
  if (schema <= 0) return 2 ** (index * 2 ** -schema);
  const perDoubling = 2 ** schema;
  const doublings = Math.floor(index / perDoubling);
  const rest = index - doublings * perDoubling;
  return 2 ** doublings * (rest === 0 ? 1 : 2 ** (rest / perDoubling));
}

interface Populated {
  index: number;
  count: number;
}

/** The buckets of one side, by index, from spans plus deltas (integer) or counts (float). */
function side(spans: PbSpan[], deltas: number[], counts: number[], which: string, fail: Fail): Populated[] {
  const float = counts.length > 0;
  const values = float ? counts : deltas;
  const want = spans.reduce((n, s) => n + s.length, 0);
  if (values.length !== want) throw fail(`native histogram has ${values.length} ${which} bucket ${float ? "counts" : "deltas"} for spans of ${want} buckets`);
  const out: Populated[] = [];
  let index = 0;
  let at = 0;
  let count = 0;
  for (let s = 0; s < spans.length; s++) {
    const span = spans[s];
    index += span.offset;
    if (s > 0 && span.offset < 0) throw fail(`native histogram ${which} span ${s} has a negative offset ${span.offset}`);
    for (let i = 0; i < span.length; i++, index++, at++) {
      count = float ? values[at] : count + values[at];
      if (count < 0 || Number.isNaN(count)) throw fail(`native histogram ${which} bucket ${index} has a negative count ${count}`);
      out.push({ index, count });
    }
  }
  return out;
}

/**
 * Native buckets as classic cumulative buckets, in increasing order of upper bound:
 * negative buckets (bucket k holds [-b^k, -b^(k-1)), so its upper bound is -b^(k-1)), then
 * the zero bucket (upper bound zero_threshold), then positive buckets (bucket k holds
 * (b^(k-1), b^k]). Only buckets with observations get a boundary.
 */
function nativeBuckets(pb: PbHistogram, fail: Fail): Bucket[] {
  const schema = pb.schema;
  if (!Number.isInteger(schema) || schema < -4 || schema > 8) throw fail(`native histogram schema ${schema} is outside -4..8`);
  const negative = side(pb.negative_span, pb.negative_delta, pb.negative_count, "negative", fail);
  const positive = side(pb.positive_span, pb.positive_delta, pb.positive_count, "positive", fail);
  const zero = pb.zero_count_float > 0 ? pb.zero_count_float : pb.zero_count;
  const out: Bucket[] = [];
  let cumulative = 0;
  for (let i = negative.length - 1; i >= 0; i--) {
    const b = negative[i];
    if (b.count === 0) continue;
    cumulative += b.count;
    out.push({ upperBound: -boundary(b.index - 1, schema), count: cumulative });
  }
  if (zero > 0) {
    cumulative += zero;
    out.push({ upperBound: pb.zero_threshold, count: cumulative });
  }
  for (const b of positive) {
    if (b.count === 0) continue;
    cumulative += b.count;
    out.push({ upperBound: boundary(b.index, schema), count: cumulative });
  }
  return out;
}
