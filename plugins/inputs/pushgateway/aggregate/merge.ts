// Adds a push into an aggregated group: the families it names, each series added to the
// group's series of the same labels (once the rule's labels are dropped). Pure: it reads the
// stored families and returns the families the group holds after the merge; the caller stores
// them as a POST would, with every check the store makes.
import { formatGoFloat } from "../../../formats/prometheus/goformat.ts";
import type { Bucket, Histogram, Metric, MetricFamily, MetricType } from "../../../formats/prometheus/model.ts";
import { sanitize, seriesKey, type CanonicalGrouping, type StoredFamily } from "../store/store.ts";
import type { AggregateRule, GaugeMode } from "./rules.ts";

/** A push that cannot be added into the group: 400, nothing merged. */
export class MergeError extends Error {}

function labelText(labels: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < labels.length; i += 2) parts.push(`${labels[i]}=${JSON.stringify(labels[i + 1])}`);
  return `{${parts.join(",")}}`;
}

function dropLabels(labels: readonly string[], drop: ReadonlySet<string>): string[] {
  if (drop.size === 0) return labels as string[];
  const out: string[] = [];
  for (let i = 0; i < labels.length; i += 2) if (!drop.has(labels[i])) out.push(labels[i], labels[i + 1]);
  return out;
}

function gauge(mode: GaugeMode, before: number, pushed: number): number {
  switch (mode) {
    case "last":
      return pushed;
    case "sum":
      return before + pushed;
    case "min":
      return Math.min(before, pushed);
    case "max":
      return Math.max(before, pushed);
  }
}

function addHistograms(name: string, labels: readonly string[], a: Histogram, b: Histogram): Histogram {
  const where = `histogram ${JSON.stringify(name)} ${labelText(labels)}`;
  const sum = { count: (a.count ?? 0) + (b.count ?? 0), sum: (a.sum ?? 0) + (b.sum ?? 0), floatCounts: a.floatCounts || b.floatCounts };
  if (a.native && b.native) {
    if (a.native.schema !== b.native.schema || a.native.zeroThreshold !== b.native.zeroThreshold) {
      const grid = (h: Histogram) => `schema ${h.native!.schema}, zero threshold ${formatGoFloat(h.native!.zeroThreshold)}`;
      throw new MergeError(`native ${where}: ${grid(b)} differs from the aggregated group's ${grid(a)}`);
    }
    return { ...sum, buckets: addOnGrid(a.buckets, b.buckets), native: a.native };
  }
  const same = a.buckets.length === b.buckets.length && a.buckets.every((x, i) => x.upperBound === b.buckets[i].upperBound);
  if (!same) {
    const bounds = (h: Histogram) => `[${h.buckets.map((x) => formatGoFloat(x.upperBound)).join(", ")}]`;
    throw new MergeError(`${where}: bucket boundaries ${bounds(b)} differ from the aggregated group's ${bounds(a)}`);
  }
  return { ...sum, buckets: a.buckets.map((x, i) => ({ upperBound: x.upperBound, count: x.count + b.buckets[i].count })) };
}

/**
 * Two native histograms of one grid, added: each lists only its populated buckets, so at a
 * boundary the other lacks, the other's cumulative count is that of its last boundary below.
 */
function addOnGrid(a: readonly Bucket[], b: readonly Bucket[]): Bucket[] {
  const out: Bucket[] = [];
  let i = 0;
  let j = 0;
  let ca = 0;
  let cb = 0;
  while (i < a.length || j < b.length) {
    const bound = Math.min(i < a.length ? a[i].upperBound : Infinity, j < b.length ? b[j].upperBound : Infinity);
    if (i < a.length && a[i].upperBound === bound) ca = a[i++].count;
    if (j < b.length && b[j].upperBound === bound) cb = b[j++].count;
    out.push({ upperBound: bound, count: ca + cb });
  }
  return out;
}

/** One series after another push of it: `before` is what the group held, `pushed` what came. */
function combine(name: string, type: MetricType, mode: GaugeMode, before: Metric, pushed: Metric): Metric {
  const out: Metric = { labels: before.labels };
  const t = Math.max(before.timestampMs ?? -Infinity, pushed.timestampMs ?? -Infinity);
  if (t !== -Infinity) out.timestampMs = t;
  switch (type) {
    case "COUNTER":
      out.value = (before.value ?? 0) + (pushed.value ?? 0);
      break;
    case "GAUGE":
    case "UNTYPED":
      // With timestamps kept, "last" is the value of the latest timestamp, not of the latest push.
      out.value = mode === "last" && (pushed.timestampMs ?? Infinity) < (before.timestampMs ?? -Infinity) ? before.value : gauge(mode, before.value ?? 0, pushed.value ?? 0);
      break;
    case "SUMMARY": {
      const a = before.summary ?? { quantiles: [] };
      const b = pushed.summary ?? { quantiles: [] };
      // Quantiles of two processes do not add: the latest push's are kept.
      out.summary = { count: (a.count ?? 0) + (b.count ?? 0), sum: (a.sum ?? 0) + (b.sum ?? 0), quantiles: b.quantiles };
      break;
    }
    case "HISTOGRAM":
      out.histogram = addHistograms(name, before.labels, before.histogram!, pushed.histogram!);
      break;
    case "GAUGE_HISTOGRAM":
      out.histogram = mode === "last" ? pushed.histogram : addHistograms(name, before.labels, before.histogram!, pushed.histogram!);
      break;
  }
  return out;
}

/**
 * The families the group holds after adding `pushed` to `stored` (only those the push names).
 * Throws MergeError, before anything is changed, for a push that cannot be added.
 */
export function mergePush(stored: ReadonlyMap<string, StoredFamily> | undefined, pushed: readonly MetricFamily[], rule: AggregateRule, grouping: CanonicalGrouping): MetricFamily[] {
  const drop = new Set(rule.options.drop_labels);
  const out: MetricFamily[] = [];
  for (const f of pushed) {
    if (f.metrics.length === 0) continue;
    if (!rule.options.honor_timestamps && f.metrics.some((m) => m.timestampMs !== undefined)) {
      throw new MergeError(`${JSON.stringify(f.name)} has timestamps, which an aggregating group refuses (aggregate rule #${rule.id}): a sum has no single time; set honor_timestamps = true in the rule to keep the latest`);
    }
    const old = stored?.get(f.name);
    if (old && old.type !== f.type) {
      throw new MergeError(`${JSON.stringify(f.name)} is a ${old.type} in the aggregated group and cannot be added to as a ${f.type}`);
    }
    const metrics: Metric[] = old ? old.family.metrics.slice() : [];
    const index = new Map<string, number>();
    metrics.forEach((m, i) => index.set(seriesKey(f.name, m.labels), i));
    for (const m of f.metrics) {
      const s = sanitize({ ...m, labels: dropLabels(m.labels, drop) }, grouping.labels, grouping.names);
      const key = seriesKey(f.name, s.labels);
      const at = index.get(key);
      if (at === undefined) {
        index.set(key, metrics.length);
        metrics.push(s);
      } else {
        metrics[at] = combine(f.name, f.type, rule.gauges, metrics[at], s);
      }
    }
    const help = f.help ?? old?.help;
    out.push({ name: f.name, ...(help !== undefined ? { help } : {}), type: f.type, metrics });
  }
  return out;
}
