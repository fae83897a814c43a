// The reference's read side under the route prefix: the scrape endpoint, the JSON API
// (/api/v1/metrics, /api/v1/status, the admin wipe) and the health endpoints.
import type { Context } from "koa";
import type { InputContext } from "../../../../core/plugin.ts";
import type { Metric, MetricFamily } from "../../../formats/prometheus/model.ts";
import { formatGoFloat } from "../../../formats/prometheus/goformat.ts";
import { nativeBuckets } from "../../../formats/prometheus/native-histogram.ts";
import { contentType, negotiate } from "../../../formats/prometheus/mediatypes.ts";
import { render } from "../../../formats/prometheus/write.ts";
import { gather } from "../store/gather.ts";
import type { Groups } from "../store/groups.ts";
import { ownFamilies } from "../own-metrics.ts";
import type { AggregateRule, AggregateRules } from "../aggregate/rules.ts";
import { groupGaugeLabels, PUSH_FAILURE_TIME, PUSH_FAILURE_TIME_HELP, PUSH_TIME, PUSH_TIME_HELP, type Group } from "../store/store.ts";

export interface ApiOptions {
  route_prefix: string;
  enable_admin_api: boolean;
}

/** Go's RFC 3339 with the fraction's trailing zeros dropped, as time.Time marshals to JSON. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0+Z$/, "Z");
}

/** A map as Go marshals one: keys in byte order (a JS object would put "1" before "0.1"). */
export class GoMap {
  readonly entries: [string, unknown][];
  constructor(entries: Iterable<[string, unknown]>) {
    this.entries = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  }
}

/** JSON as Go's encoding/json writes it: maps sorted by key, <, > and & escaped, no spaces. */
export function goJson(v: unknown): string {
  if (v instanceof GoMap) return `{${v.entries.map(([k, x]) => `${goJson(k)}:${goJson(x)}`).join(",")}}`;
  if (Array.isArray(v)) return `[${v.map(goJson).join(",")}]`;
  if (typeof v === "string") {
    return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  }
  if (v !== null && typeof v === "object") {
    return `{${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${goJson(k)}:${goJson(x)}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

function labelMap(labels: readonly string[]): GoMap {
  const out: [string, string][] = [];
  for (let i = 0; i < labels.length; i += 2) out.push([labels[i], labels[i + 1]]);
  return new GoMap(out);
}

/** A count as the reference prints it: a whole number unless the histogram has float counts. */
function count(n: number, float: boolean): string {
  return float || !Number.isSafeInteger(n) ? formatGoFloat(n) : String(n);
}

/** One metric as the reference's API spells it: every number a string. */
function jsonMetric(f: MetricFamily, m: Metric): GoMap {
  const out: [string, unknown][] = [["labels", labelMap(m.labels)]];
  if (f.type === "SUMMARY") {
    const s = m.summary ?? { quantiles: [] };
    out.push(["quantiles", new GoMap(s.quantiles.map((q) => [formatGoFloat(q.quantile), formatGoFloat(q.value)]))]);
    out.push(["count", count(s.count ?? 0, false)]);
    out.push(["sum", formatGoFloat(s.sum ?? 0)]);
  } else if (f.type === "HISTOGRAM" || f.type === "GAUGE_HISTOGRAM") {
    const h = m.histogram ?? { buckets: [], floatCounts: false };
    // A native histogram as the reference >= 1.8 shows one: [boundaries, lower, upper, count] per populated bucket.
    const native = nativeBuckets(h);
    if (native) out.push(["buckets", native.map((b) => [b.boundaries, formatGoFloat(b.lower), formatGoFloat(b.upper), count(b.count, h.floatCounts)])]);
    else out.push(["buckets", new GoMap(h.buckets.map((b) => [formatGoFloat(b.upperBound), count(b.count, h.floatCounts)]))]);
    out.push(["count", count(h.count ?? 0, h.floatCounts)]);
    out.push(["sum", formatGoFloat(h.sum ?? 0)]);
  } else {
    out.push(["value", formatGoFloat(m.value ?? 0)]);
  }
  return new GoMap(out);
}

function jsonFamily(f: MetricFamily, timeMs: number): Record<string, unknown> {
  return { time_stamp: rfc3339(timeMs), type: f.type, help: f.help || undefined, metrics: f.metrics.map((m) => jsonMetric(f, m)) };
}

/** A group as the reference's API shows it; an aggregated group also names its rule (a key the reference does not have). */
export function jsonGroup(g: Group, rule?: AggregateRule): GoMap {
  const out: [string, unknown][] = [
    ["labels", new GoMap(g.labels)],
    ["last_push_successful", g.lastPushSuccessful],
  ];
  if (rule) {
    const r = rule.options;
    out.push(["aggregated", { rule: rule.id, jobs: r.jobs, drop_labels: r.drop_labels, gauges: r.gauges, honor_timestamps: r.honor_timestamps }]);
  }
  for (const [name, sf] of g.families) out.push([name, jsonFamily(sf.family, sf.timeMs)]);
  const labels = groupGaugeLabels(g.labels);
  out.push([PUSH_TIME, jsonFamily({ name: PUSH_TIME, help: PUSH_TIME_HELP, type: "GAUGE", metrics: [{ labels, value: g.pushTimeMs / 1000 }] }, g.pushTimeMs || g.failureTimeMs)]);
  out.push([PUSH_FAILURE_TIME, jsonFamily({ name: PUSH_FAILURE_TIME, help: PUSH_FAILURE_TIME_HELP, type: "GAUGE", metrics: [{ labels, value: g.failureTimeMs / 1000 }] }, g.failureTimeMs || g.pushTimeMs)]);
  return new GoMap(out);
}

function respond(ctx: Context, data: unknown): void {
  ctx.set("Cache-Control", "no-cache, no-store, must-revalidate");
  ctx.type = "application/json";
  ctx.body = goJson({ status: "success", data });
}

export interface StatusInfo {
  version: string;
  startedMs: number;
  /** The input's effective options, shown as the reference shows its flags. */
  flags: Record<string, string>;
}

export function apiRoutes(o: ApiOptions, input: InputContext, groups: Groups, rules: AggregateRules, status: StatusInfo): void {
  const p = o.route_prefix;

  input.http.route(["GET", "HEAD"], `${p}/metrics`, async (ctx) => {
    const scrape = negotiate(ctx.get("Accept") || undefined);
    const families = gather(groups.store.all(), await ownFamilies(input.metrics), rules.size > 0 ? (g) => rules.ruleForGroup(g.labels)?.id : undefined);
    ctx.type = contentType(scrape);
    ctx.body = render(families, scrape.format, scrape.escaping);
  }, { access: "read" });

  // The JSON API is what dashboards are built on: pages of the origins the agent lists may read it.
  input.http.route(["GET"], `${p}/api/v1/metrics`, (ctx) => {
    respond(ctx, [...groups.store.all()].map((g) => jsonGroup(g, rules.ruleForGroup(g.labels))));
  }, { access: "read", crossOrigin: true });

  input.http.route(["GET"], `${p}/api/v1/status`, (ctx) => {
    respond(ctx, {
      build_information: { version: status.version, revision: "", branch: "", buildUser: "", buildDate: "", goVersion: process.version },
      flags: status.flags,
      start_time: new Date(status.startedMs).toISOString(),
    });
  }, { access: "read", crossOrigin: true });

  // The admin API exists only when enabled: otherwise its path is as unknown as any other.
  if (o.enable_admin_api) {
    input.http.route(["PUT"], `${p}/api/v1/admin/wipe`, (ctx) => {
      const n = groups.wipe();
      input.log.info({ groups: n }, "admin API: every group wiped");
      ctx.status = 202;
      ctx.body = "";
    }, { access: "admin" });
  }

  // The host serves its health endpoints at the root; a prefixed reference serves them under it.
  if (p !== "") {
    for (const path of [`${p}/-/healthy`, `${p}/-/ready`]) {
      input.http.route(["GET"], path, (ctx) => {
        ctx.type = "text/plain; charset=utf-8";
        ctx.body = "OK";
      }, { access: "public" });
    }
  }
}
