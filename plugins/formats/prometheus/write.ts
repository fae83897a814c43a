// The exposition writers: metric families written as text 0.0.4, delimited protobuf or
// OpenMetrics 1.0 (which of them a scrape gets is negotiate()'s choice, in mediatypes.ts),
// with names escaped by the scheme the scraper asked for. With "allow-utf-8" a name that is
// not a legacy name is written quoted, as prometheus/common writes it: a metric name moves
// inside the braces, first ({"my.metric","my.label"="v"} 1), and HELP/TYPE lines quote it.
//
// A family is written as its head (familyHead) and then each metric on its own (metricWriter),
// so that a scrape can be written piece by piece and reuse the pieces that did not change;
// render() writes whole families in one go.
import { ByteBuilder } from "./byte-builder.ts";
import { escapeName, type EscapingScheme } from "./escaping.ts";
import { formatGoFloat } from "./goformat.ts";
import type { BodyFormat } from "./mediatypes.ts";
import { LABEL_NAME, METRIC_NAME, type Metric, type MetricFamily, type MetricType } from "./model.ts";
import { protobufHead, renderProtobuf, writeProtobufMetric } from "./write-protobuf.ts";

export { renderProtobuf };

export function render(families: readonly MetricFamily[], format: BodyFormat, escaping: EscapingScheme = "underscores"): string | Buffer {
  const escaped = escapeFamilies(families, escaping);
  if (format === "protobuf") return renderProtobuf(escaped);
  if (format === "openmetrics") return renderOpenMetrics(escaped);
  return renderText(escaped);
}

/** The families with their metric and label names escaped (the same objects where nothing changes). */
export function escapeFamilies(families: readonly MetricFamily[], scheme: EscapingScheme): readonly MetricFamily[] {
  if (scheme === "allow-utf-8") return families;
  return families.map((f) => {
    const name = escapeName(f.name, scheme);
    let metrics = f.metrics;
    for (let i = 0; i < metrics.length; i++) {
      const labels = metrics[i].labels;
      const renamed = escapeLabels(labels, scheme);
      if (renamed === labels) continue;
      if (metrics === f.metrics) metrics = metrics.slice();
      metrics[i] = { ...metrics[i], labels: renamed };
    }
    return name === f.name && metrics === f.metrics ? f : { ...f, name, metrics };
  });
}

/** The label pairs with their names escaped (the same array where nothing changes). */
export function escapeLabels(labels: string[], scheme: EscapingScheme): string[] {
  if (scheme === "allow-utf-8") return labels;
  let out = labels;
  for (let i = 0; i < labels.length; i += 2) {
    const name = escapeName(labels[i], scheme, true);
    if (name === labels[i]) continue;
    if (out === labels) out = labels.slice();
    out[i] = name;
  }
  return out;
}

/**
 * Go's %g (formatGoFloat), with the usual values first: between 1e-4 and 1e6 Go writes the
 * shortest round-tripping digits without an exponent, which is JavaScript's own spelling.
 */
export function goFloat(v: number): string {
  const a = Math.abs(v);
  return a >= 1e-4 && a < 1e6 ? String(v) : formatGoFloat(v);
}

/** A name as the text formats write it: as it is when legacy, else quoted. */
function nameText(name: string): string {
  return METRIC_NAME.test(name) ? name : `"${escapeLabelValue(name)}"`;
}

// ---- text 0.0.4 and OpenMetrics ----

function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

const LABEL_VALUE_SPECIAL = /[\\\n"]/;

function escapeLabelValue(s: string): string {
  if (!LABEL_VALUE_SPECIAL.test(s)) return s;
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** A label name as the text formats write it: as it is when legacy (no ":"), else quoted. */
function labelNameText(name: string): string {
  return LABEL_NAME.test(name) ? name : `"${escapeLabelValue(name)}"`;
}

/** The label pairs as written between braces (without them). */
function labelText(labels: readonly string[]): string {
  let out = "";
  for (let i = 0; i < labels.length; i += 2) {
    if (i > 0) out += ",";
    out += `${labelNameText(labels[i])}="${escapeLabelValue(labels[i + 1])}"`;
  }
  return out;
}

const TEXT_TYPES: Record<MetricType, string> = {
  COUNTER: "counter",
  GAUGE: "gauge",
  SUMMARY: "summary",
  UNTYPED: "untyped",
  HISTOGRAM: "histogram",
  // Text 0.0.4 has no gauge histogram; Prometheus reads one as a histogram.
  GAUGE_HISTOGRAM: "histogram",
};

/** How one sample name starts a line: alone (no labels), or opening the braces before the labels. */
class Series {
  readonly bare: string;
  readonly open: string;

  constructor(name: string) {
    const legacy = METRIC_NAME.test(name);
    this.bare = legacy ? name : `{${nameText(name)}}`;
    this.open = legacy ? `${name}{` : `{${nameText(name)},`;
  }

  line(labels: string, value: number, ts: string): string {
    return `${labels === "" ? this.bare : this.open + labels + "}"} ${goFloat(value)}${ts}\n`;
  }
}

/** Labels with one more pair at the end (quantile, le): its value is never escaped. */
function withPair(labels: string, name: string, value: string): string {
  return `${labels === "" ? "" : labels + ","}${name}="${value}"`;
}

/**
 * Writes one family's metrics as text lines: text 0.0.4, or OpenMetrics (`seconds`: timestamps
 * in seconds, gauge histograms' _gsum/_gcount). `name` and the labels are as served (escaped).
 */
class TextMetrics {
  private readonly plain: Series;
  private readonly sum: Series;
  private readonly count: Series;
  private readonly bucket: Series;

  constructor(
    name: string,
    private readonly type: MetricType,
    private readonly seconds: boolean,
  ) {
    const gauge = seconds && type === "GAUGE_HISTOGRAM";
    this.plain = new Series(name);
    this.sum = new Series(name + (gauge ? "_gsum" : "_sum"));
    this.count = new Series(name + (gauge ? "_gcount" : "_count"));
    this.bucket = new Series(name + "_bucket");
  }

  text(labels: readonly string[], m: Metric): string {
    const ts = m.timestampMs === undefined ? "" : ` ${this.seconds ? String(m.timestampMs / 1000) : String(m.timestampMs)}`;
    const l = labelText(labels);
    switch (this.type) {
      case "SUMMARY": {
        const s = m.summary ?? { quantiles: [] };
        let out = "";
        for (const q of s.quantiles) {
          // Text 0.0.4 takes any quantile (the reference does); OpenMetrics only 0..1, and one
          // quantile outside it would make the whole exposition unreadable: left out there.
          if (this.seconds && !(q.quantile >= 0 && q.quantile <= 1)) continue;
          out += this.plain.line(withPair(l, "quantile", goFloat(q.quantile)), q.value, ts);
        }
        return out + this.sum.line(l, s.sum ?? 0, ts) + this.count.line(l, s.count ?? 0, ts);
      }
      case "HISTOGRAM":
      case "GAUGE_HISTOGRAM": {
        const h = m.histogram ?? { buckets: [], floatCounts: false };
        let out = "";
        let inf = false;
        for (const b of h.buckets) {
          out += this.bucket.line(withPair(l, "le", goFloat(b.upperBound)), b.count, ts);
          if (b.upperBound === Infinity) inf = true;
        }
        if (!inf) out += this.bucket.line(withPair(l, "le", "+Inf"), h.count ?? 0, ts);
        // OpenMetrics needs _count equal to the +Inf bucket: a push that left it out (OpenMetrics
        // makes it optional) has it from there; text 0.0.4 writes 0, as the reference does
        // (and a _count that differs from it, which text 0.0.4 takes, is served as it in OpenMetrics).
        const count = this.seconds && inf ? h.buckets[h.buckets.length - 1].count : (h.count ?? 0);
        return out + this.sum.line(l, h.sum ?? 0, ts) + this.count.line(l, count, ts);
      }
      default:
        return this.plain.line(l, m.value ?? 0, ts);
    }
  }
}

function textHead(name: string, help: string | undefined, type: MetricType): string {
  const n = nameText(name);
  return `${help ? `# HELP ${n} ${escapeHelp(help)}\n` : ""}# TYPE ${n} ${TEXT_TYPES[type]}\n`;
}

export function renderText(families: readonly MetricFamily[]): string {
  let out = "";
  for (const f of families) {
    out += textHead(f.name, f.help, f.type);
    const w = new TextMetrics(f.name, f.type, false);
    for (const m of f.metrics) out += w.text(m.labels, m);
  }
  return out;
}

// ---- OpenMetrics 1.0 ----

/** Whether a counter's metric may be served as an OpenMetrics counter (which cannot be negative or NaN). */
export function servableCounter(m: Metric): boolean {
  return (m.value ?? 0) >= 0;
}

/**
 * OpenMetrics names a counter's samples <family>_total. A pushed counter whose name does not
 * end in _total is written as `unknown`, so that a scraper stores the very series the text
 * format gives (the reference serves text: the same PromQL must see the same names).
 * `names` are the names of every family served; `servable` whether every metric of the family
 * is a servableCounter().
 */
function openMetricsHead(name: string, help: string | undefined, type: MetricType, names: ReadonlySet<string>, servable: boolean): string {
  let family = name;
  let t: string;
  switch (type) {
    case "COUNTER":
      // Such a push is served as unknown rather than making the whole scrape unreadable.
      if (name.endsWith("_total") && !names.has(name.slice(0, -6)) && servable) {
        family = name.slice(0, -6);
        t = "counter";
      } else t = "unknown";
      break;
    case "GAUGE":
      t = "gauge";
      break;
    case "SUMMARY":
      t = "summary";
      break;
    case "HISTOGRAM":
      t = "histogram";
      break;
    case "GAUGE_HISTOGRAM":
      t = "gaugehistogram";
      break;
    default:
      t = "unknown";
  }
  return `# TYPE ${nameText(family)} ${t}\n${help ? `# HELP ${nameText(family)} ${escapeLabelValue(help)}\n` : ""}`;
}

export const OPENMETRICS_EOF = "# EOF\n";

export function renderOpenMetrics(families: readonly MetricFamily[]): string {
  const names = new Set(families.map((f) => f.name));
  let out = "";
  for (const f of families) {
    out += openMetricsHead(f.name, f.help, f.type, names, f.metrics.every(servableCounter));
    const w = new TextMetrics(f.name, f.type, true);
    for (const m of f.metrics) out += w.text(m.labels, m);
  }
  return out + OPENMETRICS_EOF;
}

// ---- piece by piece ----

/** What a family's head depends on beyond the family itself. */
export interface HeadContext {
  /** OpenMetrics: the (escaped) names of every family served. */
  names: ReadonlySet<string>;
  /** OpenMetrics: whether every metric of the family is a servableCounter(). */
  servable: boolean;
  /** Protobuf: the bytes of the family's metric entries, which its length prefix counts. */
  bodyBytes: number;
}

/** The start of a family in a format: text's HELP and TYPE lines, OpenMetrics' TYPE and HELP, protobuf's length prefix, name, help and type. */
export function familyHead(format: BodyFormat, scheme: EscapingScheme, name: string, help: string | undefined, type: MetricType, context: HeadContext): string | Buffer {
  const served = escapeName(name, scheme);
  if (format === "protobuf") return protobufHead(served, help, type, context.bodyBytes);
  if (format === "openmetrics") return openMetricsHead(served, help, type, context.names, context.servable);
  return textHead(served, help, type);
}

/** Writes the metrics of one family (of name and type as given, names escaped by the scheme) in a format. */
export interface MetricWriter {
  write(m: Metric, out: ByteBuilder): void;
}

export function metricWriter(format: BodyFormat, scheme: EscapingScheme, name: string, type: MetricType): MetricWriter {
  if (format === "protobuf") return { write: (m, out) => writeProtobufMetric(type, escapeLabels(m.labels, scheme), m, out) };
  const w = new TextMetrics(escapeName(name, scheme), type, format === "openmetrics");
  return { write: (m, out) => out.string(w.text(escapeLabels(m.labels, scheme), m)) };
}
