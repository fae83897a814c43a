// A family's label sets as one string, the key of the store's reuse check: a push whose family
// has the shape of the family it replaces keeps that family's sanitised labels and series keys.
// One comparison of two strings costs less than comparing the label sets pair by pair, and a
// parse worker can make the string off the main thread. Every producer of a pushed family
// (main thread or worker) joins with this module, so that equal strings mean equal label sets
// whichever way a push came.
import type { Metric } from "../../../formats/prometheus/model.ts";

// Separators: NUL and SOH, unless a label holds one; then lone surrogates, which decoding
// UTF-8 (as every parser does for names and values) never yields. The first character of a
// shape says which: equal shapes, equal label sets.
const NARROW = "n";
const WIDE = "w";
const SEPARATORS = { [NARROW]: ["\u0000", "\u0001"], [WIDE]: ["\uD800", "\uDBFF"] } as const;

/**
 * The label sets of a family's metrics as one string: equal strings, equal label sets.
 * `narrow` says no label holds NUL or SOH (a caller that knows, e.g. from the body's bytes,
 * saves the look); one-byte strings are half the size of two-byte ones.
 */
export function shapeOf(metrics: readonly Metric[], narrow = !metrics.some(holdsSeparator)): string {
  const kind = narrow ? NARROW : WIDE;
  const [pair, metric] = SEPARATORS[kind];
  const parts = new Array<string>(metrics.length);
  for (let i = 0; i < metrics.length; i++) parts[i] = metrics[i].labels.join(pair);
  return kind + parts.join(metric);
}

const NARROW_SEPARATOR = /[\u0000\u0001]/;

function holdsSeparator(m: Metric): boolean {
  for (const l of m.labels) if (NARROW_SEPARATOR.test(l)) return true;
  return false;
}

/** The label pairs of each metric, back from a shape of `size` metrics. */
export function labelsOfShape(shape: string, size: number): string[][] {
  const kind = shape[0];
  if (kind !== NARROW && kind !== WIDE) throw new Error("label shape: not a shape");
  if (size === 0) return [];
  const [pair, metric] = SEPARATORS[kind];
  const parts = shape.slice(1).split(metric);
  if (parts.length !== size) throw new Error(`label shape: ${parts.length} label sets for ${size} metrics`);
  return parts.map((p) => {
    if (p === "") return [];
    const pairs = p.split(pair);
    if (pairs.length % 2 !== 0) throw new Error("label shape: a label set with an odd number of names and values");
    return pairs;
  });
}
