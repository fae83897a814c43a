// gather() for the scrape endpoint: the same families in the same order, worked out in slices
// (see slices.ts) and remembered from one scrape to the next. The metrics of a name come from
// many sources (a family of each group that has one, a gauge of each group, the agent's own
// family); their order depends only on their label sets, and a family's series keys stay the
// same array while its pushes keep the same series (the store reuses them), so the order of a
// name is worked out again only when a source of it came, went or changed its series.
import type { MetricFamily, MetricType } from "../../../formats/prometheus/model.ts";
import { compareLabelValues, compareMetrics, compareNames } from "./gather.ts";
import { sortInSlices, type Slicer } from "./slices.ts";
import { marker, type GroupState } from "./snapshot.ts";
import type { Group } from "./store.ts";

/** One family of a scrape: where its metrics come from, and the order they are served in. */
export interface FamilyPlan {
  readonly name: string;
  /** Of the first source, as gather() takes them. */
  readonly help: string | undefined;
  readonly type: MetricType;
  /** In the store's order: the groups' families, the groups' gauges, the agent's own family. */
  readonly sources: readonly MetricFamily[];
  /** The served order as runs of metrics consecutive in one source: triples (source, from, to), metrics [from, to) of sources[source]. */
  readonly runs: Int32Array;
}

/** The sources of one name, and what identifies their label sets. */
interface Sources {
  families: MetricFamily[];
  shapes: object[];
}

interface Order {
  shapes: readonly object[];
  runs: Int32Array;
}

/** The families of one scrape, by name. */
export interface Gathered {
  /** The names served (families with metrics), sorted. */
  readonly names: readonly string[];
  /** The family of a name, its order worked out (or remembered). */
  plan(name: string): Promise<FamilyPlan>;
}

function sameShapes(a: readonly object[], b: readonly object[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class ScrapeOrder {
  private readonly orders = new Map<string, Order>();
  private sortedNames: string[] = [];
  /** Each group's aggregated-group marker (null: none); a group's rule follows from its labels. */
  private readonly markers = new WeakMap<Group, MetricFamily | null>();

  /** `ruleOf` names the aggregate rule of a group that has one (see gather()). */
  constructor(private readonly ruleOf?: (g: Group) => string | undefined) {}

  private markerOf(s: GroupState): MetricFamily | null {
    let m = this.markers.get(s.group);
    if (m === undefined) {
      const rule = this.ruleOf?.(s.group);
      m = rule === undefined ? null : marker(s, rule);
      this.markers.set(s.group, m);
    }
    return m;
  }

  /** The families of a snapshot (and `extra`, the agent's own), as gather() merges them. */
  async gather(states: readonly GroupState[], extra: readonly MetricFamily[], slicer: Slicer): Promise<Gathered> {
    const byName = new Map<string, Sources>();
    const add = (f: MetricFamily, shape: object) => {
      const had = byName.get(f.name);
      if (had) {
        had.families.push(f);
        had.shapes.push(shape);
      } else byName.set(f.name, { families: [f], shapes: [shape] });
    };
    for (const s of states) {
      let work = 1;
      for (const sf of s.families) {
        // Its metrics are built when first read.
        add(sf.familyMade ?? (await sf.familyIn(slicer)), sf.keys);
        work += sf.size;
      }
      if (slicer.due(work)) await slicer.pause();
    }
    if (this.ruleOf) {
      for (const s of states) {
        // A marker is the same object for the group's life: it is its own shape.
        const m = this.markerOf(s);
        if (m) add(m, m);
        if (slicer.due()) await slicer.pause();
      }
    }
    // A state's gauges are made when first read.
    for (const s of states) {
      add(s.pushTime, s.ownLabels);
      if (slicer.due()) await slicer.pause();
    }
    for (const s of states) {
      add(s.failureTime, s.ownLabels);
      if (slicer.due()) await slicer.pause();
    }
    // The agent's own families are new objects every time: their order is worked out every time.
    for (const f of extra) add(f, f);
    const names = (await this.names(byName, slicer)).filter((n) => byName.get(n)!.families.some((f) => f.metrics.length > 0));
    for (const name of this.orders.keys()) if (!byName.has(name)) this.orders.delete(name);
    return { names, plan: (name) => this.plan(name, byName.get(name)!, slicer) };
  }

  /** Every name, sorted: the last sort while the names are the same. */
  private async names(byName: ReadonlyMap<string, Sources>, slicer: Slicer): Promise<string[]> {
    const known = this.sortedNames;
    if (known.length === byName.size && known.every((n) => byName.has(n))) return known;
    const names = [...byName.keys()];
    const ids = await sortInSlices(names.length, (a, b) => compareNames(names[a], names[b]), slicer);
    this.sortedNames = Array.from(ids, (i) => names[i]);
    return this.sortedNames;
  }

  private async plan(name: string, src: Sources, slicer: Slicer): Promise<FamilyPlan> {
    let order = this.orders.get(name);
    if (!order || !sameShapes(order.shapes, src.shapes)) {
      const worked = await workOut(src, slicer);
      order = worked.order;
      // Metrics whose label values tie are ordered by their timestamps, which change with the values.
      if (worked.tied) this.orders.delete(name);
      else this.orders.set(name, order);
    }
    const first = src.families[0];
    return { name, help: first.help, type: first.type, sources: src.families, runs: order.runs };
  }
}

/** Sorts the metrics of a name as gather() does: stable, the sources in the store's order. */
async function workOut(src: Sources, slicer: Slicer): Promise<{ order: Order; tied: boolean }> {
  // Metric i of source s has the id bases[s] + i: ids in the order gather() concatenates them.
  const bases = new Int32Array(src.families.length + 1);
  for (let s = 0; s < src.families.length; s++) bases[s + 1] = bases[s] + src.families[s].metrics.length;
  const n = bases[src.families.length];
  // Grown rather than made at its size: a large `new Array(n)` is a slow dictionary in V8.
  const metrics: MetricFamily["metrics"] = [];
  const sourceOf = new Int32Array(n);
  for (let s = 0; s < src.families.length; s++) {
    for (const m of src.families[s].metrics) {
      sourceOf[metrics.length] = s;
      metrics.push(m);
    }
    if (slicer.due(src.families[s].metrics.length / 16)) await slicer.pause();
  }
  const ids = await sortInSlices(n, (a, b) => compareMetrics(metrics[a], metrics[b]) || a - b, slicer);
  const runs = new Int32Array(3 * n);
  let length = 0;
  for (let k = 0; k < n; ) {
    const from = ids[k];
    const s = sourceOf[from];
    let to = from + 1;
    for (k++; k < n && ids[k] === to && sourceOf[to] === s; k++) to++;
    runs[length++] = s;
    runs[length++] = from - bases[s];
    runs[length++] = to - bases[s];
    if (slicer.due()) await slicer.pause();
  }
  let tied = false;
  for (let k = 1; k < n && !tied; k++) {
    tied = compareLabelValues(metrics[ids[k - 1]].labels, metrics[ids[k]].labels) === 0;
    if (slicer.due()) await slicer.pause();
  }
  return { order: { shapes: src.shapes.slice(), runs: runs.slice(0, length) }, tied };
}
