// Metric families -> points, by DataKit's naming and field rules, without its defects:
// a field never loses to a tag of the same key, _count/_sum follow honor_timestamps like
// every other point, NaN and +-Inf values are skipped one by one, and the le/quantile of a
// bucket or quantile win over a grouping label of that name.
import { PointsWriter, withTag, type Point, type PointWriter } from "../../../core/point.ts";
import { formatGoFloat } from "./goformat.ts";
import type { Metric, MetricFamily } from "./families.ts";

export interface NamingOptions {
  measurement_name: string;
  job_as_measurement: boolean;
  keep_exist_metric_name: boolean;
}

export interface ConvertOptions extends NamingOptions {
  honor_timestamps: boolean;
  /** Static tags; body labels and the grouping key win over them. */
  tags: Record<string, string>;
}

export interface Names {
  measurement: string;
  field: string;
}

/**
 * measurement_name, else the job (job_as_measurement), else the metric name split at its
 * first "_" after leading underscores: "etcd_write_bytes_total" -> etcd / write_bytes_total.
 */
export function names(metric: string, job: string, o: NamingOptions): Names {
  if (o.measurement_name !== "") return { measurement: o.measurement_name, field: metric };
  if (o.job_as_measurement) return { measurement: job, field: metric };
  const bare = metric.replace(/^_+/, "");
  if (bare.length <= 1) return { measurement: "unknown", field: "unknown" };
  const cut = bare.indexOf("_");
  if (cut < 0) return { measurement: bare, field: bare };
  const measurement = bare.slice(0, cut);
  const rest = bare.slice(cut + 1);
  if (rest === "") return { measurement, field: measurement };
  return { measurement, field: o.keep_exist_metric_name ? bare : rest };
}

/** Line protocol cannot carry NaN or infinities. */
function finite(v: number | undefined): v is number {
  return v !== undefined && Number.isFinite(v);
}

/** le and quantile values repeat across metrics and pushes: remember their spelling. */
const floatText = new Map<number, string>();
function tagFloat(v: number): string {
  let t = floatText.get(v);
  if (t === undefined) {
    t = formatGoFloat(v);
    if (floatText.size >= 10_000) floatText.clear();
    floatText.set(v, t);
  }
  return t;
}

export class Converter {
  private readonly staticPairs: string[];

  constructor(private readonly o: ConvertOptions) {
    this.staticPairs = sortedPairs(Object.entries(o.tags).flat());
  }

  /**
   * Converts one push into Point objects. `grouping` holds the grouping key (job included);
   * `receivedNs` is the time of every point without an honoured timestamp.
   */
  convert(families: readonly MetricFamily[], grouping: ReadonlyMap<string, string>, receivedNs: bigint): Point[] {
    const out = new PointsWriter();
    this.write(families, grouping, receivedNs, out);
    return out.points;
  }

  /** Converts one push into any PointWriter (e.g. straight into line protocol). */
  write(families: readonly MetricFamily[], grouping: ReadonlyMap<string, string>, receivedNs: bigint, out: PointWriter): void {
    const job = grouping.get("job") ?? "";
    const groupingPairs = sortedPairs([...grouping].flat());
    const msCache = new Map<number, bigint>();
    const timeOf = (m: Metric): bigint => {
      const ms = m.timestampMs;
      if (!this.o.honor_timestamps || ms === undefined || ms <= 0) return receivedNs;
      let t = msCache.get(ms);
      if (t === undefined) msCache.set(ms, (t = BigInt(ms) * 1_000_000n));
      return t;
    };
    for (const fam of families) {
      const { measurement, field } = names(fam.name, job, this.o);
      const countField = field + "_count";
      const sumField = field + "_sum";
      const bucketField = field + "_bucket";
      for (const m of fam.metrics) {
        const tags = this.tags(m, groupingPairs);
        const time = timeOf(m);
        out.series(measurement, tags);
        switch (fam.type) {
          case "COUNTER":
          case "GAUGE":
          case "UNTYPED":
            if (finite(m.value)) add(out, measurement, tags, time, field, m.value);
            break;
          case "SUMMARY": {
            const s = m.summary;
            if (!s) break;
            countAndSum(out, measurement, tags, time, countField, s.count, sumField, s.sum);
            for (const q of s.quantiles) {
              if (finite(q.value)) add(out, measurement, tags, time, field, q.value, "quantile", tagFloat(q.quantile));
            }
            break;
          }
          case "HISTOGRAM":
          case "GAUGE_HISTOGRAM": {
            const h = m.histogram;
            if (!h) break;
            countAndSum(out, measurement, tags, time, countField, h.count, sumField, h.sum);
            for (const b of h.buckets) {
              if (finite(b.count)) add(out, measurement, tags, time, bucketField, b.count, "le", tagFloat(b.upperBound));
            }
            break;
          }
        }
      }
    }
  }

  /**
   * Static tags < body labels < grouping key (a bucket's le and a quantile's quantile are
   * added afterwards and win). Keys are inserted sorted, so encoders need not sort them: the
   * three sources are merged as sorted lists (clients send labels sorted; others are sorted here).
   */
  private tags(m: Metric, grouping: readonly string[]): Record<string, string> {
    const labels = sortedPairs(m.labels);
    const fixed = this.staticPairs;
    const out: Record<string, string> = {};
    let a = 0; // static
    let b = 0; // labels
    let c = 0; // grouping
    for (;;) {
      const ka = a < fixed.length ? fixed[a] : undefined;
      const kb = b < labels.length ? labels[b] : undefined;
      const kc = c < grouping.length ? grouping[c] : undefined;
      let key = ka;
      if (kb !== undefined && (key === undefined || kb < key)) key = kb;
      if (kc !== undefined && (key === undefined || kc < key)) key = kc;
      if (key === undefined) return out;
      let value = "";
      if (key === ka) {
        value = fixed[a + 1];
        a += 2;
      }
      if (key === kb) {
        value = labels[b + 1];
        b += 2;
      }
      if (key === kc) {
        value = grouping[c + 1];
        c += 2;
      }
      out[key] = value;
    }
  }
}

/** Label pairs sorted by name (as flat [name, value, ...]); the array itself when already sorted. */
function sortedPairs(l: string[]): string[] {
  let i = 2;
  while (i < l.length && l[i - 2] < l[i]) i += 2;
  if (i >= l.length) return l;
  // Insertion sort of a copy: label sets are small.
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

/**
 * A tag with the key of one of the point's fields would make the point unreadable in
 * InfluxDB-style backends (DataKit drops the field). The field keeps its key; the tag is
 * renamed to "tag_<key>". Rare: checked per point, and such a point gets a series of its own.
 */
function clashFree(tags: Record<string, string>, fieldKeys: readonly string[], extraKey?: string, extraValue?: string): Record<string, string> | undefined {
  if (!fieldKeys.some((k) => k in tags || k === extraKey)) return undefined;
  let out = extraKey === undefined ? tags : withTag(tags, extraKey, extraValue!);
  for (const key of fieldKeys) {
    if (!(key in out)) continue;
    const v = out[key];
    const renamed: Record<string, string> = {};
    for (const k in out) if (k !== key) renamed[k] = out[k];
    out = `tag_${key}` in renamed ? renamed : withTag(renamed, `tag_${key}`, v);
  }
  return out;
}

function add(out: PointWriter, measurement: string, tags: Record<string, string>, time: bigint, field: string, value: number, extraKey?: string, extraValue?: string): void {
  if (!(field in tags) && field !== extraKey) return out.add(time, field, value, extraKey, extraValue);
  const fixed = clashFree(tags, [field], extraKey, extraValue)!;
  out.series(measurement, fixed);
  out.add(time, field, value);
  out.series(measurement, tags);
}

function countAndSum(out: PointWriter, measurement: string, tags: Record<string, string>, time: bigint, countField: string, count: number | undefined, sumField: string, sum: number | undefined): void {
  const hasCount = finite(count);
  const hasSum = finite(sum);
  if (!hasCount && !hasSum) return;
  const fixed = clashFree(tags, hasCount && hasSum ? [countField, sumField] : [hasCount ? countField : sumField]);
  if (fixed) out.series(measurement, fixed);
  if (hasCount && hasSum) out.addTwo(time, countField, count, sumField, sum);
  else if (hasCount) out.add(time, countField, count);
  else out.add(time, sumField, sum!);
  if (fixed) out.series(measurement, tags);
}
