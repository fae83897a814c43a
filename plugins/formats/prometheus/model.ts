// Metric families as the parsers produce them and the converter consumes them: the shape of
// Prometheus' client_model MetricFamily, with plain numbers for values.
import type { BodyLimits } from "./limits.ts";

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

/** Where a histogram's buckets came from a native histogram's spans: its grid. */
export interface NativeGrid {
  schema: number;
  zeroThreshold: number;
}

export interface Histogram {
  count?: number;
  sum?: number;
  buckets: Bucket[];
  /** True when some count is not a whole number (a "float histogram"). */
  floatCounts: boolean;
  /**
   * Set when the buckets were made from a native histogram: boundaries on its schema's grid,
   * only those of populated buckets (so two of one grid can be added bucket by bucket).
   */
  native?: NativeGrid;
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

// ---- names ----
// Prometheus 3 allows any non-empty UTF-8 string as a metric or label name; the legacy rules are
// what text 0.0.4 without quoting can carry, and what a scraper that asked for no escaping
// scheme gets. These are the one place the rules are written.

/** A legacy Prometheus label name, as Go's model.LabelNameRE. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** A legacy Prometheus metric name: a label name that may also hold ":". */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * Which names a parser accepts: "legacy" (the rules above) or "utf8" (any non-empty string; the
 * parsers have already refused invalid UTF-8 bytes). Names starting with "__" are reserved for
 * labels either way: where they are refused, the caller checks that too.
 */
export type NameValidation = "legacy" | "utf8";

export function isMetricName(name: string, validation: NameValidation): boolean {
  return validation === "utf8" ? name.length > 0 : METRIC_NAME.test(name);
}

export function isLabelName(name: string, validation: NameValidation): boolean {
  return validation === "utf8" ? name.length > 0 : LABEL_NAME.test(name);
}

/** What a parser may be told about the body beyond its bytes. */
export interface ParseOptions {
  /** Quoted UTF-8 names in the text formats (protobuf carries any UTF-8 name regardless). */
  names?: NameValidation;
  /** What one body may hold; over a limit the parser throws a LimitError (limits.ts). */
  limits?: BodyLimits;
}

/** The parse options of an input that has an enable_utf8_names switch. */
export function parseOptions(o: { enable_utf8_names: boolean } & BodyLimits): Required<ParseOptions> {
  const { sample_limit, label_limit, label_name_length_limit, label_value_length_limit } = o;
  return { names: o.enable_utf8_names ? "utf8" : "legacy", limits: { sample_limit, label_limit, label_name_length_limit, label_value_length_limit } };
}

export function isHistogramType(t: MetricType | undefined): boolean {
  return t === "HISTOGRAM" || t === "GAUGE_HISTOGRAM";
}

/**
 * The latest (and, negated, earliest) timestamp a sample may carry, in milliseconds: what int64
 * nanoseconds can hold (1677-09-21 to 2262-04-11), as sinks write it. Anything beyond would be
 * served as a number Prometheus cannot read back and written as one a backend refuses.
 */
export const MAX_TIMESTAMP_MS = 9_223_372_036_854;

/** Why a timestamp (ms) cannot be kept, or undefined when it can. */
export function timestampProblem(ms: number, written: string): string | undefined {
  if (ms >= -MAX_TIMESTAMP_MS && ms <= MAX_TIMESTAMP_MS) return undefined;
  return `timestamp ${written} is outside the range a timestamp may have (int64 nanoseconds: -${MAX_TIMESTAMP_MS} to ${MAX_TIMESTAMP_MS} ms)`;
}

/** A body that no parser accepts: answered 400 with this message, nothing of the push kept. */
export class BodyParseError extends Error {}

/** A parse error of a line-based text format: "<format> parsing error in line N: <detail>". */
export class TextParseError extends BodyParseError {
  constructor(
    readonly line: number,
    readonly detail: string,
    /** How the message names the format: the reference says "text format". */
    format = "text format",
  ) {
    super(`${format} parsing error in line ${line}: ${detail}`);
    this.name = "TextParseError";
  }
}

/**
 * The first n entries of labels as an array of their own. Literals of the usual sizes are
 * allocated inline, several times faster than slice(); all have the same (packed) elements kind.
 */
export function copyLabels(labels: string[], n: number): string[] {
  switch (n) {
    case 2:
      return [labels[0], labels[1]];
    case 4:
      return [labels[0], labels[1], labels[2], labels[3]];
    case 6:
      return [labels[0], labels[1], labels[2], labels[3], labels[4], labels[5]];
    case 8:
      return [labels[0], labels[1], labels[2], labels[3], labels[4], labels[5], labels[6], labels[7]];
    default:
      return labels.slice(0, n);
  }
}

/**
 * Flat label pairs ([name, value, ...]) sorted by name: the array itself when already sorted,
 * else a sorted copy (an insertion sort, stable: label sets are small, and clients send them
 * sorted).
 */
export function sortedPairs(l: readonly string[]): readonly string[] {
  let i = 2;
  while (i < l.length && l[i - 2] < l[i]) i += 2;
  if (i >= l.length) return l;
  const out = l.slice();
  for (; i < out.length; i += 2) {
    const name = out[i];
    const value = out[i + 1];
    let j = i - 2;
    while (j >= 0 && out[j] > name) {
      out[j + 2] = out[j];
      out[j + 3] = out[j + 1];
      j -= 2;
    }
    out[j + 2] = name;
    out[j + 3] = value;
  }
  return out;
}
