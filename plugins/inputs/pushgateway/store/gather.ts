// The scrape side of the group store: every group's families merged by name and sorted as the
// reference gathers them, ready for the exposition writers (plugins/formats/prometheus/write.ts).
// gather() does it in one go; scrape-order.ts does the same piece by piece for the scrape
// endpoint, and must give the very same order.
import type { Metric, MetricFamily } from "../../../formats/prometheus/model.ts";
import { markerLabels } from "./snapshot.ts";
import { AGGREGATED, AGGREGATED_HELP, groupGaugeLabels, PUSH_FAILURE_TIME, PUSH_FAILURE_TIME_HELP, PUSH_TIME, PUSH_TIME_HELP, type Group } from "./store.ts";

/** By number of labels, then label values position by position (names are not compared), as client_golang sorts metrics. */
export function compareLabelValues(a: readonly string[], b: readonly string[]): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 1; i < a.length; i += 2) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

/** compareLabelValues, then the timestamp (a metric without one last). */
export function compareMetrics(a: Metric, b: Metric): number {
  const byLabels = compareLabelValues(a.labels, b.labels);
  if (byLabels !== 0) return byLabels;
  if (a.timestampMs === undefined) return b.timestampMs === undefined ? 0 : 1;
  if (b.timestampMs === undefined) return -1;
  return a.timestampMs - b.timestampMs;
}

/** Families in byte order of their names, as the reference serves them. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Every group's families and its push_time_seconds / push_failure_time_seconds gauges, plus
 * `extra` (the agent's own metrics), merged by name (the first HELP met wins), families
 * sorted by name and metrics by label values. `ruleOf` names the aggregate rule of a group
 * that has one: such groups are marked by a pushkit_pushgateway_aggregated_group gauge
 * whose aggregate_rule label is the rule's number.
 */
export function gather(groups: Iterable<Group>, extra: readonly MetricFamily[] = [], ruleOf?: (g: Group) => string | undefined): MetricFamily[] {
  const byName = new Map<string, MetricFamily>();
  const add = (f: MetricFamily) => {
    const had = byName.get(f.name);
    if (had) had.metrics.push(...f.metrics);
    else byName.set(f.name, { name: f.name, help: f.help, type: f.type, metrics: [...f.metrics] });
  };
  const pushTime: Metric[] = [];
  const failureTime: Metric[] = [];
  const aggregated: Metric[] = [];
  for (const g of groups) {
    for (const { family } of g.families.values()) add(family);
    const labels = groupGaugeLabels(g.labels);
    pushTime.push({ labels, value: g.pushTimeMs / 1000 });
    failureTime.push({ labels, value: g.failureTimeMs / 1000 });
    const rule = ruleOf?.(g);
    if (rule !== undefined) aggregated.push({ labels: markerLabels(labels, rule), value: 1 });
  }
  if (aggregated.length > 0) add({ name: AGGREGATED, help: AGGREGATED_HELP, type: "GAUGE", metrics: aggregated });
  if (pushTime.length > 0) {
    add({ name: PUSH_TIME, help: PUSH_TIME_HELP, type: "GAUGE", metrics: pushTime });
    add({ name: PUSH_FAILURE_TIME, help: PUSH_FAILURE_TIME_HELP, type: "GAUGE", metrics: failureTime });
  }
  for (const f of extra) add(f);
  const out = [...byName.values()].filter((f) => f.metrics.length > 0);
  for (const f of out) f.metrics.sort(compareMetrics);
  return out.sort((a, b) => compareNames(a.name, b.name));
}
