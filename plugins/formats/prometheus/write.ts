// The exposition writers: metric families written as text 0.0.4, delimited protobuf or
// OpenMetrics 1.0 (which of them a scrape gets is negotiate()'s choice, in mediatypes.ts),
// with names escaped by the scheme the scraper asked for. With "allow-utf-8" a name that is
// not a legacy name is written quoted, as prometheus/common writes it: a metric name moves
// inside the braces, first ({"my.metric","my.label"="v"} 1), and HELP/TYPE lines quote it.
import { escapeName, type EscapingScheme } from "./escaping.ts";
import { formatGoFloat } from "./goformat.ts";
import type { BodyFormat } from "./mediatypes.ts";
import { METRIC_NAME, type Metric, type MetricFamily, type MetricType } from "./model.ts";
import { MetricFamilyMessage } from "./metrics-proto.ts";

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

function escapeLabels(labels: string[], scheme: EscapingScheme): string[] {
  let out = labels;
  for (let i = 0; i < labels.length; i += 2) {
    const name = escapeName(labels[i], scheme);
    if (name === labels[i]) continue;
    if (out === labels) out = labels.slice();
    out[i] = name;
  }
  return out;
}

/** A name as the text formats write it: as it is when legacy, else quoted. */
function nameText(name: string): string {
  return METRIC_NAME.test(name) ? name : `"${escapeLabelValue(name)}"`;
}

// ---- text 0.0.4 ----

function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** The label pairs as written between braces (without them). */
function labelText(labels: readonly string[], extraName?: string, extraValue?: string): string {
  if (labels.length === 0 && extraName === undefined) return "";
  const parts: string[] = [];
  for (let i = 0; i < labels.length; i += 2) parts.push(`${nameText(labels[i])}="${escapeLabelValue(labels[i + 1])}"`);
  if (extraName !== undefined) parts.push(`${extraName}="${extraValue}"`);
  return parts.join(",");
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

function sample(out: string[], name: string, labels: string, value: number, ts: number | undefined, seconds = false): void {
  const t = ts === undefined ? "" : ` ${seconds ? formatSeconds(ts) : String(ts)}`;
  let series: string;
  if (METRIC_NAME.test(name)) series = labels === "" ? name : `${name}{${labels}}`;
  else series = labels === "" ? `{${nameText(name)}}` : `{${nameText(name)},${labels}}`;
  out.push(`${series} ${formatGoFloat(value)}${t}\n`);
}

/** Summary and histogram samples, shared by text and OpenMetrics (which differ in little else). */
function writeMetric(out: string[], f: MetricFamily, m: Metric, name: string, seconds: boolean): void {
  const ts = m.timestampMs;
  switch (f.type) {
    case "SUMMARY": {
      const s = m.summary ?? { quantiles: [] };
      for (const q of s.quantiles) sample(out, name, labelText(m.labels, "quantile", formatGoFloat(q.quantile)), q.value, ts, seconds);
      sample(out, name + "_sum", labelText(m.labels), s.sum ?? 0, ts, seconds);
      sample(out, name + "_count", labelText(m.labels), s.count ?? 0, ts, seconds);
      break;
    }
    case "HISTOGRAM":
    case "GAUGE_HISTOGRAM": {
      const h = m.histogram ?? { buckets: [], floatCounts: false };
      let inf = false;
      for (const b of h.buckets) {
        sample(out, name + "_bucket", labelText(m.labels, "le", formatGoFloat(b.upperBound)), b.count, ts, seconds);
        if (b.upperBound === Infinity) inf = true;
      }
      if (!inf) sample(out, name + "_bucket", labelText(m.labels, "le", "+Inf"), h.count ?? 0, ts, seconds);
      const gauge = seconds && f.type === "GAUGE_HISTOGRAM";
      sample(out, name + (gauge ? "_gsum" : "_sum"), labelText(m.labels), h.sum ?? 0, ts, seconds);
      sample(out, name + (gauge ? "_gcount" : "_count"), labelText(m.labels), h.count ?? 0, ts, seconds);
      break;
    }
    default:
      sample(out, name, labelText(m.labels), m.value ?? 0, ts, seconds);
  }
}

export function renderText(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    const name = nameText(f.name);
    if (f.help) out.push(`# HELP ${name} ${escapeHelp(f.help)}\n`);
    out.push(`# TYPE ${name} ${TEXT_TYPES[f.type]}\n`);
    for (const m of f.metrics) writeMetric(out, f, m, f.name, false);
  }
  return out.join("");
}

// ---- OpenMetrics 1.0 ----

function formatSeconds(ms: number): string {
  return String(ms / 1000);
}

/**
 * OpenMetrics names a counter's samples <family>_total. A pushed counter whose name does not
 * end in _total is written as `unknown`, so that a scraper stores the very series the text
 * format gives (the reference serves text: the same PromQL must see the same names).
 */
export function renderOpenMetrics(families: readonly MetricFamily[]): string {
  const names = new Set(families.map((f) => f.name));
  const out: string[] = [];
  for (const f of families) {
    let family = f.name;
    let type: string;
    switch (f.type) {
      case "COUNTER":
        // OpenMetrics counters must not be negative or NaN: such a push is served as unknown
        // rather than making the whole scrape unreadable.
        if (f.name.endsWith("_total") && !names.has(f.name.slice(0, -6)) && f.metrics.every((m) => (m.value ?? 0) >= 0)) {
          family = f.name.slice(0, -6);
          type = "counter";
        } else type = "unknown";
        break;
      case "GAUGE":
        type = "gauge";
        break;
      case "SUMMARY":
        type = "summary";
        break;
      case "HISTOGRAM":
        type = "histogram";
        break;
      case "GAUGE_HISTOGRAM":
        type = "gaugehistogram";
        break;
      default:
        type = "unknown";
    }
    out.push(`# TYPE ${nameText(family)} ${type}\n`);
    if (f.help) out.push(`# HELP ${nameText(family)} ${escapeLabelValue(f.help)}\n`);
    for (const m of f.metrics) writeMetric(out, f, m, f.name, true);
  }
  out.push("# EOF\n");
  return out.join("");
}

// ---- delimited protobuf ----

function pairs(labels: readonly string[]): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (let i = 0; i < labels.length; i += 2) out.push({ name: labels[i], value: labels[i + 1] });
  return out;
}

function pbMetric(f: MetricFamily, m: Metric): Record<string, unknown> {
  const pb: Record<string, unknown> = { label: pairs(m.labels) };
  if (m.timestampMs !== undefined) pb.timestamp_ms = m.timestampMs;
  switch (f.type) {
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

export function renderProtobuf(families: readonly MetricFamily[]): Buffer {
  const chunks: Uint8Array[] = [];
  for (const f of families) {
    const message = { name: f.name, ...(f.help ? { help: f.help } : {}), type: f.type, metric: f.metrics.map((m) => pbMetric(f, m)) };
    chunks.push(MetricFamilyMessage.encodeDelimited(MetricFamilyMessage.fromObject(message)).finish());
  }
  return Buffer.concat(chunks);
}
