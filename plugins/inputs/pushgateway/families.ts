// Metric families as the parsers produce them and the converter consumes them: the shape of
// Prometheus' client_model MetricFamily, with plain numbers for values.

export type MetricType = "COUNTER" | "GAUGE" | "SUMMARY" | "UNTYPED" | "HISTOGRAM" | "GAUGE_HISTOGRAM";

export interface Quantile {
  quantile: number;
  value: number;
}

export interface Bucket {
  upperBound: number;
  /** Cumulative count of observations <= upperBound. */
  count: number;
}

export interface Summary {
  count?: number;
  sum?: number;
  quantiles: Quantile[];
}

export interface Histogram {
  count?: number;
  sum?: number;
  buckets: Bucket[];
  /** True when some count is not a whole number (a "float histogram"). */
  floatCounts: boolean;
}

export interface Metric {
  /** Label names and values, alternating, in pushed order: [name0, value0, name1, value1, ...]. */
  labels: string[];
  timestampMs?: number;
  /** The value of a counter, gauge or untyped metric. */
  value?: number;
  summary?: Summary;
  histogram?: Histogram;
}

export interface MetricFamily {
  name: string;
  help?: string;
  type: MetricType;
  metrics: Metric[];
}

export function isHistogramType(t: MetricType | undefined): boolean {
  return t === "HISTOGRAM" || t === "GAUGE_HISTOGRAM";
}

/** A body that no parser accepts: answered 400 with this message, nothing of the push kept. */
export class BodyParseError extends Error {}
