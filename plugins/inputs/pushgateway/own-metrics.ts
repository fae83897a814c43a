// The agent's own metrics (prom-client's registry) as metric families, so that the scrape
// endpoint serves them beside the pushed groups as the reference serves its own.
import type { Registry } from "prom-client";
import type { Metric, MetricFamily, MetricType } from "../../formats/prometheus/model.ts";

const TYPES: Record<string, MetricType> = { counter: "COUNTER", gauge: "GAUGE", histogram: "HISTOGRAM", summary: "SUMMARY" };

interface JsonValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

function labelPairs(labels: Record<string, string | number>, skip: string): string[] {
  return Object.keys(labels)
    .filter((k) => k !== skip)
    .sort()
    .flatMap((k) => [k, String(labels[k])]);
}

function bound(v: string | number | undefined): number {
  return v === "+Inf" ? Infinity : Number(v);
}

function family(name: string, help: string, type: MetricType, values: JsonValue[]): MetricFamily {
  if (type === "COUNTER" || type === "GAUGE") {
    return { name, help, type, metrics: values.map((v) => ({ labels: labelPairs(v.labels, ""), value: v.value })) };
  }
  // Summaries and histograms come as one value per sample: regroup them by label set.
  const skip = type === "HISTOGRAM" ? "le" : "quantile";
  const byLabels = new Map<string, Metric>();
  for (const v of values) {
    const labels = labelPairs(v.labels, skip);
    const key = JSON.stringify(labels);
    let m = byLabels.get(key);
    if (!m) {
      m = type === "HISTOGRAM" ? { labels, histogram: { buckets: [], floatCounts: false } } : { labels, summary: { quantiles: [] } };
      byLabels.set(key, m);
    }
    const part = m.histogram ?? m.summary!;
    if (v.metricName === `${name}_sum`) part.sum = v.value;
    else if (v.metricName === `${name}_count`) part.count = v.value;
    else if (m.histogram) m.histogram.buckets.push({ upperBound: bound(v.labels.le), count: v.value });
    else m.summary!.quantiles.push({ quantile: Number(v.labels.quantile), value: v.value });
  }
  return { name, help, type, metrics: [...byLabels.values()] };
}

export async function ownFamilies(registry: Registry): Promise<MetricFamily[]> {
  const json = (await registry.getMetricsAsJSON()) as unknown as { name: string; help: string; type: string; values: JsonValue[] }[];
  return json.filter((m) => TYPES[m.type]).map((m) => family(m.name, m.help, TYPES[m.type], m.values));
}

/** Names a push may not take: every family the agent serves of its own. */
export function ownNames(registry: Registry): Set<string> {
  return new Set(registry.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name));
}
