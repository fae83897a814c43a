// Metric and label names, label values and HELP texts: legacy names, UTF-8 names (Prometheus 3),
// and strings full of what the formats escape.
import fc from "fast-check";

/** Suffixes that make a family's sample names collide with another family's (text and OpenMetrics). */
const SUFFIXES = ["_total", "_created", "_count", "_sum", "_bucket", "_gcount", "_gsum", "_info"];

/** No lone surrogate: what a JavaScript string must be to stand for valid UTF-8. */
export function wellFormed(s: unknown): boolean {
  return typeof s === "string" && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

export function hasReservedSuffix(name: string): boolean {
  return SUFFIXES.some((s) => name.endsWith(s));
}

/** The legacy name rules (model.ts has them too; written here so the generators stand alone). */
export const LEGACY_METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
export const LEGACY_LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A quoted name or label value as the text formats escape it. */
export function escapeQuoted(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

export const legacyMetricName = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,11}$/);
export const legacyLabelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,9}$/).filter((n) => !n.startsWith("__"));

/** Characters the text formats escape or give a meaning: they must survive quoting. */
const AWKWARD = ["\\", '"', "\n", "{", "}", ",", "=", " ", "\t", "#", ".", ":", "é", "😀", "\u0000", "\r", "U__", "_2e_"];

/** Any string: code points of every plane, and runs of the awkward characters. */
export const anyText = (maxLength = 12): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: "binary", maxLength }),
    fc.string({ unit: "grapheme-ascii", maxLength }),
    fc.array(fc.constantFrom(...AWKWARD, "a", "b"), { maxLength: 6 }).map((p) => p.join("")),
  );

/** A UTF-8 name: any non-empty string. */
export const utf8Name = anyText().filter((s) => s.length > 0);

export const labelValue = anyText(16);

/** A name of either kind; the UTF-8 ones only when the flavor takes them. */
export function metricName(utf8: boolean): fc.Arbitrary<string> {
  return (utf8 ? fc.oneof(legacyMetricName, utf8Name) : legacyMetricName).filter((n) => !hasReservedSuffix(n));
}

export function labelName(utf8: boolean): fc.Arbitrary<string> {
  return (utf8 ? fc.oneof({ arbitrary: legacyLabelName, weight: 2 }, utf8Name) : legacyLabelName).filter((n) => !n.startsWith("__"));
}
