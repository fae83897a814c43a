// Go's spellings, where clients and error messages expect them: %q quoting and %g floats; and
// Go's reading of floats (strconv.ParseFloat), as the text parsers take them.

const SIMPLE_ESCAPES: Record<number, string> = { 7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 92: "\\\\" };

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

// Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function isPrintable(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x20 && cp < 0x7f;
  return PRINTABLE.test(String.fromCodePoint(cp));
}

function escapeRune(cp: number, quote: number): string {
  if (cp === quote) return "\\" + String.fromCharCode(quote);
  const simple = SIMPLE_ESCAPES[cp];
  if (simple) return simple;
  if (isPrintable(cp)) return String.fromCodePoint(cp);
  if (cp < 0x80) return "\\x" + hex2(cp);
  if (cp <= 0xffff) return "\\u" + cp.toString(16).padStart(4, "0");
  return "\\U" + cp.toString(16).padStart(8, "0");
}

/** Decodes one UTF-8 sequence at i; returns [codePoint, length] or [-1, 1] for an invalid byte. */
function decodeUtf8(b: Uint8Array, i: number, end: number): [number, number] {
  const c = b[i];
  if (c < 0x80) return [c, 1];
  const need = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? (c <= 0xef ? 2 : -1) : c >= 0xc2 ? 1 : -1;
  if (need < 0 || i + need >= end) return [-1, 1];
  let cp = c & (0x3f >> need);
  for (let k = 1; k <= need; k++) {
    const x = b[i + k];
    if ((x & 0xc0) !== 0x80) return [-1, 1];
    cp = (cp << 6) | (x & 0x3f);
  }
  const min = [0, 0x80, 0x800, 0x10000][need];
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return [-1, 1];
  return [cp, need + 1];
}

/** Go's %q of a byte string: invalid UTF-8 bytes show as \xNN. */
export function goQuoteBytes(b: Uint8Array, start = 0, end = b.length): string {
  let out = '"';
  for (let i = start; i < end; ) {
    const [cp, len] = decodeUtf8(b, i, end);
    out += cp < 0 ? "\\x" + hex2(b[i]) : escapeRune(cp, 34);
    i += len;
  }
  return out + '"';
}

export function goQuote(s: string): string {
  return goQuoteBytes(Buffer.from(s, "utf8"));
}

/** Go's %q of a single byte (as a rune literal), e.g. '+' or '\n'. */
/** goQuote of at most the first `max` characters (a surrogate pair is not split), "..." after a cut. */
export function goQuoteCut(s: string, max: number): string {
  if (s.length <= max) return goQuote(s);
  let cut = max;
  const c = s.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--;
  return goQuote(s.slice(0, cut)) + "...";
}

export function goQuoteByte(c: number): string {
  return "'" + escapeRune(c, 39) + "'";
}

/**
 * Go's strconv.FormatFloat(v, 'g', -1, 64), as `le` and `quantile` tags are spelled:
 * the shortest digits that round-trip, in exponent form when the exponent is < -4 or >= 6.
 */
export function formatGoFloat(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  // toExponential() without an argument gives the shortest digits that round-trip.
  const [mant, expText] = v.toExponential().split("e");
  const exp = Number(expText);
  const neg = mant.startsWith("-");
  const digits = mant.replace("-", "").replace(".", "");
  let out: string;
  if (exp < -4 || exp >= 6) {
    const e = String(Math.abs(exp)).padStart(2, "0");
    out = digits[0] + (digits.length > 1 ? "." + digits.slice(1) : "") + "e" + (exp < 0 ? "-" : "+") + e;
  } else if (exp < 0) {
    out = "0." + "0".repeat(-exp - 1) + digits;
  } else if (digits.length <= exp + 1) {
    out = digits + "0".repeat(exp + 1 - digits.length);
  } else {
    out = digits.slice(0, exp + 1) + "." + digits.slice(exp + 1);
  }
  return neg ? "-" + out : out;
}

// One way to split the digits around the dot: "\d+\.?\d*" let a long run of digits that fails
// at its end be tried at every split point, quadratic in its length (seconds for a 64 KiB token).
const DECIMAL_FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL_FLOAT = /^(?:[+-]?inf(?:inity)?|nan)$/i;

/** Parses a float the way Go's strconv.ParseFloat does (no hex, no underscores); NaN-safe undefined on error. */
export function parseGoFloat(s: string): number | undefined {
  if (DECIMAL_FLOAT.test(s)) {
    const v = Number(s);
    // Go reports overflow to infinity as a range error.
    return Number.isFinite(v) ? v : undefined;
  }
  if (SPECIAL_FLOAT.test(s)) {
    const l = s.toLowerCase();
    return l === "nan" ? NaN : l.startsWith("-") ? -Infinity : Infinity;
  }
  return undefined;
}
