// The scrape side of the group store: every group's families merged by name and sorted as the
// reference gathers them, ready for the exposition writers (plugins/formats/prometheus/write.ts).
import { sortedPairs, type Metric, type MetricFamily } from "../../../formats/prometheus/model.ts";
import { AGGREGATED, AGGREGATED_HELP, groupGaugeLabels, PUSH_FAILURE_TIME, PUSH_FAILURE_TIME_HELP, PUSH_TIME, PUSH_TIME_HELP, type Group } from "./store.ts";

function compareMetrics(a: Metric, b: Metric): number {
  if (a.labels.length !== b.labels.length) return a.labels.length - b.labels.length;
  for (let i = 1; i < a.labels.length; i += 2) {
    if (a.labels[i] !== b.labels[i]) return a.labels[i] < b.labels[i] ? -1 : 1;
  }
  if (a.timestampMs === undefined) return b.timestampMs === undefined ? 0 : 1;
  if (b.timestampMs === undefined) return -1;
  return a.timestampMs - b.timestampMs;
}

/** The group's labels and aggregate_rule (which overrides a grouping label of that name). */
function markerLabels(labels: readonly string[], rule: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < labels.length; i += 2) if (labels[i] !== "aggregate_rule") out.push(labels[i], labels[i + 1]);
  out.push("aggregate_rule", rule);
  return sortedPairs(out) as string[];
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
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

