// A parse worker's packed family (packed.ts) as the group store takes a pushed family: the
// worker already joined its label sets the store's way, so a push whose series did not change
// costs the store a string comparison, and its numbers become metric objects only when a
// reader asks for them.
import type { MetricType } from "../../../formats/prometheus/model.ts";
import { labelsOfShape } from "../store/label-shape.ts";
import type { MetricBuilder, PushedFamily } from "../store/pushed-family.ts";
import { PackedMetrics, packedHasTimestamps, type PackedFamily, type WireFamilies } from "./packed.ts";

export class PackedPushedFamily implements PushedFamily {
  readonly name: string;
  readonly help?: string;
  readonly type: MetricType;
  readonly size: number;
  readonly shape: string;
  readonly series?: { readonly grouping: string; readonly keys: readonly string[] };
  /** Its numbers: all of a push's, and where its own are (a view is made only when they are read). */
  private readonly all: Float64Array;
  private readonly from: number;
  private readonly to: number;

  /** `from`, `to`: where its own numbers are in `p.numbers` (a worker sends one array for all families). */
  constructor(p: PackedFamily, series?: { grouping: string; keys: readonly string[] }, from = 0, to = p.numbers.length) {
    this.name = p.name;
    if (p.help !== undefined) this.help = p.help;
    this.type = p.type;
    this.size = p.size;
    this.shape = p.shape;
    this.all = p.numbers;
    this.from = from;
    this.to = to;
    if (series) this.series = series;
  }

  private get numbers(): Float64Array {
    return this.all.subarray(this.from, this.to);
  }

  labelSets(): string[][] {
    return labelsOfShape(this.shape, this.size);
  }

  hasTimestamps(): boolean {
    return packedHasTimestamps(this.numbers, this.size);
  }

  build(labels: readonly (readonly string[])[]): MetricBuilder {
    return new PackedMetrics(this.numbers, labels, this.size);
  }
}

/** The families of a worker's answer, as the store takes them. */
export function receivedFamilies(w: WireFamilies): PackedPushedFamily[] {
  const out = new Array<PackedPushedFamily>(w.names.length);
  let from = 0;
  for (let i = 0; i < out.length; i++) {
    const to = w.ends[i];
    const keys = w.keys[i];
    const p = { name: w.names[i], help: w.helps[i], type: w.types[i], size: w.sizes[i], shape: w.shapes[i], numbers: w.numbers };
    out[i] = new PackedPushedFamily(p, keys ? { grouping: w.grouping, keys } : undefined, from, to);
    from = to;
  }
  return out;
}
