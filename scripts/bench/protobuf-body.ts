// The protobuf twin of a text benchmark body: the same families, encoded as the delimited
// MetricFamily records a Go client pushes (classic histograms without the implied +Inf bucket,
// as client_golang leaves it out).

import protobuf from 'protobufjs';
import type { MetricFamily } from '../../plugins/formats/prometheus/model.ts';
import { parseText } from '../../plugins/formats/prometheus/parse-text.ts';

const TYPE_NUMBER = { COUNTER: 0, GAUGE: 1, SUMMARY: 2, UNTYPED: 3, HISTOGRAM: 4, GAUGE_HISTOGRAM: 5 } as const;

const schema = new URL('../../plugins/formats/prometheus/metrics.proto', import.meta.url);
const MetricFamilyType = protobuf.loadSync(schema.pathname).lookupType('io.prometheus.client.MetricFamily');

function message(f: MetricFamily): Record<string, unknown> {
  const metric = f.metrics.map((m) => {
    const label = [];
    for (let i = 0; i < m.labels.length; i += 2) label.push({ name: m.labels[i], value: m.labels[i + 1] });
    const out: Record<string, unknown> = { label };
    if (m.timestampMs !== undefined) out.timestampMs = m.timestampMs;
    switch (f.type) {
      case 'COUNTER':
        out.counter = { value: m.value };
        break;
      case 'GAUGE':
        out.gauge = { value: m.value };
        break;
      case 'UNTYPED':
        out.untyped = { value: m.value };
        break;
      case 'SUMMARY':
        out.summary = { sampleCount: m.summary?.count ?? 0, sampleSum: m.summary?.sum ?? 0, quantile: m.summary?.quantiles ?? [] };
        break;
      default: {
        const h = m.histogram!;
        const bucket = h.buckets.filter((b) => b.upperBound !== Infinity).map((b) => ({ upperBound: b.upperBound, cumulativeCount: b.count }));
        out.histogram = { sampleCount: h.count ?? 0, sampleSum: h.sum ?? 0, bucket };
      }
    }
    return out;
  });
  return { name: f.name, help: f.help, type: TYPE_NUMBER[f.type], metric };
}

export function protobufTwin(text: Buffer): Buffer {
  const w = protobuf.Writer.create();
  for (const f of parseText(text)) MetricFamilyType.encodeDelimited(MetricFamilyType.fromObject(message(f)), w);
  return Buffer.from(w.finish());
}
