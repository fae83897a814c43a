// Native histograms on their exponential grid: the bound of a bucket index, and the buckets of
// a histogram read from native spans as Prometheus' APIs show them (each bucket with its own
// lower and upper bound and its own count, not cumulated).
import type { Histogram } from "./model.ts";

/** The upper bound of positive bucket `index`: 2^(2^-schema) to the power index, exact where the power of two is whole. */
export function nativeBound(index: number, schema: number): number {
  if (schema <= 0) return 2 ** (index * 2 ** -schema);
  const perDoubling = 2 ** schema;
  const doublings = Math.floor(index / perDoubling);
  const rest = index - doublings * perDoubling;
  return 2 ** doublings * (rest === 0 ? 1 : 2 ** (rest / perDoubling));
}

/** Which ends a bucket includes: 0 (lower, upper], 1 [lower, upper), 3 [lower, upper] (the zero bucket). */
export type BucketBoundaries = 0 | 1 | 3;

export interface NativeBucket {
  boundaries: BucketBoundaries;
  lower: number;
  upper: number;
  count: number;
}

/** The index of the grid bound nearest to |bound| (bounds on the grid are 2^(index·2^-schema)). */
function indexOf(bound: number, schema: number): number {
  return Math.round(Math.log2(Math.abs(bound)) * 2 ** schema);
}

/**
 * The populated buckets of a histogram read from native spans, most negative first: negative
 * buckets, the zero bucket, positive buckets. Undefined for a classic histogram. The parsers keep
 * a native histogram as cumulative buckets by upper bound; each bucket's lower bound is the grid
 * bound below it, and the zero bucket is the one whose upper bound is the zero threshold.
 */
export function nativeBuckets(h: Histogram): NativeBucket[] | undefined {
  const grid = h.native;
  if (!grid) return undefined;
  const out: NativeBucket[] = [];
  let before = 0;
  let zeroSeen = false;
  for (const b of h.buckets) {
    if (b.upperBound === Infinity) continue;
    const count = b.count - before;
    before = b.count;
    if (!zeroSeen && b.upperBound === grid.zeroThreshold) {
      zeroSeen = true;
      out.push({ boundaries: 3, lower: -grid.zeroThreshold, upper: grid.zeroThreshold, count });
    } else if (b.upperBound < 0) {
      const index = indexOf(b.upperBound, grid.schema) + 1;
      out.push({ boundaries: 1, lower: -nativeBound(index, grid.schema), upper: b.upperBound, count });
    } else {
      const index = indexOf(b.upperBound, grid.schema);
      out.push({ boundaries: 0, lower: nativeBound(index - 1, grid.schema), upper: b.upperBound, count });
    }
  }
  return out;
}
