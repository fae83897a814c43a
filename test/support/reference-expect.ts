// What pushkit should write for what the reference stored: the reference's
// GET /api/v1/metrics groups turned into line-protocol lines (without timestamps) by the
// naming rules of the pushgateway input's README, written here independently of convert.ts:
//
// - measurement = the metric name (after leading underscores) up to its first "_", field = the
//   rest ("up" -> up/up, "etcd_" -> etcd/etcd, names of one character -> unknown/unknown);
// - counter, gauge, untyped: one line `<f>=v`; summary: `<f>_count,<f>_sum` and one line per
//   quantile (tag quantile, `<f>=v`); histogram: `<f>_count,<f>_sum` and one line per bucket
//   (tag le, `<f>_bucket=count`); le/quantile are spelled as Go's %g (the reference's JSON keys
//   already are);
// - tags: the stored labels (which already hold the grouping key, overriding body labels); an
//   empty value is no tag (line protocol has none; the reference adds instance="" to every
//   metric without an instance); a tag with the key of a field of its line becomes tag_<key>;
// - NaN and ±Inf values are skipped, each on its own;
// - the reference's own push_time_seconds and push_failure_time_seconds are not pushed data.

export interface ApiMetric {
  labels: Record<string, string>;
  value?: string;
  count?: string;
  sum?: string;
  quantiles?: Record<string, string>;
  buckets?: Record<string, string>;
}

export interface ApiFamily {
  type: string;
  help?: string;
  time_stamp?: string;
  metrics: ApiMetric[];
}

export interface ApiGroup {
  labels: Record<string, string>;
  last_push_successful: boolean;
  [family: string]: unknown;
}

export interface ApiAnswer {
  status: string;
  data: ApiGroup[];
}

const NOT_FAMILIES = new Set(["labels", "last_push_successful", "push_time_seconds", "push_failure_time_seconds"]);

/** A stable key for a group: its sorted labels. */
export function groupKey(g: ApiGroup): string {
  return JSON.stringify(Object.entries(g.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function families(g: ApiGroup): [string, ApiFamily][] {
  return Object.entries(g).filter(([k]) => !NOT_FAMILIES.has(k)) as [string, ApiFamily][];
}

function names(metric: string): { measurement: string; field: string } {
  const bare = metric.replace(/^_+/, "");
  if (bare.length <= 1) return { measurement: "unknown", field: "unknown" };
  const cut = bare.indexOf("_");
  if (cut < 0) return { measurement: bare, field: bare };
  const rest = bare.slice(cut + 1);
  return { measurement: bare.slice(0, cut), field: rest === "" ? bare.slice(0, cut) : rest };
}

// ---- Line protocol spelling (as documented in core/lineprotocol.ts) ----

function escapeWith(s: string, escapable: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (c === "\t") out += "\\t";
    else if (c === "\\") {
      // Doubled only where a reader would take it for an escape (or the end of the string).
      const next = s[i + 1];
      out += next === undefined || escapable.includes(next) || "\\nrt".includes(next) ? "\\\\" : "\\";
    } else out += escapable.includes(c) ? "\\" + c : c;
  }
  return out;
}

const escMeasurement = (s: string) => escapeWith(s, ", ");
const escKey = (s: string) => escapeWith(s, ",= ");

function number(v: number): string {
  return Object.is(v, -0) ? "-0" : String(v);
}

function line(measurement: string, tags: Record<string, string>, fields: [string, number][]): string | undefined {
  const kept = fields.filter(([, v]) => Number.isFinite(v));
  if (kept.length === 0) return undefined;
  const t: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags)) if (v !== "") t[k] = v;
  for (const [f] of kept) {
    if (!(f in t)) continue;
    const v = t[f];
    delete t[f];
    if (!(`tag_${f}` in t)) t[`tag_${f}`] = v;
  }
  const tagText = Object.keys(t)
    .sort()
    .map((k) => `,${escKey(k)}=${escKey(t[k])}`)
    .join("");
  const fieldText = kept
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${escKey(k)}=${number(v)}`)
    .join(",");
  return `${escMeasurement(measurement)}${tagText} ${fieldText}`;
}

const num = (s: string | undefined): number => (s === undefined ? NaN : Number(s));

/** The lines (without timestamps, sorted) pushkit should write for these stored groups. */
export function expectedLines(groups: ApiGroup[]): string[] {
  const out: string[] = [];
  const push = (l: string | undefined) => {
    if (l !== undefined) out.push(l);
  };
  for (const g of groups) {
    for (const [name, fam] of families(g)) {
      const { measurement, field } = names(name);
      for (const m of fam.metrics) {
        const tags = m.labels;
        switch (fam.type) {
          case "SUMMARY":
            push(line(measurement, tags, [[`${field}_count`, num(m.count)], [`${field}_sum`, num(m.sum)]]));
            for (const [q, v] of Object.entries(m.quantiles ?? {})) push(line(measurement, { ...tags, quantile: q }, [[field, num(v)]]));
            break;
          case "HISTOGRAM":
            push(line(measurement, tags, [[`${field}_count`, num(m.count)], [`${field}_sum`, num(m.sum)]]));
            for (const [le, v] of Object.entries(m.buckets ?? {})) push(line(measurement, { ...tags, le }, [[`${field}_bucket`, num(v)]]));
            break;
          default:
            // COUNTER, GAUGE, UNTYPED (and whatever else 1.5.1's API renders as a value).
            push(line(measurement, tags, [[field, num(m.value)]]));
        }
      }
    }
  }
  return out.sort();
}

// ---- pushkit's lines ----

/** Index of the first unescaped c in s from `from`, or -1. */
function unescapedIndex(s: string, c: string, from = 0): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === c) return i;
  }
  return -1;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, (all, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : c === "t" ? "\t" : ",= \\".includes(c) ? c : all));
}

/** A written line's tags. */
export function lineTags(l: string): Record<string, string> {
  const key = l.slice(0, unescapedIndex(l, " "));
  const tags: Record<string, string> = {};
  let i = unescapedIndex(key, ",");
  while (i >= 0) {
    const next = unescapedIndex(key, ",", i + 1);
    const pair = key.slice(i + 1, next < 0 ? key.length : next);
    const eq = unescapedIndex(pair, "=");
    tags[unescape(pair.slice(0, eq))] = unescape(pair.slice(eq + 1));
    i = next;
  }
  return tags;
}

/** A written line without its timestamp. */
export function withoutTimestamp(l: string): string {
  return l.slice(0, l.lastIndexOf(" "));
}
