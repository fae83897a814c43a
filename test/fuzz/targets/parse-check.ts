// What must hold for any body handed to a parser: it gives metric families or throws a
// BodyParseError with a message, in bounded time, and families it gives are sound (names,
// labels, timestamps in range, native buckets in order). Limits only ever refuse: what parses
// under them parses the same without them. And what a parser accepts, the writer of the same
// format writes so that it reads back the same (after the writers' documented normalizations).
import { BodyParseError, type MetricFamily, type ParseOptions } from "../../../plugins/formats/prometheus/model.ts";
import { parseBody } from "../../../plugins/formats/prometheus/parse.ts";
import { render } from "../../../plugins/formats/prometheus/write.ts";
import { canon, difference, withoutNative } from "../gen/canon.ts";
import type { Format } from "../gen/model.ts";
import { LEGACY_LABEL, LEGACY_METRIC, wellFormed } from "../gen/names.ts";
import { MAX_TIMESTAMP_MS } from "../gen/numbers.ts";
import { probe, SlowInput, timed } from "../probe.ts";

const TYPES = new Set(["COUNTER", "GAUGE", "SUMMARY", "UNTYPED", "HISTOGRAM", "GAUGE_HISTOGRAM"]);

/** A parser that threw something other than a BodyParseError: the push would be answered 500. */
export class ParserCrash extends Error {}

/** The families, or undefined when the body was refused as it should be. */
export function parseOrRefuse(body: Buffer, format: Format, options: ParseOptions): MetricFamily[] | undefined {
  probe.input(body);
  try {
    return timed(`parsing ${body.length} bytes of ${format}`, () => parseBody(body, format, options));
  } catch (e) {
    if (e instanceof SlowInput) throw e;
    if (!(e instanceof BodyParseError)) {
      const err = e as Error;
      throw new ParserCrash(`the ${format} parser threw ${err?.name ?? typeof e} instead of a BodyParseError: ${err?.stack ?? String(e)}`);
    }
    if (e.message.trim() === "") throw new Error(`the ${format} parser refused a body with an empty message (${e.name})`);
    return undefined;
  }
}

/** The first thing wrong with families a parser gave, if any. */
export function unsound(families: MetricFamily[], format: Format, options: ParseOptions): string | undefined {
  const legacy = format !== "protobuf" && options.names !== "utf8";
  for (const f of families) {
    const at = `family ${JSON.stringify(f.name)}`;
    if (!wellFormed(f.name) || f.name === "") return `${at}: bad name`;
    if (legacy && !LEGACY_METRIC.test(f.name)) return `${at}: not a legacy name, but names are legacy`;
    if (!TYPES.has(f.type)) return `${at}: type ${f.type}`;
    if (f.help !== undefined && !wellFormed(f.help)) return `${at}: help is not well-formed text`;
    for (const m of f.metrics) {
      const l = m.labels;
      if (l.length % 2 !== 0) return `${at}: odd label array`;
      const names = new Set<string>();
      for (let i = 0; i < l.length; i += 2) {
        if (!wellFormed(l[i]) || !wellFormed(l[i + 1]) || l[i] === "") return `${at}: bad label ${JSON.stringify(l[i])}`;
        if (legacy && !LEGACY_LABEL.test(l[i])) return `${at}: label ${JSON.stringify(l[i])} is not a legacy name, but names are legacy`;
        if (names.has(l[i])) return `${at}: label ${JSON.stringify(l[i])} twice`;
        names.add(l[i]);
      }
      const ts = m.timestampMs;
      if (ts !== undefined && !(Number.isInteger(ts) && Math.abs(ts) <= MAX_TIMESTAMP_MS)) return `${at}: timestamp ${ts} ms is outside int64 nanoseconds`;
      const h = m.histogram;
      if (h?.native) {
        const bounds = h.buckets.map((b) => b.upperBound);
        for (let i = 1; i < bounds.length; i++) if (!(bounds[i] > bounds[i - 1])) return `${at}: native histogram bounds not increasing: ${bounds.join(", ")}`;
        if (bounds.filter((b) => b === Infinity).length !== 1 || bounds[bounds.length - 1] !== Infinity) return `${at}: native histogram without exactly one +Inf bucket, last: ${bounds.join(", ")}`;
      }
    }
  }
  return undefined;
}

/** Whether the text format must read some sample name of one family as another family's (x_count beside summary x). */
function ambiguousInText(families: MetricFamily[]): boolean {
  const names = new Set(families.map((f) => f.name));
  return families.some((f) => ["_count", "_sum", "_bucket"].some((s) => names.has(f.name + s)));
}

function floatCounts(count: number | undefined, buckets: { count: number }[]): boolean {
  return (count !== undefined && !Number.isInteger(count)) || buckets.some((b) => !Number.isInteger(b.count));
}

/**
 * What writing the families in `format` and reading them back gives, by the writers' documented
 * rules: a summary or histogram always has _sum and _count (0 when absent) and a +Inf bucket,
 * text 0.0.4 has no gauge histogram, protobuf's native grid is written as classic buckets, a
 * timestamp of -0 is 0.
 */
export function asWritten(families: MetricFamily[], format: Format): MetricFamily[] {
  return withoutNative(families).map((f) => ({
    ...f,
    type: format === "text" && f.type === "GAUGE_HISTOGRAM" ? "HISTOGRAM" : f.type,
    metrics: f.metrics.map((metric) => {
      // A timestamp of "-0" is written as 0 (the text parser keeps the sign; it means the same instant).
      const m = Object.is(metric.timestampMs, -0) ? { ...metric, timestampMs: 0 } : metric;
      if (m.summary) return { ...m, summary: { ...m.summary, count: m.summary.count ?? 0, sum: m.summary.sum ?? 0 } };
      if (!m.histogram) return m;
      const h = m.histogram;
      const buckets = h.buckets.some((b) => b.upperBound === Infinity) ? h.buckets : [...h.buckets, { upperBound: Infinity, count: h.count ?? 0 }];
      // Protobuf says "float" by the fields it writes: counts that are all zero read back as whole.
      const float = format === "protobuf" ? h.floatCounts && ((h.count ?? 0) > 0 || buckets.some((b) => b.count > 0)) : floatCounts(h.count ?? 0, buckets);
      return { ...m, histogram: { ...h, count: h.count ?? 0, sum: h.sum ?? 0, buckets, floatCounts: float } };
    }),
  }));
}

/** Families a parser accepted, written by write.ts in the same format and read back: the same data. */
export function checkRoundTrip(families: MetricFamily[], format: Format, options: ParseOptions): void {
  if (format === "text" && ambiguousInText(families)) return;
  const written = Buffer.from(render(families, format, "allow-utf-8"));
  probe.input(written);
  let back: MetricFamily[];
  try {
    back = parseBody(written, format, { names: options.names });
  } catch (e) {
    throw new Error(`write.ts wrote ${format} that its parser refuses: ${(e as Error).message}\nwritten: ${JSON.stringify(written.toString("latin1").slice(0, 2000))}`);
  }
  const d = difference(back, asWritten(families, format));
  if (d) throw new Error(`${format} written by write.ts reads back different: ${d}\nwritten: ${JSON.stringify(written.toString("latin1").slice(0, 2000))}`);
}

/** The whole contract for one body: refused with a message, or sound families that limits did not change. */
export function checkBody(body: Buffer, format: Format, options: ParseOptions): MetricFamily[] | undefined {
  const families = parseOrRefuse(body, format, options);
  if (!families) return undefined;
  const problem = unsound(families, format, options);
  if (problem) throw new Error(`${format} parser accepted unsound families: ${problem}`);
  if (options.limits) {
    const unlimited = parseBody(body, format, { names: options.names });
    if (canon(unlimited) !== canon(families)) throw new Error(`${format}: parsing under limits gave other families than without them`);
  }
  return families;
}
