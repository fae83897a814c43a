// Numbers as the formats carry them: sample values, counts, bounds and timestamps, and the
// spellings a text body may use for each.
import fc from "fast-check";
import { formatGoFloat } from "../../../plugins/formats/prometheus/goformat.ts";
import type { Choices } from "./choices.ts";

/**
 * The latest timestamp (ms) a sample may carry: what int64 nanoseconds hold. Written here, not
 * imported, so that the generators do not move when the parsers' constant does.
 */
export const MAX_TIMESTAMP_MS = 9_223_372_036_854;

/** Any double, the edges weighted up: NaN, infinities, -0, the extremes, small integers. */
export const anyDouble: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.double(), weight: 4 },
  { arbitrary: fc.integer({ min: -1000, max: 1000 }), weight: 3 },
  { arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, 0.1, 1e-300), weight: 1 },
);

/** A double that is not NaN: le and quantile label values (a NaN one is no bucket or quantile). */
export const numberNotNaN = anyDouble.filter((v) => !Number.isNaN(v));

/** A count: whole or (for float histograms) fractional, never negative or NaN. */
export const count = (float: boolean): fc.Arbitrary<number> =>
  float
    ? fc.oneof(fc.double({ min: 0, max: 1e15, noNaN: true }), fc.integer({ min: 0, max: 1000 }))
    : fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));

export const timestamp: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: 2_000_000_000_000 }),
  fc.integer({ min: -MAX_TIMESTAMP_MS, max: MAX_TIMESTAMP_MS }),
  fc.constantFrom(MAX_TIMESTAMP_MS, -MAX_TIMESTAMP_MS, 0, 1, -1),
);

/** How a text 0.0.4 body may spell v (Go's strconv.ParseFloat reads every one of these). */
export function textNumber(v: number, c: Choices): string {
  if (Number.isNaN(v)) return c.pick(["NaN", "nan", "NAN", "Nan"]);
  if (v === Infinity) return c.pick(["+Inf", "Inf", "inf", "+inf", "Infinity", "+infinity", "INF"]);
  if (v === -Infinity) return c.pick(["-Inf", "-inf", "-Infinity", "-INF"]);
  // JavaScript's own spellings of -0 lose the sign.
  if (Object.is(v, -0)) return c.pick(["-0", "-0.0", "-0e0", "-.0"]);
  const plus = v > 0 || Object.is(v, 0) ? c.pick(["", "", "+"]) : "";
  return plus + c.pick([formatGoFloat(v), String(v), v.toExponential(), v.toPrecision(17), v.toExponential().toUpperCase()]);
}

/** How an OpenMetrics body may spell v: the same, with the specials as the standard writes them. */
export function omNumber(v: number, c: Choices): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Object.is(v, -0)) return c.pick(["-0", "-0.0", "-0e0"]);
  return c.pick([formatGoFloat(v), String(v), v.toExponential(), v.toPrecision(17)]);
}

/** A timestamp in ms as text 0.0.4 writes it: an integer, maybe with "+" or leading zeros. */
export function textTimestamp(ms: number, c: Choices): string {
  const digits = String(Math.abs(ms));
  const sign = ms < 0 ? "-" : c.pick(["", "", "+"]);
  return sign + c.pick(["", "", "0", "000"]) + digits;
}

/** A timestamp in ms as OpenMetrics seconds: exact decimal digits, so it reads back to the same ms. */
export function omTimestamp(ms: number, c: Choices): string {
  const neg = ms < 0;
  const abs = Math.abs(ms);
  const whole = String(Math.floor(abs / 1000));
  const frac = String(abs % 1000).padStart(3, "0");
  const text = c.pick([`${whole}.${frac}`, frac === "000" ? whole : `${whole}.${frac.replace(/0+$/, "")}`, `${whole}${frac}e-3`]);
  return (neg && abs !== 0 ? "-" : "") + text;
}
