// The point model every input produces and every sink consumes.

/** A float (number), an integer (bigint), a string or a boolean. */
export type FieldValue = number | bigint | string | boolean;

export interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  /** Unix time in nanoseconds. */
  time: bigint;
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** A copy of key-ordered tags with one more (or replaced) tag, still in key order. */
export function withTag(tags: Record<string, string>, key: string, value: string): Record<string, string> {
  const out: Record<string, string> = {};
  let placed = false;
  for (const k in tags) {
    if (!placed && k >= key) {
      out[key] = value;
      placed = true;
      if (k === key) continue;
    }
    out[k] = tags[k];
  }
  if (!placed) out[key] = value;
  return out;
}

/**
 * Where a producer puts the points it makes, series by series: as Point objects
 * (PointsWriter), or straight into line protocol (LineWriter) where no object is needed.
 */
export interface PointWriter {
  /** Measurement and tags (inserted in key order) of the points that follow. */
  series(measurement: string, tags: Record<string, string>): void;
  /**
   * As series(), for writers that would rather not have a Record: the tags as flat
   * [key, value, ...] pairs, the first `length` entries of `pairs`, keys unique and sorted
   * (and none that a Record would not keep, "__proto__"). The caller reuses the array:
   * writers read it only until the next series.
   */
  seriesPairs?(measurement: string, pairs: readonly string[], length: number): void;
  /** A point of the current series with one float field; `extraKey` is one more tag that sorts into place and wins. */
  add(time: bigint, field: string, value: number, extraKey?: string, extraValue?: string): void;
  /** A point of the current series with two float fields, keys in order. */
  addTwo(time: bigint, field1: string, value1: number, field2: string, value2: number): void;
}

export class PointsWriter implements PointWriter {
  readonly points: Point[] = [];
  private measurement = "";
  private tags: Record<string, string> = {};

  series(measurement: string, tags: Record<string, string>): void {
    this.measurement = measurement;
    this.tags = tags;
  }

  add(time: bigint, field: string, value: number, extraKey?: string, extraValue?: string): void {
    const fields: Record<string, FieldValue> = {};
    fields[field] = value;
    const tags = extraKey === undefined ? this.tags : withTag(this.tags, extraKey, extraValue!);
    this.points.push({ measurement: this.measurement, tags, fields, time });
  }

  addTwo(time: bigint, field1: string, value1: number, field2: string, value2: number): void {
    const fields: Record<string, FieldValue> = {};
    fields[field1] = value1;
    fields[field2] = value2;
    this.points.push({ measurement: this.measurement, tags: this.tags, fields, time });
  }
}
