// A parse worker's packed family (packed.ts) as the group store takes a pushed family: the
// worker already joined its label sets the store's way, so a push whose series did not change
// costs the store a string comparison, and its numbers become metric objects only when a
// reader asks for them.
import type { Metric, MetricType } from "../../../formats/prometheus/model.ts";
import { labelsOfShape } from "../store/label-shape.ts";
import type { PushedFamily } from "../store/pushed-family.ts";
import { packedHasTimestamps, unpackMetrics, type PackedFamily } from "./packed.ts";

export class PackedPushedFamily implements PushedFamily {
  readonly name: string;
  readonly help?: string;
  readonly type: MetricType;
  readonly size: number;
  readonly shape: string;
  readonly series?: { readonly grouping: string; readonly keys: readonly string[] };
  private readonly numbers: Float64Array;

  constructor(p: PackedFamily) {
    this.name = p.name;
    this.help = p.help;
    this.type = p.type;
    this.size = p.size;
    this.shape = p.shape;
    this.numbers = p.numbers;
    if (p.series) this.series = p.series;
  }

  labelSets(): string[][] {
    return labelsOfShape(this.shape, this.size);
  }

  hasTimestamps(): boolean {
    return packedHasTimestamps(this.numbers, this.size);
  }

  build(labels: readonly (readonly string[])[]): Metric[] {
    return unpackMetrics(this.numbers, labels);
  }
}
