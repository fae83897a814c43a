// The delimited protobuf writer: a family is its varint length, its name, help and type fields,
// then one field-4 entry per metric. Each entry is written on its own (a scrape can reuse the
// entries of metrics that did not change) and the length is put in front once they are known.
// protobufjs writes fields in field-number order, with proto2's optional fields present
// whenever set; the hand-written path below writes a counter, gauge or untyped metric with the
// very bytes protobufjs gives, several times faster; every other metric goes through protobufjs.
import { ByteBuilder, varintSize } from "./byte-builder.ts";
import type { Metric, MetricFamily, MetricType } from "./model.ts";
import { MetricFamilyMessage } from "./metrics-proto.ts";

const MetricMessage = MetricFamilyMessage.lookupType(".io.prometheus.client.Metric");

function pairs(labels: readonly string[]): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (let i = 0; i < labels.length; i += 2) out.push({ name: labels[i], value: labels[i + 1] });
  return out;
}

/** A metric as the plain object protobufjs' fromObject takes. */
function pbMetric(type: MetricType, m: Metric): Record<string, unknown> {
  const pb: Record<string, unknown> = { label: pairs(m.labels) };
  if (m.timestampMs !== undefined) pb.timestamp_ms = m.timestampMs;
  switch (type) {
    case "COUNTER":
      pb.counter = { value: m.value ?? 0 };
      break;
    case "GAUGE":
      pb.gauge = { value: m.value ?? 0 };
      break;
    case "UNTYPED":
      pb.untyped = { value: m.value ?? 0 };
      break;
    case "SUMMARY": {
      const s = m.summary ?? { quantiles: [] };
      pb.summary = { sample_count: s.count ?? 0, sample_sum: s.sum ?? 0, quantile: s.quantiles.map((q) => ({ quantile: q.quantile, value: q.value })) };
      break;
    }
    default: {
      const h = m.histogram ?? { buckets: [], floatCounts: false };
      const count = h.count ?? 0;
      pb.histogram = {
        ...(h.floatCounts ? { sample_count_float: count } : { sample_count: count }),
        sample_sum: h.sum ?? 0,
        bucket: h.buckets.map((b) => (h.floatCounts ? { cumulative_count_float: b.count, upper_bound: b.upperBound } : { cumulative_count: b.count, upper_bound: b.upperBound })),
      };
    }
  }
  return pb;
}

/** The whole families through protobufjs: the plain way, which the writer below must match byte for byte. */
export function renderProtobuf(families: readonly MetricFamily[]): Buffer {
  const chunks: Uint8Array[] = [];
  for (const f of families) {
    const message = { name: f.name, ...(f.help ? { help: f.help } : {}), type: f.type, metric: f.metrics.map((m) => pbMetric(f.type, m)) };
    chunks.push(MetricFamilyMessage.encodeDelimited(MetricFamilyMessage.fromObject(message)).finish());
  }
  return Buffer.concat(chunks);
}

const METRIC_FIELD = 0x22; // MetricFamily.metric, length-delimited
const LABEL_FIELD = 0x0a; // Metric.label; also LabelPair.name
const LABEL_VALUE_FIELD = 0x12;
const VALUE_FIELD = 0x09; // Gauge/Counter/Untyped.value, a double
const TIMESTAMP_FIELD = 0x30;
/** The Metric field that holds the value message of each simple type. */
const VALUE_MESSAGE: Partial<Record<MetricType, number>> = { GAUGE: 0x12, COUNTER: 0x1a, UNTYPED: 0x2a };

/**
 * Appends one metric as its family's field-4 entry (tag, length, Metric message). `labels` are
 * the metric's labels as served (escaped); `type` is the family's.
 */
export function writeProtobufMetric(type: MetricType, labels: readonly string[], m: Metric, out: ByteBuilder): void {
  const valueField = VALUE_MESSAGE[type];
  const ts = m.timestampMs;
  if (valueField === undefined || (ts !== undefined && !(Number.isSafeInteger(ts) && ts >= 0))) {
    const bytes = MetricMessage.encode(MetricMessage.fromObject(pbMetric(type, { ...m, labels: labels as string[] }))).finish();
    out.byte(METRIC_FIELD);
    out.varint(bytes.length);
    out.bytes(bytes);
    return;
  }
  let size = 11 + (ts === undefined ? 0 : 1 + varintSize(ts));
  for (let i = 0; i < labels.length; i += 2) {
    const pair = pairSize(labels[i], labels[i + 1]);
    size += 1 + varintSize(pair) + pair;
  }
  out.byte(METRIC_FIELD);
  out.varint(size);
  for (let i = 0; i < labels.length; i += 2) {
    const name = labels[i];
    const value = labels[i + 1];
    out.byte(LABEL_FIELD);
    out.varint(pairSize(name, value));
    out.byte(LABEL_FIELD);
    out.varint(Buffer.byteLength(name, "utf8"));
    out.string(name);
    out.byte(LABEL_VALUE_FIELD);
    out.varint(Buffer.byteLength(value, "utf8"));
    out.string(value);
  }
  out.byte(valueField);
  out.byte(9);
  out.byte(VALUE_FIELD);
  out.double(m.value ?? 0);
  if (ts !== undefined) {
    out.byte(TIMESTAMP_FIELD);
    out.varint(ts);
  }
}

function pairSize(name: string, value: string): number {
  const n = Buffer.byteLength(name, "utf8");
  const v = Buffer.byteLength(value, "utf8");
  return 2 + varintSize(n) + n + varintSize(v) + v;
}

/** A family's start: its length prefix (the head and `bodyBytes` of metric entries after it) and its name, help and type. */
export function protobufHead(name: string, help: string | undefined, type: MetricType, bodyBytes: number): Buffer {
  const head = MetricFamilyMessage.encode(MetricFamilyMessage.fromObject({ name, ...(help ? { help } : {}), type })).finish();
  const out = new ByteBuilder(head.length + 10);
  out.varint(head.length + bodyBytes);
  out.bytes(head);
  return out.take();
}
