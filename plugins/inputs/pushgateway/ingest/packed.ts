// Parsed families in a form that crosses threads cheaply: a family's label sets as one string,
// its numbers in one Float64Array. A structured clone of 100,000 metric objects costs the
// receiving thread more than parsing them did; a string and a typed array cost a copy (the
// array not even that: it is transferred). The string is the one the group store compares
// with the family it replaces (store/label-shape.ts), made here off the main thread; the
// numbers become metric objects only when a reader asks (see packed-family.ts).
import type { BodyFormat } from "../../../formats/prometheus/mediatypes.ts";
import type { Bucket, Metric, MetricFamily, MetricType, Quantile } from "../../../formats/prometheus/model.ts";
import { shapeOf } from "../store/label-shape.ts";
import type { MetricBuilder } from "../store/pushed-family.ts";

/** A family as a parse worker sends it. */
export interface PackedFamily {
  name: string;
  help?: string;
  type: MetricType;
  /** Number of metrics. */
  size: number;
  /** The label pairs of every metric as pushed, joined by shapeOf (store/label-shape.ts). */
  shape: string;
  /** Per metric: flags, then the numbers they announce (see packNumbers). */
  numbers: Float64Array;
}

/** Packed families as a parse worker sends them (see parse-worker.ts wire()): one column per field. */
export interface WireFamilies {
  /** The canonical key of the push's grouping, which `keys` were made for. */
  grouping: string;
  names: string[];
  helps: (string | undefined)[];
  types: MetricType[];
  sizes: number[];
  shapes: string[];
  /** Per family, the series keys the store will give its metrics, when the worker made them. */
  keys: (string[] | undefined)[];
  /** Every family's numbers (see packNumbers), one after another. */
  numbers: Float64Array;
  /** Where each family's numbers end in `numbers`. */
  ends: Float64Array;
}

const VALUE = 1;
const TIMESTAMP = 2;
const SUMMARY = 4;
const HISTOGRAM = 8;
const COUNT = 16;
const SUM = 32;
const FLOAT_COUNTS = 64;
/** A native histogram's grid follows its buckets: schema, zero threshold. */
const NATIVE = 128;

function lengthOf(m: Metric): number {
  let n = 1;
  if (m.value !== undefined) n++;
  if (m.timestampMs !== undefined) n++;
  const agg = m.summary ?? m.histogram;
  if (agg) n += 3 + 2 * (m.summary ? m.summary.quantiles.length : m.histogram!.buckets.length);
  if (m.histogram?.native) n += 2;
  return n;
}

/**
 * Every number of the metrics in one array. Per metric: its flags, value, timestamp; for a
 * summary or histogram its count, sum, the number of quantiles or buckets, then each one's
 * bound and value. Absent numbers are left out (their flag is unset).
 */
export function packNumbers(metrics: readonly Metric[]): Float64Array {
  let length = 0;
  for (const m of metrics) length += lengthOf(m);
  const out = new Float64Array(length);
  let at = 0;
  for (const m of metrics) {
    const flagsAt = at++;
    let flags = 0;
    if (m.value !== undefined) {
      flags |= VALUE;
      out[at++] = m.value;
    }
    if (m.timestampMs !== undefined) {
      flags |= TIMESTAMP;
      out[at++] = m.timestampMs;
    }
    const s = m.summary;
    const h = m.histogram;
    const agg = s ?? h;
    if (agg) {
      flags |= s ? SUMMARY : HISTOGRAM;
      if (agg.count !== undefined) flags |= COUNT;
      if (agg.sum !== undefined) flags |= SUM;
      out[at++] = agg.count ?? 0;
      out[at++] = agg.sum ?? 0;
      if (s) {
        out[at++] = s.quantiles.length;
        for (const q of s.quantiles) {
          out[at++] = q.quantile;
          out[at++] = q.value;
        }
      } else {
        if (h!.floatCounts) flags |= FLOAT_COUNTS;
        out[at++] = h!.buckets.length;
        for (const b of h!.buckets) {
          out[at++] = b.upperBound;
          out[at++] = b.count;
        }
        if (h!.native) {
          flags |= NATIVE;
          out[at++] = h!.native.schema;
          out[at++] = h!.native.zeroThreshold;
        }
      }
    }
    out[flagsAt] = flags;
  }
  return out;
}

/**
 * The metrics back from their numbers, each with the given labels, a few at a time: a family of
 * 100,000 series is made across turns of the event loop (see MetricBuilder).
 */
export class PackedMetrics implements MetricBuilder {
  // Grown rather than made at its size: a large `new Array(n)` is a slow dictionary in V8.
  readonly metrics: Metric[] = [];
  private at = 0;

  /** `labels` may grow while the metrics are made (see PushedFamily.build); `size` is how many there are. */
  constructor(
    private readonly numbers: Float64Array,
    private readonly labels: readonly (readonly string[])[],
    private readonly size = labels.length,
  ) {}

  more(count: number): boolean {
    const { numbers, labels, metrics } = this;
    const end = Math.min(this.size, labels.length, metrics.length + count);
    let at = this.at;
    for (let i = metrics.length; i < end; i++) {
      const flags = numbers[at++];
      const m: Metric = { labels: labels[i] as string[] };
      if (flags & VALUE) m.value = numbers[at++];
      if (flags & TIMESTAMP) m.timestampMs = numbers[at++];
      if (flags & (SUMMARY | HISTOGRAM)) {
        const count = numbers[at++];
        const sum = numbers[at++];
        const n = numbers[at++];
        if (flags & SUMMARY) {
          const quantiles: Quantile[] = new Array(n);
          for (let k = 0; k < n; k++, at += 2) quantiles[k] = { quantile: numbers[at], value: numbers[at + 1] };
          m.summary = { quantiles };
          if (flags & COUNT) m.summary.count = count;
          if (flags & SUM) m.summary.sum = sum;
        } else {
          const buckets: Bucket[] = new Array(n);
          for (let k = 0; k < n; k++, at += 2) buckets[k] = { upperBound: numbers[at], count: numbers[at + 1] };
          m.histogram = { buckets, floatCounts: (flags & FLOAT_COUNTS) !== 0 };
          if (flags & COUNT) m.histogram.count = count;
          if (flags & SUM) m.histogram.sum = sum;
          if (flags & NATIVE) {
            m.histogram.native = { schema: numbers[at], zeroThreshold: numbers[at + 1] };
            at += 2;
          }
        }
      }
      metrics.push(m);
    }
    this.at = at;
    if (metrics.length < this.size) return false;
    if (at !== numbers.length) throw new Error(`packed family: ${numbers.length - at} numbers left over`);
    return true;
  }
}

interface CachedShape {
  labels: readonly (readonly string[])[];
  shape: string;
}

/**
 * The shapes a parse worker made last, per group and family: a job pushes the same series
 * push after push, and comparing label sets with the last push's costs a third of joining
 * them again. Families of fewer than `minSize` metrics are cheap to join and not kept; at most
 * `maxMetrics` metrics' label sets are kept, the least recently used family going first.
 */
export class ShapeCache {
  private readonly entries = new Map<string, CachedShape>();
  private metrics = 0;
  /** Whether the last shapeOf() found the label sets of the group's last push of that family. */
  hit = false;

  constructor(
    private readonly maxMetrics = 500_000,
    private readonly minSize = 256,
  ) {}

  /**
   * shapeOf(f.metrics, narrow), from the cache when the label sets are those of the group's
   * last push of f. `group` only picks the entry compared: a shape is reused on equal label sets.
   */
  shapeOf(group: string, f: MetricFamily, narrow?: boolean): string {
    const ms = f.metrics;
    this.hit = false;
    if (ms.length < this.minSize) return shapeOf(ms, narrow);
    const key = group + "\u0000" + f.name;
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.metrics -= hit.labels.length;
      // Equal label sets make the same string whatever `narrow` says now: theirs hold no separator.
      if (sameLabelSets(hit.labels, ms)) {
        this.hit = true;
        return this.keep(key, hit);
      }
    }
    const shape = shapeOf(ms, narrow);
    return this.keep(key, { labels: ms.map((m) => m.labels), shape });
  }

  private keep(key: string, e: CachedShape): string {
    this.entries.set(key, e);
    this.metrics += e.labels.length;
    for (const [k, old] of this.entries) {
      if (this.metrics <= this.maxMetrics || k === key) break;
      this.entries.delete(k);
      this.metrics -= old.labels.length;
    }
    return e.shape;
  }
}

function sameLabelSets(was: readonly (readonly string[])[], ms: readonly Metric[]): boolean {
  if (was.length !== ms.length) return false;
  for (let i = 0; i < ms.length; i++) {
    const a = was[i];
    const b = ms[i].labels;
    if (a.length !== b.length) return false;
    for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return false;
  }
  return true;
}

/** `narrow`: as for shapeOf. */
export function pack(f: MetricFamily, narrow?: boolean, shape = shapeOf(f.metrics, narrow)): PackedFamily {
  return { name: f.name, ...(f.help !== undefined ? { help: f.help } : {}), type: f.type, size: f.metrics.length, shape, numbers: packNumbers(f.metrics) };
}

/**
 * Whether no label parsed from this body can hold NUL or SOH: true when the body has neither
 * byte (the text formats' escapes make neither). A look at the bytes is cheaper than at every
 * label; a protobuf body has such bytes anyway, and its labels are looked at one by one.
 */
export function narrowBody(body: Buffer, format: BodyFormat): boolean | undefined {
  if (format === "protobuf") return undefined;
  return body.indexOf(0) < 0 && body.indexOf(1) < 0;
}

/** Whether any of the `size` metrics packed in `numbers` (see packNumbers) carries a timestamp. */
export function packedHasTimestamps(numbers: Float64Array, size: number): boolean {
  let at = 0;
  for (let i = 0; i < size; i++) {
    const flags = numbers[at++];
    if (flags & TIMESTAMP) return true;
    if (flags & VALUE) at++;
    if (flags & (SUMMARY | HISTOGRAM)) at += 3 + 2 * numbers[at + 2];
  }
  return false;
}
