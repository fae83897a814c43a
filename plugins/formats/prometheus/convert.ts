// Metric families -> points, by DataKit's naming and field rules, without its defects:
// a field never loses to a tag of the same key, _count/_sum follow honor_timestamps like
// every other point, NaN and +-Inf values are skipped one by one, and the le/quantile of a
// bucket or quantile win over a grouping label of that name.
import { LineWriter } from "../../../core/lineprotocol.ts";
import { PointsWriter, withTag, type Point, type PointWriter } from "../../../core/point.ts";
import { formatGoFloat } from "./goformat.ts";
import { sortedPairs, type Metric, type MetricFamily } from "./model.ts";

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
 * first "_" or "." after leading underscores: "etcd_write_bytes_total" -> etcd /
 * write_bytes_total, and a dotted (OpenTelemetry-style, UTF-8) name alike:
 * "http.server.request.duration" -> http / server.request.duration. Other characters are kept
 * as they are: line protocol escapes what it must.
 */
export function names(metric: string, job: string, o: NamingOptions): Names {
  if (o.measurement_name !== "") return { measurement: o.measurement_name, field: metric };
  if (o.job_as_measurement) return { measurement: job, field: metric };
  const bare = metric.replace(/^_+/, "");
  if (bare.length <= 1) return { measurement: "unknown", field: "unknown" };
  const cut = firstSeparator(bare);
  if (cut < 0) return { measurement: bare, field: bare };
  const measurement = bare.slice(0, cut);
  const rest = bare.slice(cut + 1);
  if (rest === "") return { measurement, field: measurement };
  return { measurement, field: o.keep_exist_metric_name ? bare : rest };
}

function firstSeparator(name: string): number {
  const underscore = name.indexOf("_");
  const dot = name.indexOf(".");
  return dot < 0 ? underscore : underscore < 0 ? dot : Math.min(underscore, dot);
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
  private readonly staticPairs: readonly string[];
  private readonly pairTags = new PairTags();
  private readonly recordTags = new RecordTags();

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

  /** Converts one push straight into line protocol: chunks of whole lines, and how many lines. */
  lineProtocol(families: readonly MetricFamily[], grouping: ReadonlyMap<string, string>, receivedNs: bigint): { chunks: Buffer[]; lines: number } {
    const writer = new LineWriter();
    this.write(families, grouping, receivedNs, writer);
    return { chunks: writer.finish(), lines: writer.lines };
  }

  /** Converts one push into any PointWriter (e.g. straight into line protocol). */
  write(families: readonly MetricFamily[], grouping: ReadonlyMap<string, string>, receivedNs: bigint, out: PointWriter): void {
    const job = grouping.get("job") ?? "";
    const fixed = this.fixedTags(sortedPairs(flatPairs(grouping)));
    const tags = out.seriesPairs ? this.pairTags : this.recordTags;
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
        merge(sortedPairs(m.labels), fixed, tags);
        const time = timeOf(m);
        tags.writeTo(out, measurement);
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
   * The tags a push gives every metric: static tags and the grouping key, merged as sorted
   * lists (the grouping key wins).
   */
  private fixedTags(grouping: readonly string[]): FixedTags {
    const fixed = this.staticPairs;
    const out: FixedTags = { pairs: [], overLabels: [] };
    let a = 0; // static
    let c = 0; // grouping
    while (a < fixed.length || c < grouping.length) {
      const ka = a < fixed.length ? fixed[a] : undefined;
      const kc = c < grouping.length ? grouping[c] : undefined;
      if (kc === undefined || (ka !== undefined && ka < kc)) {
        out.pairs.push(ka!, fixed[a + 1]);
        out.overLabels.push(false);
        a += 2;
      } else {
        if (ka === kc) a += 2;
        out.pairs.push(kc, grouping[c + 1]);
        out.overLabels.push(true);
        c += 2;
      }
    }
    return out;
  }
}

/** Static tags and grouping key as sorted pairs, and for each whether it wins over a body label. */
interface FixedTags {
  pairs: string[];
  overLabels: boolean[];
}

/**
 * The tags of a metric: static tags < body labels < grouping key (a bucket's le and a
 * quantile's quantile are added afterwards and win), put in key order so that writers need
 * not sort them: the labels (sorted) and the push's fixed tags are merged as sorted lists.
 */
function merge(labels: readonly string[], fixed: FixedTags, out: Tags): void {
  const f = fixed.pairs;
  out.clear();
  let i = 0; // labels
  let j = 0; // fixed
  while (i < labels.length || j < f.length) {
    const label = i < labels.length ? labels[i] : undefined;
    const key = j < f.length ? f[j] : undefined;
    if (key === undefined || (label !== undefined && label < key)) {
      out.put(label!, labels[i + 1]);
      i += 2;
    } else if (label === key) {
      out.put(key, fixed.overLabels[j >> 1] ? f[j + 1] : labels[i + 1]);
      i += 2;
      j += 2;
    } else {
      out.put(key, f[j + 1]);
      j += 2;
    }
  }
}

/** The tags of the metric at hand, kept as the writer takes them. */
interface Tags {
  clear(): void;
  /** Adds a tag; keys come in order, a key repeated (a label pushed twice) right after itself. */
  put(key: string, value: string): void;
  /** Whether a tag has this key. */
  has(key: string): boolean;
  record(): Record<string, string>;
  /** Makes them the tags of the points the writer is given next. */
  writeTo(out: PointWriter, measurement: string): void;
}

/** Tags as a Record, for writers that keep one per point anyway. */
class RecordTags implements Tags {
  private tags: Record<string, string> = {};

  clear(): void {
    this.tags = {};
  }

  put(key: string, value: string): void {
    this.tags[key] = value;
  }

  has(key: string): boolean {
    return Object.hasOwn(this.tags, key);
  }

  record(): Record<string, string> {
    return this.tags;
  }

  writeTo(out: PointWriter, measurement: string): void {
    out.series(measurement, this.tags);
  }
}

/**
 * Tags as flat [key, value, ...] pairs, for writers that take them (seriesPairs): no Record to
 * build, nor to walk. One array serves a whole push (a fresh one per metric costs the garbage
 * collector more than the merge); the tags are its first `length` entries. Put with a Record's
 * rules, since tags used to be Records and their lines must not change.
 */
class PairTags implements Tags {
  private readonly pairs: string[] = [];
  private length = 0;

  clear(): void {
    this.length = 0;
  }

  // A repeated key keeps its place and takes the later value; "__proto__" is not kept at all.
  put(key: string, value: string): void {
    const last = this.length - 2;
    if (last >= 0 && this.pairs[last] === key) this.pairs[last + 1] = value;
    else if (key !== "__proto__") {
      this.pairs[this.length++] = key;
      this.pairs[this.length++] = value;
    }
  }

  has(key: string): boolean {
    for (let i = 0; i < this.length; i += 2) if (this.pairs[i] === key) return true;
    return false;
  }

  record(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < this.length; i += 2) out[this.pairs[i]] = this.pairs[i + 1];
    return out;
  }

  writeTo(out: PointWriter, measurement: string): void {
    out.seriesPairs!(measurement, this.pairs, this.length);
  }
}

function flatPairs(m: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of m) out.push(k, v);
  return out;
}


/**
 * A tag with the key of one of the point's fields would make the point unreadable in
 * InfluxDB-style backends (DataKit drops the field). The field keeps its key; the tag is
 * renamed to "tag_<key>". Rare: checked per point, and such a point gets a series of its own.
 */
function clashFree(current: Tags, fieldKeys: readonly string[], extraKey?: string, extraValue?: string): Record<string, string> | undefined {
  if (!fieldKeys.some((k) => current.has(k) || k === extraKey)) return undefined;
  const tags = current.record();
  let out = extraKey === undefined ? tags : withTag(tags, extraKey, extraValue!);
  for (const key of fieldKeys) {
    // Own keys only: a field named like an inherited property ("toString") clashes with nothing.
    if (!Object.hasOwn(out, key)) continue;
    const v = out[key];
    const renamed: Record<string, string> = {};
    for (const k in out) if (k !== key) renamed[k] = out[k];
    out = Object.hasOwn(renamed, `tag_${key}`) ? renamed : withTag(renamed, `tag_${key}`, v);
  }
  return out;
}

function add(out: PointWriter, measurement: string, tags: Tags, time: bigint, field: string, value: number, extraKey?: string, extraValue?: string): void {
  if (!tags.has(field) && field !== extraKey) return out.add(time, field, value, extraKey, extraValue);
  const fixed = clashFree(tags, [field], extraKey, extraValue)!;
  out.series(measurement, fixed);
  out.add(time, field, value);
  tags.writeTo(out, measurement);
}

function countAndSum(out: PointWriter, measurement: string, tags: Tags, time: bigint, countField: string, count: number | undefined, sumField: string, sum: number | undefined): void {
  const hasCount = finite(count);
  const hasSum = finite(sum);
  if (!hasCount && !hasSum) return;
  const fixed = clashFree(tags, hasCount && hasSum ? [countField, sumField] : [hasCount ? countField : sumField]);
  if (fixed) out.series(measurement, fixed);
  if (hasCount && hasSum) out.addTwo(time, countField, count, sumField, sum);
  else if (hasCount) out.add(time, countField, count);
  else out.add(time, sumField, sum!);
  if (fixed) tags.writeTo(out, measurement);
}
