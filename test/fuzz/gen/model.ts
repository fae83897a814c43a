// Metric families that a valid body of a format can carry, as the parsers must give them back:
// the expected side of "a valid body parses to what was written". Each generated family keeps
// what its exposition needs beyond the model (the OpenMetrics type and base name).
import fc from "fast-check";
import type { Bucket, Metric, MetricFamily, MetricType, Quantile } from "../../../plugins/formats/prometheus/model.ts";
import { anyDouble, count, numberNotNaN, timestamp } from "./numbers.ts";
import { anyText, LEGACY_LABEL, labelName, labelValue, metricName } from "./names.ts";

export type Format = "text" | "openmetrics" | "protobuf";

export interface Flavor {
  format: Format;
  /** Names beyond the legacy rules (text and OpenMetrics quote them; protobuf always takes them). */
  utf8: boolean;
}

export type OmType = "counter" | "gauge" | "unknown" | "summary" | "histogram" | "gaugehistogram" | "info" | "stateset";

const OM_OUT: Record<OmType, MetricType> = {
  counter: "COUNTER",
  gauge: "GAUGE",
  unknown: "UNTYPED",
  summary: "SUMMARY",
  histogram: "HISTOGRAM",
  gaugehistogram: "GAUGE_HISTOGRAM",
  info: "GAUGE",
  stateset: "GAUGE",
};

export interface GenFamily {
  /** The name the exposition's metadata uses (OpenMetrics: "x" of counter "x_total"). */
  base: string;
  omType: OmType;
  family: MetricFamily;
}

const TYPES: MetricType[] = ["COUNTER", "GAUGE", "UNTYPED", "SUMMARY", "HISTOGRAM", "GAUGE_HISTOGRAM"];
const OM_TYPES = Object.keys(OM_OUT) as OmType[];
const TO_OM: Record<MetricType, OmType> = { COUNTER: "counter", GAUGE: "gauge", UNTYPED: "unknown", SUMMARY: "summary", HISTOGRAM: "histogram", GAUGE_HISTOGRAM: "gaugehistogram" };

function labelKey(labels: readonly string[]): string {
  const pairs: string[] = [];
  for (let i = 0; i < labels.length; i += 2) pairs.push(JSON.stringify([labels[i], labels[i + 1]]));
  return pairs.sort().join();
}

function labelSet(f: Flavor, exclude: string[]): fc.Arbitrary<string[]> {
  return fc
    .uniqueArray(fc.tuple(labelName(f.utf8 || f.format === "protobuf"), labelValue), { selector: (t) => t[0], maxLength: 4 })
    .map((pairs) => pairs.filter(([n]) => !exclude.includes(n)).flat());
}

const optionalTimestamp = fc.option(timestamp, { nil: undefined });

function withTimestamp(m: Metric, ts: number | undefined): Metric {
  if (ts !== undefined) m.timestampMs = ts;
  return m;
}

function plainValue(f: Flavor, om: OmType): fc.Arbitrary<number> {
  if (f.format !== "openmetrics") return anyDouble;
  if (om === "counter") return fc.double({ min: 0, noNaN: true });
  if (om === "info") return fc.constant(1);
  if (om === "stateset") return fc.constantFrom(0, 1);
  return anyDouble;
}

function summaryMetric(f: Flavor, labels: string[]): fc.Arbitrary<Metric> {
  const quantile = f.format === "openmetrics" ? fc.double({ min: 0, max: 1, noNaN: true }) : f.format === "text" ? numberNotNaN : anyDouble;
  // A summary's count is a whole number in the data model: the text parsers truncate it.
  const cnt =
    f.format === "protobuf" ? count(false) : f.format === "openmetrics" ? fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) : fc.oneof(count(false), fc.constantFrom(NaN, Infinity, -5, 1e300));
  return fc
    .record({ quantiles: fc.array(fc.record({ quantile, value: anyDouble }), { maxLength: 4 }), count: cnt, sum: anyDouble, ts: optionalTimestamp })
    .map(({ quantiles, count, sum, ts }) => withTimestamp({ labels, summary: { count, sum, quantiles: quantiles as Quantile[] } }, ts));
}

/** floatCounts as the model defines it: some count is not a whole number. */
function floatCounts(total: number, buckets: Bucket[]): boolean {
  return !Number.isInteger(total) || buckets.some((b) => !Number.isInteger(b.count));
}

function histogramMetric(f: Flavor, labels: string[]): fc.Arbitrary<Metric> {
  return fc.boolean().chain((float) => {
    if (f.format === "openmetrics") {
      // Strictly increasing bounds, non-decreasing counts, +Inf last and equal to _count.
      return fc
        .record({
          bounds: fc.uniqueArray(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 5, comparator: (a, b) => a === b }),
          steps: fc.array(count(float).map((c) => c % 1e6), { minLength: 6, maxLength: 6 }),
          sum: anyDouble,
          ts: optionalTimestamp,
        })
        .map(({ bounds, steps, sum, ts }) => {
          const sorted = [...bounds].sort((a, b) => a - b).map((b) => (Object.is(b, -0) ? 0 : b));
          let cum = 0;
          const buckets: Bucket[] = sorted.map((upperBound, i) => ({ upperBound, count: (cum += steps[i]) }));
          buckets.push({ upperBound: Infinity, count: (cum += steps[5]) });
          return withTimestamp({ labels, histogram: { count: cum, sum, buckets, floatCounts: floatCounts(cum, buckets) } }, ts);
        });
    }
    return fc
      .record({
        buckets: fc.array(fc.record({ upperBound: numberNotNaN.filter((b) => b !== Infinity), count: count(float) }), { maxLength: 5 }),
        total: float && f.format === "protobuf" ? fc.double({ min: 0.5, max: 1e12, noNaN: true }) : count(float),
        inf: f.format === "text" ? fc.option(count(float), { nil: undefined }) : fc.constant(undefined),
        sum: anyDouble,
        ts: optionalTimestamp,
      })
      .map(({ buckets, total, inf, sum, ts }) => {
        const all = [...buckets, { upperBound: Infinity, count: inf ?? total }];
        // Protobuf says which counts are floats by the fields it sets, text by their values.
        const isFloat = f.format === "protobuf" ? float : floatCounts(total, all);
        return withTimestamp({ labels, histogram: { count: total, sum, buckets: all, floatCounts: isFloat } }, ts);
      });
  });
}

function metric(f: Flavor, g: { base: string; om: OmType; type: MetricType }): fc.Arbitrary<Metric> {
  const special = g.type === "SUMMARY" ? ["quantile"] : g.type === "HISTOGRAM" || g.type === "GAUGE_HISTOGRAM" ? ["le"] : [];
  return labelSet(f, [...special, g.base]).chain((labels) => {
    if (g.om === "stateset") labels = [...labels, g.base, ""];
    if (g.type === "SUMMARY") return summaryMetric(f, labels);
    if (special.length > 0) return histogramMetric(f, labels);
    return fc.record({ value: plainValue(f, g.om), ts: optionalTimestamp, state: labelValue }).map(({ value, ts, state }) => {
      const l = g.om === "stateset" ? [...labels.slice(0, -1), state] : labels;
      return withTimestamp({ labels: l, value }, ts);
    });
  });
}

function helpText(f: Flavor): fc.Arbitrary<string | undefined> {
  return fc.option(
    anyText(24).filter((h) => {
      // Text 0.0.4 skips the blanks before a HELP text; OpenMetrics lines may not end in "\r".
      if (f.format === "text") return !/^[ \t]/.test(h);
      if (f.format === "openmetrics") return !h.endsWith("\r");
      return true;
    }),
    { nil: undefined },
  );
}

function family(f: Flavor, base: string): fc.Arbitrary<GenFamily> {
  const om = f.format === "openmetrics" ? fc.constantFrom(...OM_TYPES) : fc.constantFrom(...TYPES).map((t) => TO_OM[t]);
  return om.chain((omType) => {
    // A stateset's states are labelled with the family's name: it must be able to name a label.
    if (omType === "stateset" && (!LEGACY_LABEL.test(base) && !f.utf8 || base.startsWith("__"))) omType = "gauge";
    const type = f.format === "openmetrics" ? OM_OUT[omType] : (Object.keys(TO_OM) as MetricType[]).find((t) => TO_OM[t] === omType)!;
    const name = omType === "counter" && f.format === "openmetrics" ? base + "_total" : omType === "info" ? base + "_info" : base;
    return fc
      .record({
        help: helpText(f),
        metrics: fc.uniqueArray(metric(f, { base, om: omType, type }), {
          selector: (m) => labelKey(m.labels),
          // Text 0.0.4 has no family without samples.
          minLength: f.format === "text" ? 1 : 0,
          maxLength: 4,
        }),
      })
      .map(({ help, metrics }) => {
        const fam: MetricFamily = { name, type, metrics };
        if (help !== undefined && help !== "") fam.help = help;
        return { base, omType, family: fam };
      });
  });
}

/** Families of one valid body of the flavor's format, with distinct names that cannot collide. */
export function families(f: Flavor): fc.Arbitrary<GenFamily[]> {
  return fc
    .uniqueArray(metricName(f.utf8 || f.format === "protobuf"), { maxLength: 4 })
    .chain((names) => (names.length === 0 ? fc.constant([]) : fc.tuple(...names.map((n) => family(f, n)))));
}
