// A delimited protobuf body for generated families, encoded with protobufjs and the project's
// schema (test/support/protobuf.ts), not with write.ts: the implied +Inf bucket is left out
// at random, and float histograms use the *_float fields.
import type { Metric, MetricFamily } from "../../../plugins/formats/prometheus/model.ts";
import { encodeFamilies, type FamilyObject } from "../../support/protobuf.ts";
import { Choices } from "./choices.ts";

function pairs(labels: readonly string[]): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (let i = 0; i < labels.length; i += 2) out.push({ name: labels[i], value: labels[i + 1] });
  return out;
}

function metricObject(f: MetricFamily, m: Metric, c: Choices): Record<string, unknown> {
  const o: Record<string, unknown> = { label: pairs(m.labels) };
  if (m.timestampMs !== undefined) o.timestamp_ms = m.timestampMs;
  if (m.summary) {
    o.summary = { sample_count: m.summary.count, sample_sum: m.summary.sum, quantile: m.summary.quantiles };
  } else if (m.histogram) {
    const h = m.histogram;
    let buckets = h.buckets;
    const last = buckets[buckets.length - 1];
    if (last?.upperBound === Infinity && last.count === h.count && c.chance(0.5)) buckets = buckets.slice(0, -1);
    o.histogram = {
      ...(h.floatCounts ? { sample_count_float: h.count } : { sample_count: h.count }),
      sample_sum: h.sum,
      bucket: buckets.map((b) => (h.floatCounts ? { cumulative_count_float: b.count, upper_bound: b.upperBound } : { cumulative_count: b.count, upper_bound: b.upperBound })),
    };
  } else {
    o[f.type.toLowerCase()] = { value: m.value };
  }
  return o;
}

export function protobufBody(families: readonly MetricFamily[], seed: number): Buffer {
  const c = new Choices(seed);
  const objects: FamilyObject[] = families.map((f) => ({
    name: f.name,
    ...(f.help !== undefined ? { help: f.help } : {}),
    type: f.type,
    metric: f.metrics.map((m) => metricObject(f, m, c)),
  }));
  return encodeFamilies(...objects);
}
