// Parser for the Prometheus text exposition format 0.0.4, over raw bytes.
//
// It accepts exactly what the reference parser (prometheus/common expfmt) accepts, with
// legacy metric and label name validation, and reports the first error with the
// reference's message: "text format parsing error in line N: ...". Lines are parsed one at
// a time; a line that is not terminated by "\n" fails where the reference would run out
// of input ("unexpected end of input stream").
import { isUtf8 } from "node:buffer";
import { FamilyBuilder } from "./family-builder.ts";
import { goQuoteByte, goQuoteBytes, goQuoteCut, parseGoFloat } from "./goformat.ts";
import { hasLimits, LimitCheck, type BodyLimits } from "./limits.ts";
import { copyLabels, isHistogramType, isLabelName, isMetricName, TextParseError, timestampProblem, type Metric, type MetricFamily, type MetricType, type NameValidation, type ParseOptions } from "./model.ts";

/**
 * Tokens quoted in error messages, as Go quotes them, cut after MAX_QUOTED bytes: a 1 MiB bad
 * value would otherwise make a 1 MiB answer and log line, and quoting it costs the event loop.
 */
const MAX_QUOTED = 256;

function quoteBytes(b: Uint8Array, start = 0, end = b.length): string {
  return end - start > MAX_QUOTED ? goQuoteBytes(b, start, start + MAX_QUOTED) + "..." : goQuoteBytes(b, start, end);
}

function quote(s: string): string {
  return goQuoteCut(s, MAX_QUOTED);
}

const NL = 10, SP = 32, TAB = 9, HASH = 35, QUOTE = 34, BSL = 92, LBRACE = 123, RBRACE = 125, COMMA = 44, EQ = 61;

// Byte classes. A '"' may start or continue a name: it opens a quoted (UTF-8) name.
const LABEL_START = new Uint8Array(256);
const LABEL_CONT = new Uint8Array(256);
const METRIC_START = new Uint8Array(256);
const METRIC_CONT = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const alpha = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
  const digit = c >= 48 && c <= 57;
  LABEL_START[c] = alpha || c === QUOTE ? 1 : 0;
  LABEL_CONT[c] = alpha || digit || c === QUOTE ? 1 : 0;
  METRIC_START[c] = LABEL_START[c] || c === 58 ? 1 : 0;
  METRIC_CONT[c] = LABEL_CONT[c] || c === 58 ? 1 : 0;
}

/**
 * le and quantile values repeat on nearly every line of a histogram or summary. A cache shared
 * across bodies, not state: a value parses the same whatever body it is in.
 */
const specialFloats = new Map<string, number | undefined>();
function specialLabelFloat(s: string): number | undefined {
  if (specialFloats.has(s)) return specialFloats.get(s);
  const v = parseGoFloat(s);
  if (specialFloats.size >= 4096) specialFloats.clear();
  specialFloats.set(s, v);
  return v;
}

const INT64_MAX = 9223372036854775807n;

function parseGoInt64(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  if (s.length > 15) {
    const b = BigInt(s);
    if (b > INT64_MAX || b < -INT64_MAX - 1n) return undefined;
  }
  return Number(s);
}

/** Timestamp from bytes: up to 15 plain digits are exact as a double; the rest goes through the string parser. */
function parseInt64Bytes(buf: Buffer, s: number, e: number): number | undefined {
  let i = s;
  const neg = buf[i] === 45;
  if (neg || buf[i] === 43) i++;
  if (i < e && e - i <= 15) {
    let m = 0;
    for (; i < e; i++) {
      const d = buf[i] - 48;
      if (d < 0 || d > 9) break;
      m = m * 10 + d;
    }
    if (i === e) return neg ? -m : m;
  }
  return parseGoInt64(buf.toString("latin1", s, e));
}

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/**
 * Reads a float token at s, up to a blank or e, and leaves its end in at.end. Plain
 * decimals of up to 15 digits are computed while scanning: the integer and the power of ten
 * are exact doubles, so one division rounds correctly, as Go does. Everything else goes
 * through the string parser.
 */
function readFloat(buf: Buffer, s: number, e: number, at: { end: number }): number | undefined {
  let i = s;
  let c = buf[i];
  const neg = c === 45;
  if (neg || c === 43) i++;
  let m = 0;
  let digits = 0;
  let frac = -1;
  for (; i < e; i++) {
    c = buf[i];
    if (c >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      digits++;
    } else if (c === 46 && frac < 0) {
      frac = digits;
    } else {
      break;
    }
  }
  if (i === e || c === SP || c === TAB) {
    at.end = i;
    if (digits > 0 && digits <= 15) {
      const scale = frac < 0 ? 0 : digits - frac;
      const v = scale === 0 ? m : m / POW10[scale];
      return neg ? -v : v;
    }
  } else {
    while (i < e && buf[i] !== SP && buf[i] !== TAB) i++;
    at.end = i;
  }
  return parseGoFloat(buf.toString("latin1", s, i));
}

/**
 * Whether the len bytes at i repeat the bytes at p (an earlier token; -1 for none) and are
 * followed by another byte of the line, which the caller checks ends the token.
 */
function repeats(buf: Buffer, i: number, p: number, len: number, end: number): boolean {
  if (p < 0 || i + len >= end) return false;
  for (let k = 0; k < len; k++) if (buf[i + k] !== buf[p + k]) return false;
  return true;
}

/** Whether bytes [s, e) spell `str` (ASCII). */
function spells(buf: Buffer, s: number, e: number, str: string): boolean {
  if (str.length !== e - s) return false;
  for (let i = 0; i < str.length; i++) if (str.charCodeAt(i) !== buf[s + i]) return false;
  return true;
}

const PREV_SLOTS = 64;

/**
 * Strings of short ASCII tokens (names, label values) are interned in a small direct-mapped
 * table shared across pushes: pushes repeat the same names and values, and reusing the
 * strings saves most of the parser's allocation. A cache, not state: what a body parses to
 * does not depend on what is in it.
 */
const INTERN_SLOTS = 8192;
const internTable: (string | undefined)[] = new Array(INTERN_SLOTS);

/** The hash intern() expects, updated by one byte: callers compute it while scanning the token. */
function hashStep(h: number, c: number): number {
  return (Math.imul(h, 31) + c) | 0;
}

/** The string of bytes [s, e), whose hashStep hash (from 0) is h. */
function intern(buf: Buffer, s: number, e: number, h: number): string {
  const len = e - s;
  if (len > 40) return buf.toString("latin1", s, e);
  const slot = (h ^ len) & (INTERN_SLOTS - 1);
  const cached = internTable[slot];
  if (cached !== undefined && cached.length === len) {
    let i = 0;
    while (i < len && cached.charCodeAt(i) === buf[s + i]) i++;
    if (i === len) return cached;
  }
  const str = buf.toString("latin1", s, e);
  internTable[slot] = str;
  return str;
}

/** What a sample line's metric name resolves to; the same for the whole body once resolved. */
interface Resolved {
  st: FamilyState;
  isCount: boolean;
  isSum: boolean;
}

/** A family being built, and its type as declared so far. */
class FamilyState extends FamilyBuilder {
  /** Undefined until a TYPE line or a sample fixes it. */
  type: MetricType | undefined = undefined;
}


/** The label name that carries a family's quantile or bucket bound; "" when none does. */
function specialLabelOf(st: FamilyState | undefined): string {
  const type = st?.type;
  return type === "SUMMARY" ? "quantile" : isHistogramType(type) ? "le" : "";
}

function endsWith(name: string, suffix: string): boolean {
  return name.length > suffix.length && name.endsWith(suffix);
}

class TextParser {
  private readonly families = new Map<string, FamilyState>();
  /**
   * The previous sample line's metric name, and its label names and values by position
   * (quantile and le included), with where their bytes are in the body (-1: not known, or not
   * plain ASCII). Lines of a family mostly repeat them, and comparing a token's bytes with
   * those is much cheaper than scanning, hashing and interning it. Labels past PREV_SLOTS are
   * not predicted.
   */
  private prevName: string | undefined;
  private prevNameAt = -1;
  private readonly prevLabels: string[] = [];
  private readonly prevAt = new Int32Array(PREV_SLOTS).fill(-1);
  /** Label names and values of the line being parsed; copied to an exact-size array only when kept. */
  private readonly scratch: string[] = [];
  /** Where the last float token read ends. */
  private readonly float = { end: 0 };
  private line = 0;
  private pos = 0;
  /** End of the current line: the index of its "\n", or the buffer's end when it has none. */
  private end = 0;
  private eof = false;
  // What the current sample line's name resolved to.
  private isCount = false;
  private isSum = false;
  // The last name token read, and whether it needs legacy validation (quoted).
  private token = "";
  private tokenQuoted = false;
  /** The bytes of a quoted token, for error messages (Go quotes the raw bytes). */
  private tokenBytes: Uint8Array | undefined;
  /** Whether the last label value read was plain ASCII without escapes. */
  private plain = false;
  /** Created on a second name: most small pushes have one. */
  private resolved: Map<string, Resolved> | undefined;
  private lastName: string | undefined;
  private lastResolved: Resolved | undefined;

  /** Undefined when no limit is set: the common case pays nothing per series. */
  private readonly limits: LimitCheck | undefined;

  constructor(
    private readonly buf: Buffer,
    private readonly names: NameValidation,
    limits: BodyLimits | undefined,
  ) {
    this.limits = limits && hasLimits(limits) ? new LimitCheck(limits, () => `line ${this.line}`) : undefined;
  }

  parse(): MetricFamily[] {
    const buf = this.buf;
    const n = buf.length;
    let pos = 0;
    for (;;) {
      this.line++;
      while (pos < n && (buf[pos] === SP || buf[pos] === TAB)) pos++;
      if (pos >= n) break;
      const c = buf[pos];
      if (c === NL) {
        pos++;
        continue;
      }
      const nl = buf.indexOf(NL, pos);
      this.eof = nl < 0;
      this.end = nl < 0 ? n : nl;
      this.pos = pos;
      if (c === HASH) this.comment();
      else this.sample();
      pos = this.end + 1;
    }
    const out: MetricFamily[] = [];
    for (const st of this.families.values()) {
      if (st.family.metrics.length > 0) out.push(st.finish());
    }
    return out;
  }

  private fail(detail: string): never {
    throw new TextParseError(this.line, detail);
  }

  /** The byte an escape `\c` stands for in names, label values and HELP texts: `\\`, `\"` or `\n`. */
  private unescaped(c: number): number {
    if (c === BSL || c === QUOTE) return c;
    if (c === 110) return NL;
    this.fail(`invalid escape sequence '\\${String.fromCharCode(c)}'`);
  }

  /** The reference reads past the last byte of an unterminated line and hits end of input. */
  private unexpectedEnd(): never {
    this.fail("unexpected end of input stream");
  }

  /** The byte at i within the current line: NL at the line's end, or end-of-input failure. */
  private at(i: number): number {
    if (i < this.end) return this.buf[i];
    if (this.eof) this.unexpectedEnd();
    return NL;
  }

  private skipBlanks(i: number): number {
    const buf = this.buf;
    const end = this.end;
    while (i < end && (buf[i] === SP || buf[i] === TAB)) i++;
    if (i >= end && this.eof) this.unexpectedEnd();
    return i;
  }

  /**
   * Reads a metric or label name at i into this.token and returns the index after it.
   * Plain names are the fast path; a '"' opens a quoted name with escapes \\ \" \n.
   */
  private readName(i: number, metric: boolean): number {
    const buf = this.buf;
    const end = this.end;
    const start = metric ? METRIC_START : LABEL_START;
    const cont = metric ? METRIC_CONT : LABEL_CONT;
    this.token = "";
    this.tokenQuoted = false;
    if (i >= end) {
      if (this.eof) this.unexpectedEnd();
      return i;
    }
    if (!start[buf[i]]) return i;
    const from = i;
    let h = 0;
    for (; i < end; i++) {
      const c = buf[i];
      if (!cont[c] || c === QUOTE) break;
      h = hashStep(h, c);
    }
    if (i < end && buf[i] !== QUOTE) {
      this.token = intern(buf, from, i, h);
      return i;
    }
    if (i >= end) {
      if (this.eof) this.unexpectedEnd();
      this.token = intern(buf, from, i, h);
      return i;
    }
    return this.readQuotedName(from, metric);
  }

  private readQuotedName(i: number, metric: boolean): number {
    const cont = metric ? METRIC_CONT : LABEL_CONT;
    const bytes: number[] = [];
    let quoted = false;
    let escaped = false;
    this.tokenQuoted = true;
    for (;;) {
      const c = this.at(i);
      if (escaped) {
        bytes.push(this.unescaped(c));
        escaped = false;
      } else if (c === QUOTE) {
        quoted = !quoted;
        if (!quoted) {
          i++;
          break;
        }
      } else if (c === NL) {
        this.fail(`${metric ? "metric" : "label"} name ${quoteBytes(Uint8Array.from(bytes))} contains unescaped new-line`);
      } else if (c === BSL) {
        escaped = true;
      } else {
        bytes.push(c);
      }
      i++;
      const next = this.at(i);
      if (!(quoted || cont[next])) break;
    }
    this.tokenBytes = Uint8Array.from(bytes);
    this.token = Buffer.from(this.tokenBytes).toString("utf8");
    return i;
  }

  /** A quoted name: legacy, or any valid UTF-8 when the parser takes UTF-8 names. */
  private validQuoted(name: string, metric: boolean): boolean {
    if (this.names === "legacy") return metric ? isMetricName(name, "legacy") : isLabelName(name, "legacy");
    // The token is the last one read: its bytes say whether it was valid UTF-8.
    const bytes = this.token === name ? this.tokenBytes : undefined;
    return name.length > 0 && (bytes === undefined || isUtf8(bytes));
  }

  /** %q of the last quoted token when `name` is that token, else of `name`. */
  private quotedToken(name: string): string {
    return this.tokenQuoted && this.token === name && this.tokenBytes ? quoteBytes(this.tokenBytes) : quote(name);
  }

  /**
   * resolveFamily for sample lines, remembered by name: a name resolves to the same family for
   * the rest of the body (families are never removed, nor their type changed once set).
   */
  private familyOf(name: string, quoted: boolean): FamilyState {
    let r = this.lastResolved;
    if (r === undefined || name !== this.lastName) {
      if (r !== undefined) {
        // A second name: from now on every resolution is remembered.
        this.resolved ??= new Map([[this.lastName!, r]]);
        r = this.resolved.get(name);
      }
      if (r === undefined) {
        const st = this.resolveFamily(name, quoted);
        r = { st, isCount: this.isCount, isSum: this.isSum };
        this.resolved?.set(name, r);
      }
      this.lastName = name;
      this.lastResolved = r;
    }
    this.isCount = r.isCount;
    this.isSum = r.isSum;
    return r.st;
  }

  /** Finds or creates the family a name belongs to (x_sum/x_count of a summary, x_bucket of a histogram). */
  private resolveFamily(name: string, quoted: boolean): FamilyState {
    this.isCount = false;
    this.isSum = false;
    if (quoted && !this.validQuoted(name, true)) this.fail(`invalid metric name ${this.quotedToken(name)}`);
    let st = this.families.get(name);
    if (st) return st;
    const count = endsWith(name, "_count");
    const sum = endsWith(name, "_sum");
    if (count || sum) {
      st = this.families.get(name.slice(0, name.length - (count ? 6 : 4)));
      if (st && (st.type === "SUMMARY" || isHistogramType(st.type))) {
        this.isCount = count;
        this.isSum = sum;
        return st;
      }
    } else if (endsWith(name, "_bucket")) {
      st = this.families.get(name.slice(0, name.length - 7));
      if (st && isHistogramType(st.type)) return st;
    }
    this.limits?.addFamily(name);
    st = new FamilyState(name, "UNTYPED");
    this.families.set(name, st);
    return st;
  }

  private comment(): void {
    const buf = this.buf;
    let i = this.skipBlanks(this.pos + 1);
    if (i >= this.end) return;
    const from = i;
    while (i < this.end && buf[i] !== SP && buf[i] !== TAB) i++;
    if (i >= this.end) {
      if (this.eof) this.unexpectedEnd();
      return;
    }
    const help = spells(buf, from, i, "HELP");
    if (!help && !spells(buf, from, i, "TYPE")) {
      if (this.eof) this.unexpectedEnd();
      return;
    }
    i = this.skipBlanks(i);
    i = this.readName(i, true);
    const c = this.at(i);
    if (c === NL) return;
    if (c !== SP && c !== TAB) this.fail("invalid metric name in comment");
    const st = this.resolveFamily(this.token, this.tokenQuoted);
    i = this.skipBlanks(i);
    if (i >= this.end) return;
    if (help) {
      if (st.family.help !== undefined) this.fail(`second HELP line for metric name ${quote(st.family.name)}`);
      st.family.help = this.readHelp(i);
      if (this.eof) this.unexpectedEnd();
    } else {
      if (st.type !== undefined) this.fail(`second TYPE line for metric name ${quote(st.family.name)}, or TYPE reported after samples`);
      if (this.eof) this.unexpectedEnd();
      const type = typeAsWritten(buf, i, this.end) ?? TYPES[goToUpper(buf.toString("utf8", i, this.end))];
      if (!type) this.fail(`unknown metric type ${quoteBytes(buf, i, this.end)}`);
      st.type = type;
      st.family.type = type;
    }
  }

  private readHelp(i: number): string {
    const buf = this.buf;
    const end = this.end;
    const line = buf.subarray(i, end);
    if (line.indexOf(BSL) < 0) return line.toString("utf8");
    const bytes: number[] = [];
    for (; i < end; i++) {
      const c = buf[i];
      if (c !== BSL) {
        bytes.push(c);
        continue;
      }
      const e = this.at(++i);
      bytes.push(this.unescaped(e));
    }
    return Buffer.from(bytes).toString("utf8");
  }

  private sample(): void {
    const buf = this.buf;
    const end = this.end;
    let i = this.pos;
    const braced = buf[i] === LBRACE;
    let st: FamilyState | undefined;
    if (!braced) {
      const predicted = this.prevName;
      if (predicted !== undefined && repeats(buf, i, this.prevNameAt, predicted.length, end) && !METRIC_CONT[buf[i + predicted.length]]) {
        i += predicted.length;
        st = this.familyOf(predicted, false);
      } else {
        const from = i;
        i = this.readName(i, true);
        if (this.token === "") this.fail("invalid metric name");
        this.prevName = this.token;
        this.prevNameAt = this.tokenQuoted ? -1 : from;
        st = this.familyOf(this.token, this.tokenQuoted);
      }
      if (st.type === undefined) st.type = "UNTYPED";
      if (i < end && (buf[i] === SP || buf[i] === TAB)) i = this.skipBlanks(i);
    }
    const labels = this.scratch;
    const prevLabels = this.prevLabels;
    const prevAt = this.prevAt;
    let n = 0;
    // Where this line's label names and values are in prev: by position, quantile and le too.
    let slot = 0;
    let quantile = NaN;
    let bucket = NaN;
    let nameLate = false;
    if ((i < end ? buf[i] : this.at(i)) === LBRACE) {
      i++;
      let special = specialLabelOf(st);
      for (;;) {
        if (i >= end || buf[i] === SP || buf[i] === TAB) i = this.skipBlanks(i);
        if ((i < end ? buf[i] : this.at(i)) === RBRACE) break;
        // Lines of a family mostly repeat the label names, and often values, of the line before.
        const nameAt = slot < PREV_SLOTS ? prevAt[slot] : -1;
        const valueAt = slot < PREV_SLOTS ? prevAt[slot + 1] : -1;
        const nameFrom = i;
        let name = prevLabels[slot];
        let nameQuoted = false;
        if (name !== undefined && repeats(buf, i, nameAt, name.length, end) && !LABEL_CONT[buf[i + name.length]]) {
          i += name.length;
        } else {
          i = this.readName(i, false);
          name = this.token;
          nameQuoted = this.tokenQuoted;
          if (name === "") this.fail(`invalid label name for metric ${quote(st?.family.name ?? "")}`);
        }
        if (i < end && (buf[i] === SP || buf[i] === TAB)) i = this.skipBlanks(i);
        let c = i < end ? buf[i] : this.at(i);
        if (c !== EQ) {
          if (!braced) this.fail(`expected '=' after label name, found ${goQuoteByte(c)}`);
          if (c !== COMMA && c !== RBRACE) this.fail(`unexpected end of metric name ${goQuoteByte(c)}`);
          if (st) this.fail(`multiple metric names for metric ${quote(st.family.name)}`);
          st = this.resolveFamily(name, nameQuoted);
          if (st.type === undefined) st.type = "UNTYPED";
          special = specialLabelOf(st);
          nameLate = n > 0;
          if (c === RBRACE) break;
          i++;
          continue;
        }
        if (name === "__name__") this.fail('label name "__name__" is reserved');
        if (nameQuoted && !this.validQuoted(name, false)) this.fail(`invalid label name ${this.quotedToken(name)}`);
        // Names are never empty, so a family without a special label matches none.
        const isSpecial = name === special;
        if (!isSpecial) {
          for (let k = 0; k < n; k += 2) {
            if (labels[k] === name) this.fail(`duplicate label names for metric ${quote(st?.family.name ?? "")}`);
          }
        }
        i++;
        if (i >= end || buf[i] === SP || buf[i] === TAB) i = this.skipBlanks(i);
        c = i < end ? buf[i] : this.at(i);
        if (c !== QUOTE) this.fail(`expected '"' at start of label value, found ${goQuoteByte(c)}`);
        const valueFrom = ++i;
        let value = prevLabels[slot + 1];
        let plainValue = true;
        if (value !== undefined && repeats(buf, i, valueAt, value.length, end) && buf[i + value.length] === QUOTE) {
          i += value.length + 1;
        } else {
          i = this.readLabelValue(i);
          value = this.token;
          plainValue = this.plain;
        }
        if (slot < PREV_SLOTS) {
          prevLabels[slot] = name;
          prevLabels[slot + 1] = value;
          prevAt[slot] = nameQuoted ? -1 : nameFrom;
          prevAt[slot + 1] = plainValue ? valueFrom : -1;
        }
        slot += 2;
        if (isSpecial) {
          const v = specialLabelFloat(value);
          if (v === undefined) this.fail(`expected float as value for '${name}' label, got ${quote(value)}`);
          if (name === "le") bucket = v;
          else quantile = v;
        } else {
          labels[n] = name;
          labels[n + 1] = value;
          n += 2;
        }
        if (i >= end || buf[i] === SP || buf[i] === TAB) i = this.skipBlanks(i);
        c = i < end ? buf[i] : this.at(i);
        if (c === COMMA) {
          i++;
          continue;
        }
        if (c === RBRACE) break;
        this.fail(`unexpected end of label value ${quote(value)}`);
      }
      if (!st) this.fail("invalid metric name");
      if (nameLate) [quantile, bucket, n] = this.liftSpecialLabels(st, labels, n, quantile, bucket);
      i = this.skipBlanks(i + 1);
    }
    if (!st) this.fail("invalid metric name");

    // The value: everything up to the next blank or the line's end.
    const from = i;
    const value = readFloat(buf, i, end, this.float);
    i = this.float.end;
    if (i >= end && this.eof) this.unexpectedEnd();
    if (value === undefined) this.fail(`expected float as value, got ${quoteBytes(buf, from, i)}`);
    const metric = this.store(st, labels, n, value, quantile, bucket);
    if (i >= end) return;

    // The optional timestamp, then nothing else on the line.
    i = this.skipBlanks(i + 1);
    const tsFrom = i;
    while (i < end && buf[i] !== SP && buf[i] !== TAB) i++;
    if (i >= end && this.eof) this.unexpectedEnd();
    const ts = parseInt64Bytes(buf, tsFrom, i);
    if (ts === undefined) this.fail(`expected integer as timestamp, got ${quoteBytes(buf, tsFrom, i)}`);
    const bad = timestampProblem(ts, buf.toString("latin1", tsFrom, i));
    if (bad) this.fail(`${bad}, for metric ${quote(st.family.name)}`);
    metric.timestampMs = ts;
    if (this.eof) this.unexpectedEnd();
    if (i < end) this.fail(`spurious string after timestamp: ${quoteBytes(buf, i, end)}`);
  }

  /**
   * Reads a quoted label value starting after its opening quote; leaves it in this.token,
   * and in this.plain whether it was plain ASCII without escapes.
   */
  private readLabelValue(i: number): number {
    const buf = this.buf;
    const end = this.end;
    const from = i;
    let high = false;
    let h = 0;
    while (i < end) {
      const c = buf[i];
      if (c === QUOTE || c === BSL) break;
      if (c >= 0x80) high = true;
      h = hashStep(h, c);
      i++;
    }
    if (i >= end) {
      if (this.eof) this.unexpectedEnd();
      this.fail(`label value ${quoteBytes(buf, from, i)} contains unescaped new-line`);
    }
    if (buf[i] === QUOTE) {
      if (high && !isUtf8(buf.subarray(from, i))) this.fail(`invalid label value ${quoteBytes(buf, from, i)}`);
      this.token = high ? buf.toString("utf8", from, i) : intern(buf, from, i, h);
      this.plain = !high;
      return i + 1;
    }
    // Escapes: collect bytes.
    this.plain = false;
    const bytes: number[] = [];
    for (let k = from; k < i; k++) bytes.push(buf[k]);
    for (;;) {
      const c = this.at(i);
      if (c === QUOTE) break;
      if (c === NL) this.fail(`label value ${quoteBytes(Uint8Array.from(bytes))} contains unescaped new-line`);
      if (c === BSL) {
        const e = this.at(++i);
        bytes.push(this.unescaped(e));
      } else {
        bytes.push(c);
      }
      i++;
    }
    const raw = Uint8Array.from(bytes);
    if (!isUtf8(raw)) this.fail(`invalid label value ${quoteBytes(raw)}`);
    this.token = Buffer.from(raw).toString("utf8");
    return i + 1;
  }

  /**
   * A quoted name after its labels: only now is it known whether quantile/le are special.
   * Drops them from the first n entries of labels; returns the special values and the new n.
   */
  private liftSpecialLabels(st: FamilyState, labels: string[], n: number, quantile: number, bucket: number): [number, number, number] {
    const special = specialLabelOf(st);
    let kept = 0;
    for (let k = 0; k < n; k += 2) {
      if (labels[k] !== special) {
        labels[kept] = labels[k];
        labels[kept + 1] = labels[k + 1];
        kept += 2;
        continue;
      }
      const v = parseGoFloat(labels[k + 1]);
      if (v === undefined) this.fail(`expected float as value for '${special}' label, got ${quote(labels[k + 1])}`);
      if (special === "le") bucket = v;
      else quantile = v;
    }
    return [quantile, bucket, kept];
  }

  /** Stores a sample whose labels are the first n entries of `labels` (copied if kept). */
  private store(st: FamilyState, labels: string[], n: number, value: number, quantile: number, bucket: number): Metric {
    const family = st.family;
    const type = st.type;
    if (type !== "SUMMARY" && !isHistogramType(type)) {
      this.limits?.series(family.name, labels, n);
      return st.plain(copyLabels(labels, n), value);
    }
    const metric = st.group(labels, n);
    if (st.created) this.limits?.series(family.name, labels, n);
    if (type === "SUMMARY") {
      const s = metric.summary!;
      // A summary's count is an unsigned integer in the data model; the reference truncates.
      if (this.isCount) s.count = Math.trunc(value);
      else if (this.isSum) s.sum = value;
      else if (!Number.isNaN(quantile)) s.quantiles.push({ quantile, value });
      return metric;
    }
    const h = metric.histogram!;
    if (this.isCount) {
      if (value < 0) this.fail(`negative count for histogram ${quote(family.name)}`);
      h.count = value;
    } else if (this.isSum) {
      h.sum = value;
    } else if (!Number.isNaN(bucket)) {
      if (value < 0) this.fail(`negative bucket population for histogram ${quote(family.name)}`);
      h.buckets.push({ upperBound: bucket, count: value });
    }
    return metric;
  }
}

/** Go's strings.ToUpper: only one-to-one case mappings (no "ﬆ" -> "ST" expansion). */
function goToUpper(s: string): string {
  let out = "";
  for (const ch of s) {
    const up = ch.toUpperCase();
    out += up.length === ch.length || [...up].length === 1 ? up : ch;
  }
  return out;
}

const TYPES: Record<string, MetricType> = {
  COUNTER: "COUNTER",
  GAUGE: "GAUGE",
  SUMMARY: "SUMMARY",
  UNTYPED: "UNTYPED",
  HISTOGRAM: "HISTOGRAM",
  GAUGE_HISTOGRAM: "GAUGE_HISTOGRAM",
  GAUGEHISTOGRAM: "GAUGE_HISTOGRAM",
};

/** The usual spellings, compared as bytes before any case folding. */
const TYPES_AS_WRITTEN: [string, MetricType][] = [
  ["counter", "COUNTER"],
  ["gauge", "GAUGE"],
  ["histogram", "HISTOGRAM"],
  ["summary", "SUMMARY"],
  ["untyped", "UNTYPED"],
  ["gauge_histogram", "GAUGE_HISTOGRAM"],
  ["gaugehistogram", "GAUGE_HISTOGRAM"],
];

function typeAsWritten(buf: Buffer, s: number, e: number): MetricType | undefined {
  for (const [text, type] of TYPES_AS_WRITTEN) if (spells(buf, s, e, text)) return type;
  return undefined;
}

/** Parses a whole text-format body into metric families (in order of first appearance). */
export function parseText(body: Buffer, options: ParseOptions = {}): MetricFamily[] {
  return new TextParser(body, options.names ?? "legacy", options.limits).parse();
}
