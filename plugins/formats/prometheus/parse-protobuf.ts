// Parser for delimited protobuf pushes: a body of (varint length, MetricFamily message)
// records to its end, decoded by protobufjs against this folder's metrics.proto. A truncated
// or corrupt record fails the whole push with the byte offset of the record and what was wrong.
//
// The families it gives are the ones the text parser would give for the same data: a classic
// histogram gets its implied +Inf bucket, and a native histogram becomes cumulative classic
// buckets (see nativeBuckets).
import { isUtf8 } from "node:buffer";
import protobuf from "../../../core/protobuf.ts";
import { hasLimits, LimitCheck, LimitError } from "./limits.ts";
import { BodyParseError, copyLabels, isLabelName, isMetricName, timestampProblem, type ParseOptions } from "./model.ts";
import type { Bucket, Histogram, Metric, MetricFamily, MetricType, Quantile, Summary } from "./model.ts";
import { goQuote } from "./goformat.ts";
import { MetricFamilyMessage } from "./metrics-proto.ts";
import { nativeBound } from "./native-histogram.ts";

export class ProtoParseError extends BodyParseError {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`protobuf parsing error at byte ${offset}: ${detail}`);
    this.name = "ProtoParseError";
  }
}


// Label names and values repeat across metrics and pushes: short ASCII strings are interned
// in a direct-mapped table, compared by their bytes, so most strings cost no allocation.
const INTERN_SLOTS = 4096;
const interned: (string | undefined)[] = new Array(INTERN_SLOTS);

function sameAscii(s: string, buf: Uint8Array, start: number, end: number): boolean {
  if (s.length !== end - start) return false;
  for (let i = start; i < end; i++) if (s.charCodeAt(i - start) !== buf[i]) return false;
  return true;
}

/** A reader whose strings must be valid UTF-8: protobufjs would replace bad bytes silently. */
class Utf8CheckingReader extends protobuf.BufferReader {
  /** `like`: a string these bytes probably spell (the same label of the metric before), reused if they do. */
  override string(like?: string): string {
    const len = this.size();
    const start = this.pos;
    const end = start + len;
    if (end > this.len) throw new RangeError(`string of ${len} bytes at byte ${start} runs past the end of its message`);
    this.pos = end;
    const buf = this.buf as Buffer;
    if (like !== undefined && sameAscii(like, buf, start, end)) return like;
    if (len <= 64) {
      let hash = len;
      let ascii = true;
      for (let i = start; i < end; i++) {
        const c = buf[i];
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        hash = (Math.imul(hash, 31) + c) | 0;
      }
      if (ascii) {
        const slot = (hash ^ (hash >>> 13)) & (INTERN_SLOTS - 1);
        const cached = interned[slot];
        if (cached !== undefined && sameAscii(cached, buf, start, end)) return cached;
        return (interned[slot] = buf.toString("latin1", start, end));
      }
    }
    if (!isUtf8(buf.subarray(start, end))) throw new RangeError(`string at byte ${start} is not valid UTF-8`);
    return buf.toString("utf8", start, end);
  }
}

// What protobufjs hands back, as far as we read it (keepCase: the schema's field names).
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
interface PbFamily {
  name: string;
  help: string;
  type: number;
  /** Already read into our model as each was decoded (readMetric). */
  metric: Metric[];
}

const TYPES: MetricType[] = ["COUNTER", "GAUGE", "SUMMARY", "UNTYPED", "HISTOGRAM", "GAUGE_HISTOGRAM"];

// Which value a metric message carries, as bits.
const COUNTER = 1, GAUGE = 2, UNTYPED = 4, SUMMARY = 8, HISTOGRAM = 16;
const TYPE_BIT: Record<MetricType, number> = { COUNTER, GAUGE, SUMMARY, UNTYPED, HISTOGRAM, GAUGE_HISTOGRAM: HISTOGRAM };
const BIT_FIELD: Record<number, string> = { [COUNTER]: "counter", [GAUGE]: "gauge", [UNTYPED]: "untyped", [SUMMARY]: "summary", [HISTOGRAM]: "histogram" };

// Protobuf carries names as strings: any UTF-8 name is taken, as the reference does (the
// reader has refused invalid UTF-8 already); label names starting with "__" stay reserved.
function validMetricName(name: string): boolean {
  return isMetricName(name, "utf8");
}

function validLabelName(name: string): boolean {
  return isLabelName(name, "utf8") && !name.startsWith("__");
}

/**
 * Every Metric message is turned into our Metric as soon as protobufjs has decoded it (see
 * the hook below), so a family of 100,000 metrics never holds 100,000 protobufjs objects at
 * once: they die young, where collecting them is cheap. What the family check needs later is
 * kept here, per metric of the family message being decoded, in decoding order.
 */
const decoding = {
  /** The value bits each metric carried; the first `count` entries are this message's. */
  carried: [] as number[],
  count: 0,
  /** The first metric with a problem that does not depend on its family, and the problem. */
  problemAt: -1,
  problem: "",
  /** The limits of the body being parsed, if any. */
  limits: undefined as LimitCheck | undefined,
};

function resetDecoding(): void {
  decoding.count = 0;
  decoding.problemAt = -1;
  previousLabels = [];
}

function problem(detail: string): void {
  if (decoding.problemAt >= 0) return;
  decoding.problemAt = decoding.count;
  decoding.problem = detail;
}

const MetricMessage = MetricFamilyMessage.lookupType("Metric");
const HistogramMessage = MetricMessage.lookupType("Histogram");
const ExemplarMessage = MetricMessage.lookupType("Exemplar");
const InstantMessage = MetricMessage.lookupType("Instant");

/**
 * A Metric message, read straight into our Metric. Metric messages are nearly every byte of a
 * large body, and protobufjs' decoder makes an object per message, per label and per value
 * that would be thrown away at once. Read as protobufjs' generated decoder reads (fields by
 * number whatever their wire type, unknown ones skipped, the same reader and its errors);
 * summaries, histograms, exemplars and created timestamps still go through protobufjs.
 */
function readMetric(r: protobuf.Reader, len: number): Metric {
  const end = r.pos + len;
  const labels = scratch;
  labels.length = 0;
  let value: number | undefined;
  let timestampMs: number | undefined;
  let summary: Summary | undefined;
  let histogram: Histogram | undefined;
  let carried = 0;
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 1:
        readLabel(r, r.size(), labels);
        break;
      case 2:
        carried |= GAUGE;
        value = readValue(r, r.size(), false);
        break;
      case 3:
        carried |= COUNTER;
        value = readValue(r, r.size(), true);
        break;
      case 4:
        carried |= SUMMARY;
        summary = readSummary(r, r.size());
        break;
      case 5:
        carried |= UNTYPED;
        value = readValue(r, r.size(), false);
        break;
      case 6:
        timestampMs = r.int64() as unknown as number;
        break;
      case 7:
        carried |= HISTOGRAM;
        histogram = readHistogram(r, r.size());
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  // Go reads the one value its family's type names and ignores others; a message with
  // several is no client's output, and which one was meant is guesswork.
  if (carried & (carried - 1)) problem(`carries more than one value (${[COUNTER, GAUGE, UNTYPED, SUMMARY, HISTOGRAM].filter((b) => carried & b).map((b) => BIT_FIELD[b]).join(", ")})`);
  if (timestampMs !== undefined) {
    const bad = timestampProblem(timestampMs, String(timestampMs));
    if (bad) problem(bad);
  }
  decoding.carried[decoding.count++] = carried;
  // Refused here, while the family message is decoded: a message of millions of metrics never becomes as many objects.
  decoding.limits?.series("", labels, labels.length);
  const kept = labels.length === 0 ? [] : copyLabels(labels, labels.length);
  previousLabels = kept;
  // Made whole at once, in the text parser's shape: properties added later would take a
  // second allocation per metric.
  const metric: Metric = value !== undefined ? { labels: kept, value } : { labels: kept };
  if (timestampMs !== undefined) metric.timestampMs = timestampMs;
  if (summary) metric.summary = summary;
  if (histogram) metric.histogram = histogram;
  return metric;
}

function readHistogram(r: protobuf.Reader, len: number): Histogram | undefined {
  const start = r.pos;
  const classic = readClassicHistogram(r, len);
  if (classic) return classic;
  // A native histogram (or parts of one): read again, whole, by protobufjs.
  r.pos = start;
  const h = HistogramMessage.decode(r, len) as unknown as PbHistogram;
  try {
    return toHistogram(h);
  } catch (e) {
    if (!(e instanceof HistogramError)) throw e;
    problem(e.message);
    return undefined;
  }
}

/** Labels of the metric being read; copied at their size when it is done (a growing array takes several times the memory). */
const scratch: string[] = [];

/** The labels of the metric read before: metrics of a family mostly repeat their names and many values, at the same places. */
let previousLabels: string[] = [];

function readLabel(r: protobuf.Reader, len: number, labels: string[]): void {
  const end = r.pos + len;
  const at = labels.length;
  let name = "";
  let value = "";
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 1:
        name = (r as Utf8CheckingReader).string(previousLabels[at]);
        break;
      case 2:
        value = (r as Utf8CheckingReader).string(previousLabels[at + 1]);
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  if (!validLabelName(name)) problem(`invalid label name ${goQuote(name)}`);
  for (let i = 0; i < labels.length; i += 2) if (labels[i] === name) problem(`label ${goQuote(name)} appears twice`);
  labels.push(name, value);
}

function readSummary(r: protobuf.Reader, len: number): Summary {
  const end = r.pos + len;
  let count = 0;
  let sum = 0;
  const quantiles: Quantile[] = [];
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 1:
        count = r.uint64() as unknown as number;
        break;
      case 2:
        sum = r.double();
        break;
      case 3:
        quantiles.push(readQuantile(r, r.size()));
        break;
      case 4:
        InstantMessage.decode(r, r.size());
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  return { count, sum, quantiles };
}

/** A Quantile message as our Quantile (0 for an absent field, as protobufjs reads it). */
function readQuantile(r: protobuf.Reader, len: number): Quantile {
  const end = r.pos + len;
  let quantile = 0;
  let value = 0;
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 1:
        quantile = r.double();
        break;
      case 2:
        value = r.double();
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  return { quantile, value };
}

/**
 * A histogram with only classic fields (count, sum, buckets, float counts, exemplars, created
 * time), as toHistogram would make it; undefined at the first native-histogram field, for the
 * caller to read the message again with protobufjs.
 */
function readClassicHistogram(r: protobuf.Reader, len: number): Histogram | undefined {
  const end = r.pos + len;
  let count = 0;
  let countFloat = 0;
  let sum = 0;
  let floatCounts = false;
  const buckets: Bucket[] = [];
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 1:
        count = r.uint64() as unknown as number;
        break;
      case 2:
        sum = r.double();
        break;
      case 3: {
        const b = readBucket(r, r.size());
        if (b.float) floatCounts = true;
        buckets.push({ upperBound: b.upperBound, count: b.count });
        break;
      }
      case 4:
        countFloat = r.double();
        break;
      case 15:
        InstantMessage.decode(r, r.size());
        break;
      case 16:
        ExemplarMessage.decode(r, r.size());
        break;
      default:
        return undefined;
    }
  }
  if (countFloat > 0) floatCounts = true;
  const total = countFloat > 0 ? countFloat : count;
  // The text format always ends with the +Inf bucket; protobuf leaves it implied.
  const last = buckets[buckets.length - 1];
  if (last === undefined || last.upperBound !== Infinity) buckets.push({ upperBound: Infinity, count: total });
  return { count: total, sum, buckets, floatCounts };
}

const bucketRead = { upperBound: 0, count: 0, float: false };

/** A Bucket message: its bound and count (the float count when set), in one reused object. */
function readBucket(r: protobuf.Reader, len: number): typeof bucketRead {
  const end = r.pos + len;
  let count = 0;
  let countFloat = 0;
  let upperBound = 0;
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 1:
        count = r.uint64() as unknown as number;
        break;
      case 2:
        upperBound = r.double();
        break;
      case 3:
        ExemplarMessage.decode(r, r.size());
        break;
      case 4:
        countFloat = r.double();
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  bucketRead.upperBound = upperBound;
  bucketRead.count = countFloat > 0 ? countFloat : count;
  bucketRead.float = countFloat > 0;
  return bucketRead;
}

/** A Gauge, Untyped or Counter message's value (0 when absent, as protobufjs reads it). */
function readValue(r: protobuf.Reader, len: number, counter: boolean): number {
  const end = r.pos + len;
  let value = 0;
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 1:
        value = r.double();
        break;
      // A counter's exemplar and created timestamp are read (and checked) as protobufjs would, then dropped.
      case 2:
        if (counter) ExemplarMessage.decode(r, r.size());
        else r.skipType(tag & 7);
        break;
      case 3:
        if (counter) InstantMessage.decode(r, r.size());
        else r.skipType(tag & 7);
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  return value;
}

// Set up first: setup() would otherwise later put protobufjs' own decoder back in place.
MetricMessage.setup();
MetricMessage.decode = function (r: protobuf.Reader | Uint8Array, len?: number) {
  return readMetric(r as protobuf.Reader, len!) as unknown as protobuf.Message;
};

// Parsing is synchronous: one reader serves every push, pointed at each body in turn.
const reader = new Utf8CheckingReader(Buffer.alloc(0));
const EMPTY = Buffer.alloc(0);

/** Parses a whole delimited-protobuf body. A repeated family name: the later family wins, as in the reference. */
export function parseProtobuf(body: Buffer, options: ParseOptions = {}): MetricFamily[] {
  const at = { offset: 0 };
  decoding.limits = options.limits && hasLimits(options.limits) ? new LimitCheck(options.limits, () => `the MetricFamily message at byte ${at.offset}`) : undefined;
  reader.buf = body;
  reader.pos = 0;
  reader.len = body.length;
  const families: MetricFamily[] = [];
  let seen: Set<string> | undefined;
  try {
    while (reader.pos < reader.len) {
      const start = reader.pos;
      at.offset = start;
      let len: number;
      try {
        len = reader.size();
      } catch (e) {
        throw new ProtoParseError(start, `invalid length prefix of a MetricFamily message: ${(e as Error).message === "invalid length encoding" ? "longer than 31 bits" : "truncated"}`);
      }
      const left = reader.len - reader.pos;
      if (len > left) throw new ProtoParseError(start, `MetricFamily message of ${len} bytes, but only ${left} bytes are left in the body (truncated?)`);
      let message: PbFamily;
      resetDecoding();
      try {
        message = MetricFamilyMessage.decode(reader, len) as unknown as PbFamily;
      } catch (e) {
        if (e instanceof LimitError) throw e;
        throw new ProtoParseError(start, `invalid MetricFamily message (${len} bytes): ${(e as Error).message}`);
      }
      const family = toFamily(message, start);
      // Names are nearly always distinct: a scan while they are few, a Set of them beyond.
      if (families.length >= 16 && seen === undefined) seen = new Set(families.map(nameOf));
      if (seen === undefined ? families.some(named, family.name) : seen.has(family.name)) families.splice(families.findIndex(named, family.name), 1);
      seen?.add(family.name);
      families.push(family);
    }
  } finally {
    reader.buf = EMPTY;
    decoding.limits = undefined;
    resetDecoding();
  }
  return families;
}

type Fail = (detail: string) => Error;

function nameOf(f: MetricFamily): string {
  return f.name;
}
function named(this: string, f: MetricFamily): boolean {
  return f.name === this;
}

function whichMetric(name: string, m: Metric): string {
  return `metric ${goQuote(name)} {${labelText(m.labels)}}`;
}

/** Checks a decoded family message; errors name the offset of its record. */
function toFamily(pb: PbFamily, offset: number): MetricFamily {
  const name = pb.name;
  if (!validMetricName(name)) throw new ProtoParseError(offset, `invalid metric name ${goQuote(name)}`);
  decoding.limits?.addFamily(name);
  // protobufjs, like Go, keeps an unknown enum value out of the field: the type reads as COUNTER.
  const type = TYPES[pb.type];
  const metrics = pb.metric;
  if (decoding.problemAt >= 0) throw new ProtoParseError(offset, `${whichMetric(name, metrics[decoding.problemAt])}: ${decoding.problem}`);
  const bit = TYPE_BIT[type];
  const carried = decoding.carried;
  for (let i = 0; i < decoding.count; i++) {
    if (!(carried[i] & bit)) throw new ProtoParseError(offset, `${whichMetric(name, metrics[i])} is of type ${type} but carries no ${BIT_FIELD[bit]} value`);
  }
  const family: MetricFamily = { name, type, metrics };
  if (pb.help !== "") family.help = pb.help;
  return family;
}

function labelText(labels: string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < labels.length; i += 2) parts.push(`${labels[i]}=${goQuote(labels[i + 1])}`);
  return parts.join(",");
}

class HistogramError extends Error {}
const histogramError: Fail = (detail) => new HistogramError(detail);

function toHistogram(pb: PbHistogram): Histogram {
  const isFloat = pb.sample_count_float > 0 || pb.zero_count_float > 0 || pb.negative_count.length > 0 || pb.positive_count.length > 0 || pb.bucket.some((b) => b.cumulative_count_float > 0);
  const count = pb.sample_count_float > 0 ? pb.sample_count_float : pb.sample_count;
  const h: Histogram = { count, sum: pb.sample_sum, buckets: [], floatCounts: isFloat };
  if (pb.bucket.length > 0) {
    for (const b of pb.bucket) h.buckets.push({ upperBound: b.upper_bound, count: b.cumulative_count_float > 0 ? b.cumulative_count_float : b.cumulative_count });
  } else if (isNative(pb)) {
    h.buckets = nativeBuckets(pb, histogramError);
    h.native = { schema: pb.schema, zeroThreshold: pb.zero_threshold };
  }
  // The text format always ends with the +Inf bucket; protobuf leaves it implied.
  const last = h.buckets[h.buckets.length - 1];
  if (last === undefined || last.upperBound !== Infinity) h.buckets.push({ upperBound: Infinity, count });
  return h;
}

function isNative(pb: PbHistogram): boolean {
  return pb.schema !== 0 || pb.zero_threshold > 0 || pb.zero_count > 0 || pb.zero_count_float > 0 || pb.negative_span.length > 0 || pb.positive_span.length > 0;
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
  // Every populated bucket must have a bound of its own, finite and above the one before:
  // spans whose offsets run past float64's range would otherwise end as several +Inf buckets.
  const add = (upperBound: number, what: string) => {
    if (!Number.isFinite(upperBound)) throw fail(`native histogram ${what} has no finite bound at schema ${schema} (span offsets out of range)`);
    const before = out[out.length - 1];
    if (before !== undefined && upperBound <= before.upperBound) throw fail(`native histogram ${what} has the bound ${upperBound}, not above the bucket before it (${before.upperBound}): spans overlap or run out of range`);
    out.push({ upperBound, count: cumulative });
  };
  for (let i = negative.length - 1; i >= 0; i--) {
    const b = negative[i];
    if (b.count === 0) continue;
    cumulative += b.count;
    add(-nativeBound(b.index - 1, schema), `negative bucket ${b.index}`);
  }
  if (zero > 0) {
    cumulative += zero;
    add(pb.zero_threshold, "zero bucket");
  }
  for (const b of positive) {
    if (b.count === 0) continue;
    cumulative += b.count;
    add(nativeBound(b.index, schema), `positive bucket ${b.index}`);
  }
  return out;
}
