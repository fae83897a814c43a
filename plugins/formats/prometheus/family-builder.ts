// Assembles one MetricFamily from the samples of a text-based parser (text 0.0.4 and
// OpenMetrics): plain samples become one Metric each; the samples of a summary or histogram
// (quantiles or buckets, _sum, _count) are gathered into one Metric per label set, whatever
// order its labels come in and wherever in the family its samples are.
import { copyLabels, isHistogramType, type Metric, type MetricFamily, type MetricType } from "./model.ts";

/** Order-independent key of the first n entries of a label set; length prefixes keep it unambiguous for any text. */
export function signature(labels: readonly string[], n: number): string {
  if (n === 0) return "";
  if (n === 2) return pairKey(labels, 0);
  if (n === 4) {
    // What sort() would do with two: `<` compares code units, as sort()'s default order does.
    const a = pairKey(labels, 0);
    const b = pairKey(labels, 2);
    return a < b ? a + b : b + a;
  }
  const pairs: string[] = [];
  for (let i = 0; i < n; i += 2) pairs.push(pairKey(labels, i));
  pairs.sort();
  return pairs.join("");
}

function pairKey(labels: readonly string[], i: number): string {
  return `${labels[i].length}:${labels[i]}${labels[i + 1].length}:${labels[i + 1]}`;
}

/** Whether a holds exactly the first n entries of b. */
function sameLabels(a: readonly string[], b: readonly string[], n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

const itself = (metric: Metric): Metric => metric;

/** What the builder keeps per summary or histogram metric: the Metric, or a parser's record of it with its labels. */
export interface Grouped {
  /** The metric's labels (quantile and le left out). */
  readonly labels: readonly string[];
}

/**
 * One family being built. A summary or histogram metric is kept as a group of type G: the
 * Metric itself, or what a parser wraps around it (`wrap`, given the new Metric) to check its
 * samples as they come.
 */
export class FamilyBuilder<G extends Grouped = Metric> {
  readonly family: MetricFamily;
  /** Summary and histogram groups by label signature (without quantile/le). */
  private grouped: Map<string, G> | undefined;
  /** The group of the previous group() call: the next line usually continues it. */
  private last: G | undefined;
  /** Whether the last group() call created the group it returned. */
  created = false;

  constructor(
    name: string,
    type: MetricType,
    private readonly wrap: (metric: Metric) => G = itself as unknown as (metric: Metric) => G,
  ) {
    this.family = { name, type, metrics: [] };
  }

  /** Adds a counter, gauge or untyped sample; `labels` becomes the metric's own. */
  plain(labels: string[], value: number): Metric {
    const metric: Metric = { labels, value };
    this.family.metrics.push(metric);
    return metric;
  }

  /**
   * The group of the summary or histogram metric whose labels are the first n entries of
   * `labels` (quantile and le left out), in any order. The first time a label set comes, its
   * metric is created with a copy of them, as a summary or a histogram after the family's type.
   */
  group(labels: string[], n: number): G {
    let g = this.last;
    this.created = false;
    if (g === undefined || !sameLabels(g.labels, labels, n)) {
      const grouped = (this.grouped ??= new Map());
      const key = signature(labels, n);
      g = grouped.get(key);
      if (g === undefined) {
        const kept = copyLabels(labels, n);
        const metric: Metric =
          this.family.type === "SUMMARY" ? { labels: kept, summary: { quantiles: [] } } : { labels: kept, histogram: { buckets: [], floatCounts: false } };
        g = this.wrap(metric);
        grouped.set(key, g);
        this.family.metrics.push(metric);
        this.created = true;
      }
      this.last = g;
    }
    return g;
  }

  /** The summary and histogram groups so far, in order of creation. */
  groups(): Iterable<G> {
    return this.grouped?.values() ?? [];
  }

  /** The family, done: a histogram with any count that is not a whole number is a float histogram throughout. */
  finish(): MetricFamily {
    const family = this.family;
    if (isHistogramType(family.type)) {
      for (const m of family.metrics) {
        const h = m.histogram;
        if (h) h.floatCounts = (h.count !== undefined && !Number.isInteger(h.count)) || h.buckets.some((b) => !Number.isInteger(b.count));
      }
    }
    return family;
  }
}
