// What the group store takes a pushed family as. A job usually pushes the same series again
// with new values: the store then compares the family's shape with that of the family it
// replaces and keeps the earlier push's sanitised labels and series keys, and builds metric
// objects only when something reads them (a scrape, the API, persistence, a check). So a
// pushed family says what it is and how to get its label sets and metrics, without having
// to hold them as objects: a parse worker's packed family (ingest/) builds nothing for a
// push whose series did not change. How a family travelled before it got here is not the
// store's business.
import type { Metric, MetricFamily, MetricType } from "../../../formats/prometheus/model.ts";
import { shapeOf } from "./label-shape.ts";

/** A pushed family as the store takes it. Has no `metrics`: that tells it from a MetricFamily. */
export interface PushedFamily {
  readonly name: string;
  readonly help?: string;
  readonly type: MetricType;
  /** Number of metrics. */
  readonly size: number;
  /** The label sets as pushed, joined by shapeOf (label-shape.ts): compared with the replaced family's. */
  readonly shape: string;
  /** Each metric's label pairs as pushed, in order. Asked for only when the shape is new to the group. */
  labelSets(): readonly (readonly string[])[];
  /** Whether any metric carries a timestamp (reject_timestamps), without building the metrics. */
  hasTimestamps(): boolean;
  /**
   * The series keys the store gives the metrics in the group whose canonical key is `grouping`
   * (store.ts storedSeries), distinct, when the producer made them (a parse worker does, off
   * the main thread); else the store makes them from labelSets().
   */
  readonly series?: { readonly grouping: string; readonly keys: readonly string[] };
  /** The metrics, each with the labels given (the store's, one per metric in order). Asked for once at most. */
  build(labels: readonly (readonly string[])[]): Metric[];
}

/** A family parsed as objects (on the main thread, or restored): it only needs its shape joined. */
class ParsedFamily implements PushedFamily {
  readonly name: string;
  readonly help?: string;
  readonly type: MetricType;
  readonly size: number;
  readonly shape: string;
  private readonly metrics: readonly Metric[];

  constructor(f: MetricFamily) {
    this.metrics = f.metrics;
    this.name = f.name;
    this.help = f.help;
    this.type = f.type;
    this.size = f.metrics.length;
    this.shape = shapeOf(f.metrics);
  }

  labelSets(): readonly (readonly string[])[] {
    return this.metrics.map((m) => m.labels);
  }

  hasTimestamps(): boolean {
    return this.metrics.some((m) => m.timestampMs !== undefined);
  }

  build(labels: readonly (readonly string[])[]): Metric[] {
    return this.metrics.map((m, i) => ({ ...m, labels: labels[i] as string[] }));
  }
}

/** A family as the store takes it: a MetricFamily wrapped, any other as it is. */
export function pushedFamily(f: MetricFamily | PushedFamily): PushedFamily {
  return "metrics" in f ? new ParsedFamily(f) : f;
}
