// JSON as the reference's API writes it (Go's encoding/json): a group's object, and the whole
// answer of /api/v1/metrics written group by group, metric by metric, in slices.
import type { Metric, MetricFamily } from "../../../formats/prometheus/model.ts";
import { formatGoFloat } from "../../../formats/prometheus/goformat.ts";
import { nativeBuckets } from "../../../formats/prometheus/native-histogram.ts";
import { goFloat } from "../../../formats/prometheus/write.ts";
import type { AggregateRule } from "../aggregate/rules.ts";
import type { Slicer } from "../store/slices.ts";
import type { GroupState } from "../store/snapshot.ts";
import { groupGaugeLabels, PUSH_FAILURE_TIME, PUSH_FAILURE_TIME_HELP, PUSH_TIME, PUSH_TIME_HELP, type Group, type StoredFamily } from "../store/store.ts";
import { Chunks } from "./chunks.ts";

let lastMs = NaN;
let lastText = "";

/** Go's RFC 3339 with the fraction's trailing zeros dropped, as time.Time marshals to JSON. */
export function rfc3339(ms: number): string {
  // The families of a push share its time: the last one asked for is usually asked for again.
  if (ms !== lastMs) {
    lastText = new Date(ms).toISOString().replace(/\.?0+Z$/, "Z");
    lastMs = ms;
  }
  return lastText;
}

/**
 * Byte order of the strings' UTF-8 (Go sorts map keys so), without encoding them: it is the
 * order of UTF-16 units up to the first difference, unless a surrogate is involved there.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 && y < 0xd800) return x - y;
    return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
  }
  return a.length - b.length;
}

/** A map as Go marshals one: keys in byte order (a JS object would put "1" before "0.1"). */
export class GoMap {
  readonly entries: [string, unknown][];
  constructor(entries: Iterable<[string, unknown]>) {
    this.entries = [...entries].sort((a, b) => compareUtf8(a[0], b[0]));
  }
}

/** JSON already written, taken as it is. */
export class RawJson {
  constructor(readonly text: string) {}
}

const GO_ESCAPED = /[<>&\u2028\u2029]/g;
/** What JSON.stringify or Go escapes in a string (surrogates: a lone one is escaped). */
const SPECIAL = /["\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]/;

function goString(s: string): string {
  if (!SPECIAL.test(s)) return `"${s}"`;
  return JSON.stringify(s).replace(GO_ESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** JSON as Go's encoding/json writes it: maps sorted by key, <, > and & escaped, no spaces. */
export function goJson(v: unknown): string {
  if (v instanceof RawJson) return v.text;
  if (v instanceof GoMap) return `{${v.entries.map(([k, x]) => `${goString(k)}:${goJson(x)}`).join(",")}}`;
  if (Array.isArray(v)) return `[${v.map(goJson).join(",")}]`;
  if (typeof v === "string") return goString(v);
  if (v !== null && typeof v === "object") {
    return `{${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${goString(k)}:${goJson(x)}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** A metric's labels as a Go map: the store keeps them sorted by name, which is byte order but for rare characters. */
function labelsJson(labels: readonly string[]): string {
  let out = "{";
  for (let i = 0; i < labels.length; i += 2) {
    if (i > 0 && compareUtf8(labels[i - 2], labels[i]) > 0) {
      const pairs: [string, string][] = [];
      for (let j = 0; j < labels.length; j += 2) pairs.push([labels[j], labels[j + 1]]);
      return goJson(new GoMap(pairs));
    }
    out += `${i > 0 ? "," : ""}${goString(labels[i])}:${goString(labels[i + 1])}`;
  }
  return out + "}";
}

/** A count as the reference prints it: a whole number unless the histogram has float counts. */
function count(n: number, float: boolean): string {
  return float || !Number.isSafeInteger(n) ? formatGoFloat(n) : String(n);
}

/** One metric as the reference's API spells it: every number a string, keys in Go's order. */
function jsonMetric(f: MetricFamily, m: Metric): string {
  if (f.type !== "SUMMARY" && f.type !== "HISTOGRAM" && f.type !== "GAUGE_HISTOGRAM") {
    // {"labels":...,"value":...}: already in key order; a float's spelling needs no escaping.
    return `{"labels":${labelsJson(m.labels)},"value":"${goFloat(m.value ?? 0)}"}`;
  }
  const labels = new RawJson(labelsJson(m.labels));
  if (f.type === "SUMMARY") {
    const s = m.summary ?? { quantiles: [] };
    const out: [string, unknown][] = [["labels", labels]];
    out.push(["quantiles", new GoMap(s.quantiles.map((q) => [formatGoFloat(q.quantile), formatGoFloat(q.value)]))]);
    out.push(["count", count(s.count ?? 0, false)]);
    out.push(["sum", formatGoFloat(s.sum ?? 0)]);
    return goJson(new GoMap(out));
  }
  const h = m.histogram ?? { buckets: [], floatCounts: false };
  const out: [string, unknown][] = [["labels", labels]];
  // A native histogram as the reference >= 1.8 shows one: [boundaries, lower, upper, count] per populated bucket.
  const native = nativeBuckets(h);
  if (native) out.push(["buckets", native.map((b) => [b.boundaries, formatGoFloat(b.lower), formatGoFloat(b.upper), count(b.count, h.floatCounts)])]);
  else out.push(["buckets", new GoMap(h.buckets.map((b) => [formatGoFloat(b.upperBound), count(b.count, h.floatCounts)]))]);
  out.push(["count", count(h.count ?? 0, h.floatCounts)]);
  out.push(["sum", formatGoFloat(h.sum ?? 0)]);
  return goJson(new GoMap(out));
}

/** A family's object in pieces of up to 64 metrics. */
function* familyJson(f: MetricFamily, timeMs: number): Generator<string> {
  let piece = `{"time_stamp":${goString(rfc3339(timeMs))},"type":${goString(f.type)}${f.help ? `,"help":${goString(f.help)}` : ""},"metrics":[`;
  for (let i = 0; i < f.metrics.length; i++) {
    piece += (i > 0 ? "," : "") + jsonMetric(f, f.metrics[i]);
    if ((i & 63) === 63) {
      yield piece;
      piece = "";
    }
  }
  yield piece + "]}";
}

/** What a group's object is made of: the group itself, or its state in a snapshot. */
export interface GroupView {
  readonly labels: readonly (readonly [string, string])[];
  readonly families: Iterable<StoredFamily>;
  readonly pushTimeMs: number;
  readonly failureTimeMs: number;
  readonly lastPushSuccessful: boolean;
}

/** The group's keys in Go's order, each with the pieces of its value. */
function groupEntries(g: GroupView, rule: AggregateRule | undefined): [string, () => Iterable<string>][] {
  const out: [string, () => Iterable<string>][] = [
    ["labels", () => [goJson(new GoMap(g.labels as [string, string][]))]],
    ["last_push_successful", () => [String(g.lastPushSuccessful)]],
  ];
  if (rule) {
    const r = rule.options;
    out.push(["aggregated", () => [goJson({ rule: rule.id, jobs: r.jobs, drop_labels: r.drop_labels, gauges: r.gauges, honor_timestamps: r.honor_timestamps })]]);
  }
  for (const sf of g.families) out.push([sf.name, () => familyJson(sf.family, sf.timeMs)]);
  const labels = groupGaugeLabels(g.labels as [string, string][]);
  out.push([PUSH_TIME, () => familyJson({ name: PUSH_TIME, help: PUSH_TIME_HELP, type: "GAUGE", metrics: [{ labels, value: g.pushTimeMs / 1000 }] }, g.pushTimeMs || g.failureTimeMs)]);
  out.push([PUSH_FAILURE_TIME, () => familyJson({ name: PUSH_FAILURE_TIME, help: PUSH_FAILURE_TIME_HELP, type: "GAUGE", metrics: [{ labels, value: g.failureTimeMs / 1000 }] }, g.failureTimeMs || g.pushTimeMs)]);
  return new GoMap(out).entries as [string, () => Iterable<string>][];
}

/** A group's object in pieces, as goJson(jsonGroup(g)) writes it whole. */
export function* groupJson(g: GroupView, rule?: AggregateRule): Generator<string> {
  let first = true;
  for (const [key, value] of groupEntries(g, rule)) {
    yield `${first ? "{" : ","}${goString(key)}:`;
    first = false;
    yield* value();
  }
  yield "}";
}

/** A group as the reference's API shows it; an aggregated group also names its rule (a key the reference does not have). */
export function jsonGroup(g: Group, rule?: AggregateRule): GoMap {
  return new GoMap(groupEntries(viewOf(g), rule).map(([k, value]) => [k, new RawJson([...value()].join(""))]));
}

function viewOf(g: Group): GroupView {
  return { labels: g.labels, families: g.families.values(), pushTimeMs: g.pushTimeMs, failureTimeMs: g.failureTimeMs, lastPushSuccessful: g.lastPushSuccessful };
}

/** The answer of GET /api/v1/metrics: every group of the snapshot, in the store's order. */
export async function* apiMetrics(states: readonly GroupState[], ruleOf: (g: Group) => AggregateRule | undefined, slicer: Slicer): AsyncGenerator<Buffer> {
  const out = new Chunks();
  // Pieces are joined into a few KB before they are encoded: one encoding per metric costs more than the metric.
  let pending = '{"status":"success","data":[';
  for (let i = 0; i < states.length; i++) {
    const s = states[i];
    if (i > 0) pending += ",";
    // Families no reader has made yet are made in slices, not when groupJson reads them.
    for (const sf of s.families) if (sf.familyMade === undefined) await sf.familyIn(slicer);
    const view: GroupView = { labels: s.group.labels, families: s.families, pushTimeMs: s.pushTimeMs, failureTimeMs: s.failureTimeMs, lastPushSuccessful: s.lastPushSuccessful };
    for (const piece of groupJson(view, ruleOf(s.group))) {
      pending += piece;
      if (pending.length >= 8192) {
        out.string(pending);
        pending = "";
        if (out.ready) yield* out.take();
      }
      // A metric is some 60 bytes of JSON.
      if (slicer.due(1 + piece.length / 64)) await slicer.pause();
    }
  }
  out.string(pending + "]}");
  yield* out.end();
}
