// What a scrape reads of the store, taken in one go when the scrape starts: every group's
// families and times as they are at that moment. The scrape is then written in slices while
// pushes go on; a push replaces a group's families and times but never changes a StoredFamily
// (nor its metrics), so the snapshot stays what the store held at one instant: no series of a
// push that came later beside one it removed, no duplicate series for the scraper. A group is
// copied again only when its version (bumped by the store at every change) moved.
import { sortedPairs, type MetricFamily } from "../../../formats/prometheus/model.ts";
import { AGGREGATED, AGGREGATED_HELP, groupGaugeLabels, PUSH_FAILURE_TIME, PUSH_FAILURE_TIME_HELP, PUSH_TIME, PUSH_TIME_HELP, type Group, type StoredFamily } from "./store.ts";

function gauge(name: string, help: string, labels: string[], value: number): MetricFamily {
  return { name, help, type: "GAUGE", metrics: [{ labels, value }] };
}

/**
 * One group as a scrape sees it, kept from scrape to scrape while the group does not change.
 * What is taken when the snapshot is, is what the group holds; what follows from it (the
 * group's own gauges as families) is made when a scrape first reads it, in its slices: a
 * snapshot of 100,000 new groups is then a copy of their fields, not of their gauges too.
 */
export class GroupState {
  private own: string[] | undefined;
  private push: MetricFamily | undefined;
  private failure: MetricFamily | undefined;

  /** The group's map of families when the snapshot was taken (the store replaces it, never changes it). */
  private readonly map: ReadonlyMap<string, StoredFamily>;
  private list: readonly StoredFamily[] | undefined;
  readonly pushTimeMs: number;
  readonly failureTimeMs: number;
  readonly lastPushSuccessful: boolean;
  /** The group's version (Group.version) these are of. */
  readonly version: number;

  constructor(
    readonly group: Group,
    was: GroupState | undefined,
  ) {
    this.map = group.families;
    this.pushTimeMs = group.pushTimeMs;
    this.failureTimeMs = group.failureTimeMs;
    this.lastPushSuccessful = group.lastPushSuccessful;
    this.version = group.version;
    // What the group's last state made and still holds: the same objects, so what was written of them is reused.
    if (was) {
      this.own = was.own;
      if (was.pushTimeMs === this.pushTimeMs) this.push = was.push;
      if (was.failureTimeMs === this.failureTimeMs) this.failure = was.failure;
    }
  }

  /** The group's families as they were: listed when first read, in a scrape's slices rather than when the snapshot is taken. */
  get families(): readonly StoredFamily[] {
    return (this.list ??= Array.from(this.map.values()));
  }

  /** The labels of the group's own gauges: one array per group, whatever its values. */
  get ownLabels(): string[] {
    return (this.own ??= groupGaugeLabels(this.group.labels));
  }

  /** push_time_seconds of the group, as a family of one metric. */
  get pushTime(): MetricFamily {
    return (this.push ??= gauge(PUSH_TIME, PUSH_TIME_HELP, this.ownLabels, this.pushTimeMs / 1000));
  }

  get failureTime(): MetricFamily {
    return (this.failure ??= gauge(PUSH_FAILURE_TIME, PUSH_FAILURE_TIME_HELP, this.ownLabels, this.failureTimeMs / 1000));
  }
}

/** The group's labels and aggregate_rule (which overrides a grouping label of that name). */
export function markerLabels(labels: readonly string[], rule: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < labels.length; i += 2) if (labels[i] !== "aggregate_rule") out.push(labels[i], labels[i + 1]);
  out.push("aggregate_rule", rule);
  return sortedPairs(out) as string[];
}

/** The marker of an aggregated group (pushkit_pushgateway_aggregated_group 1). */
export function marker(s: GroupState, rule: string): MetricFamily {
  return gauge(AGGREGATED, AGGREGATED_HELP, markerLabels(s.ownLabels, rule), 1);
}

export function snapshot(groups: Iterable<Group>): GroupState[] {
  const out: GroupState[] = [];
  for (const g of groups) {
    let s = g.scrapeState as GroupState | undefined;
    if (!s || s.version !== g.version) {
      s = new GroupState(g, s);
      g.scrapeState = s;
    }
    out.push(s);
  }
  return out;
}
