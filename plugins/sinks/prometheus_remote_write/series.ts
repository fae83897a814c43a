// From points to Prometheus series: every numeric field of a point is one sample of the series
// `<measurement>_<field>` with the point's tags as labels (README.md, "From points to series").
// Names and label order are made what the protocol requires here, since not every receiver
// checks them (Prometheus 2.42 stores an invalid name as sent).
import type { Point } from "../../../core/point.ts";

export interface Label {
  name: string;
  value: string;
}

export interface Sample {
  value: number;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
}

export interface TimeSeries {
  /** Sorted by name, names unique, `__name__` among them. */
  labels: Label[];
  /** In increasing timestamp order, timestamps unique. */
  samples: Sample[];
}

/** A series as label name -> value, `__name__` included (the order does not matter). */
export type LabelSet = Record<string, string>;


const METRIC_NAME_INVALID = /[^a-zA-Z0-9_:]/gu;
const LABEL_NAME_INVALID = /[^a-zA-Z0-9_]/gu;

/**
 * A valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`): every other character (code
 * point) becomes `_`, a leading digit gets a `_` before it, an empty name is `_`.
 */
export function sanitizeMetricName(name: string): string {
  const s = name.replace(METRIC_NAME_INVALID, "_");
  if (s === "") return "_";
  const c = s.charCodeAt(0);
  return c >= 48 && c <= 57 ? "_" + s : s;
}

/** A valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`), by the same rules (`:` is invalid here). */
export function sanitizeLabelName(name: string): string {
  const s = name.replace(LABEL_NAME_INVALID, "_");
  if (s === "") return "_";
  const c = s.charCodeAt(0);
  return c >= 48 && c <= 57 ? "_" + s : s;
}

/** The series name of a point's field: `<measurement>_<field>`, sanitised as a whole. */
export function metricName(measurement: string, field: string): string {
  return sanitizeMetricName(`${measurement}_${field}`);
}

const NAME_LABEL = "__name__";

/** Byte order of ASCII names (what Prometheus sorts by); sanitised names are ASCII. */
function byName(a: Label, b: Label): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The labels of a point's tags, sorted, without `__name__`: names sanitised; empty values left
 * out; when two tags sanitise to the same name, the tag already spelled that way wins, else the
 * first in key order; a tag that sanitises to `__name__` is dropped (the metric name wins).
 */
export function tagLabels(tags: Record<string, string>): Label[] {
  const byLabel = new Map<string, { value: string; exact: boolean }>();
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key];
    if (value === "") continue;
    const name = sanitizeLabelName(key);
    if (name === NAME_LABEL) continue;
    const exact = name === key;
    const had = byLabel.get(name);
    if (had && (had.exact || !exact)) continue;
    byLabel.set(name, { value, exact });
  }
  const labels: Label[] = [];
  for (const [name, { value }] of byLabel) labels.push({ name, value });
  return labels.sort(byName);
}

/** Sorted tag labels with `__name__` put in its sorted place. */
function withName(sorted: readonly Label[], name: string): Label[] {
  const out: Label[] = [];
  let placed = false;
  for (const l of sorted) {
    if (!placed && l.name > NAME_LABEL) {
      out.push({ name: NAME_LABEL, value: name });
      placed = true;
    }
    out.push(l);
  }
  if (!placed) out.push({ name: NAME_LABEL, value: name });
  return out;
}

/** A label set as sorted labels. */
export function labelsOf(set: LabelSet): Label[] {
  return Object.entries(set)
    .map(([name, value]) => ({ name, value }))
    .sort(byName);
}

/** Unix nanoseconds to milliseconds, rounded down (also before 1970). */
export function nsToMs(ns: bigint): number {
  const q = ns / 1_000_000n;
  return Number(ns < 0n && q * 1_000_000n !== ns ? q - 1n : q);
}

/** A field's sample value; undefined for a field that is not numeric (a string). */
function sampleValue(v: Point["fields"][string]): number | undefined {
  switch (typeof v) {
    case "number":
      // Any NaN a field carries is an ordinary NaN, never taken for a staleness marker.
      return Number.isNaN(v) ? NaN : v;
    case "bigint":
      return Number(v);
    case "boolean":
      return v ? 1 : 0;
    default:
      return undefined;
  }
}

/** Identity of a label set, for grouping samples (and markers) by series. */
export function seriesKey(labels: readonly Label[]): string {
  let key = "";
  for (const l of labels) key += l.name + "\u0000" + l.value + "\u0001";
  return key;
}

/**
 * The series of a batch: every numeric field of every point is one sample of the series
 * `<measurement>_<field>` + the point's tag labels. Samples of the same label set share one
 * TimeSeries, in time order; of samples with the same timestamp, the last in the batch wins.
 */
export function pointsToTimeSeries(points: readonly Point[]): TimeSeries[] {
  const series = new Map<string, { labels: Label[]; samples: Sample[] }>();
  for (const p of points) {
    let base: Label[] | undefined;
    for (const field of Object.keys(p.fields)) {
      const value = sampleValue(p.fields[field]);
      if (value === undefined) continue;
      base ??= tagLabels(p.tags);
      const labels = withName(base, metricName(p.measurement, field));
      const key = seriesKey(labels);
      let s = series.get(key);
      if (!s) series.set(key, (s = { labels, samples: [] }));
      s.samples.push({ value, timestamp: nsToMs(p.time) });
    }
  }
  const out: TimeSeries[] = [];
  for (const s of series.values()) {
    let samples = s.samples;
    if (samples.length > 1) {
      samples.sort((a, b) => a.timestamp - b.timestamp); // stable: batch order among equal times
      samples = samples.filter((x, i) => i + 1 === samples.length || samples[i + 1].timestamp !== x.timestamp);
    }
    out.push({ labels: s.labels, samples });
  }
  return out;
}

/** The distinct label sets (series) the points write to, e.g. to mark them stale later. */
export function seriesOf(points: readonly Point[]): LabelSet[] {
  return pointsToTimeSeries(points).map((s) => Object.fromEntries(s.labels.map((l) => [l.name, l.value])));
}
