// Name escaping schemes of Prometheus 3 (prometheus/common model): how a UTF-8 metric or label
// name is written for a reader that takes only legacy names, and how the "values" scheme is
// read back (Pushgateway 1.11 decodes grouping-key label names with it).
//   allow-utf-8   names as they are
//   underscores   each character a legacy name cannot hold becomes "_"
//   dots          "." -> "_dot_", "_" -> "__", any other such character -> "__"
//   values        "U__" + the name with "_" doubled and each such character as "_<hex>_"
// Legacy names are served unchanged under every scheme.
import { LABEL_NAME, METRIC_NAME } from "./model.ts";

export const ESCAPING_SCHEMES = ["allow-utf-8", "underscores", "dots", "values"] as const;
export type EscapingScheme = (typeof ESCAPING_SCHEMES)[number];

/** What a scraper that names no scheme gets (prometheus/common >= 0.60). */
export const DEFAULT_ESCAPING: EscapingScheme = "underscores";

export function isEscapingScheme(s: string): s is EscapingScheme {
  return (ESCAPING_SCHEMES as readonly string[]).includes(s);
}

/** Go's rule for one rune at byte offset i of a name: the legacy characters, digits not first; ":" in metric names only. */
function legacyRune(cp: number, i: number, label = false): boolean {
  return (cp >= 97 && cp <= 122) || (cp >= 65 && cp <= 90) || cp === 95 || (cp === 58 && !label) || (cp >= 48 && cp <= 57 && i > 0);
}

/** Byte offsets, as Go's `for i, r := range s` gives them: only "first or not" matters here. */
function* runes(name: string): Generator<[number, number]> {
  let i = 0;
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    yield [cp, i];
    i += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
}

/** Lone surrogates are what a JS string holds where Go would see invalid UTF-8. */
function validRune(cp: number): boolean {
  return !(cp >= 0xd800 && cp <= 0xdfff);
}

const cache = new Map<string, string>();

/**
 * A name as a scrape escaped with `scheme` serves it (prometheus/common's EscapeMetricFamily):
 * a legacy name is left as it is under every scheme. A label name may not hold ":" (no text
 * parser reads one bare), so `label` escapes it where prometheus/common would let it through.
 */
export function escapeName(name: string, scheme: EscapingScheme, label = false): string {
  if (name === "" || scheme === "allow-utf-8" || (label ? LABEL_NAME : METRIC_NAME).test(name)) return name;
  const key = scheme + (label ? "\u0001" : "\u0000") + name;
  const known = cache.get(key);
  if (known !== undefined) return known;
  let out = scheme === "values" ? "U__" : "";
  for (const [cp, i] of runes(name)) {
    if (scheme === "underscores") out += legacyRune(cp, i, label) ? String.fromCodePoint(cp) : "_";
    else if (cp === 95) out += "__";
    else if (scheme === "dots") out += cp === 46 ? "_dot_" : legacyRune(cp, i, label) ? String.fromCodePoint(cp) : "__";
    else if (legacyRune(cp, i, label)) out += String.fromCodePoint(cp);
    else out += validRune(cp) ? `_${cp.toString(16)}_` : "_FFFD_";
  }
  if (cache.size >= 10_000) cache.clear();
  cache.set(key, out);
  return out;
}

/**
 * A name written with the "values" scheme, read back: the name itself when it has no "U__"
 * prefix or is not a well-formed escape (as prometheus/common's UnescapeName).
 */
export function unescapeValues(name: string): string {
  if (!name.startsWith("U__")) return name;
  const s = name.slice(3);
  let out = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== "_") {
      out += s[i];
      continue;
    }
    i++;
    if (i >= s.length) return name;
    if (s[i] === "_") {
      out += "_";
      continue;
    }
    let cp = 0;
    for (let digits = 0; ; digits++) {
      if (i >= s.length) return name;
      const c = s[i].toLowerCase();
      if (c === "_") break;
      if (digits >= 6) return name;
      const d = c >= "0" && c <= "9" ? c.charCodeAt(0) - 48 : c >= "a" && c <= "f" ? c.charCodeAt(0) - 87 : -1;
      if (d < 0) return name;
      cp = cp * 16 + d;
      i++;
    }
    if (cp > 0x10ffff || !validRune(cp)) return name;
    out += String.fromCodePoint(cp);
  }
  return out;
}
