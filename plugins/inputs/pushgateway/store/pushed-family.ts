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
  /**
   * Makes the metrics, each with the labels given (the store's, one per metric in order). The
   * array may grow while the metrics are made: metric i is made once labels[i] is there. Asked
   * for once at most.
   */
  build(labels: readonly (readonly string[])[]): MetricBuilder;
}

/**
 * Metrics made a few at a time: a reader that must not hold the event loop (a scrape) makes a
 * family of 100,000 series in slices, one that may (a check, persistence) makes them all at once.
 */
export interface MetricBuilder {
  /** The metrics made so far, in order. */
  readonly metrics: Metric[];
  /** Makes up to `count` more (no more than there are labels for); true when all are made. */
  more(count: number): boolean;
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

  build(labels: readonly (readonly string[])[]): MetricBuilder {
    const from = this.metrics;
    const metrics: Metric[] = [];
    return {
      metrics,
      more(count: number): boolean {
        const end = Math.min(from.length, labels.length, metrics.length + count);
        for (let i = metrics.length; i < end; i++) metrics.push({ ...from[i], labels: labels[i] as string[] });
        return metrics.length === from.length;
      },
    };
  }
}

/** A family as the store takes it: a MetricFamily wrapped, any other as it is. */
export function pushedFamily(f: MetricFamily | PushedFamily): PushedFamily {
  return "metrics" in f ? new ParsedFamily(f) : f;
}
