// Parser for the OpenMetrics 1.0 text format (application/openmetrics-text).
//
// The body is checked for valid UTF-8 as a whole, decoded once, and then read line by line
// with index arithmetic over the decoded string. A line is "# EOF" (which must come last), a
// metadata line (# HELP / # TYPE / # UNIT) or a sample. Samples are assigned to metric
// families by the declared type and the suffix of their name, checked against the rules of
// that type, and mapped onto the client_model-shaped MetricFamily the text 0.0.4 and
// protobuf parsers produce, so the same data gives the same points whichever format carried
// it: a counter "x" becomes "x_total", an info "x" becomes the gauge "x_info", a stateset a
// gauge, and _created samples, units and exemplars are checked and dropped.
//
// The first error ends parsing; its message names the line and quotes the offending token.
import { isUtf8 } from "node:buffer";
import { FamilyBuilder } from "./family-builder.ts";
import { hasLimits, LimitCheck, type BodyLimits } from "./limits.ts";
import { goQuote, goQuoteBytes, goQuoteCut, parseGoFloat } from "./goformat.ts";
import { isLabelName, isMetricName, TextParseError, timestampProblem, type Metric, type MetricFamily, type MetricType, type NameValidation, type ParseOptions } from "./model.ts";

export class OpenMetricsParseError extends TextParseError {
  constructor(line: number, detail: string) {
    super(line, detail, "openmetrics");
    this.name = "OpenMetricsParseError";
  }
}

const NL = 10, CR = 13, SP = 32, QUOTE = 34, HASH = 35, COMMA = 44, DOT = 46, EQ = 61, BSL = 92, US = 95, LBRACE = 123, RBRACE = 125;

// ASCII classes: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*.
const METRIC_START = new Uint8Array(128);
const METRIC_CONT = new Uint8Array(128);
const LABEL_START = new Uint8Array(128);
const LABEL_CONT = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const alpha = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === US;
  const digit = c >= 48 && c <= 57;
  LABEL_START[c] = alpha ? 1 : 0;
  LABEL_CONT[c] = alpha || digit ? 1 : 0;
  METRIC_START[c] = alpha || c === 58 ? 1 : 0;
  METRIC_CONT[c] = alpha || digit || c === 58 ? 1 : 0;
}

type OMType = "counter" | "gauge" | "histogram" | "gaugehistogram" | "stateset" | "info" | "summary" | "unknown";

const OM_TYPES = new Map<string, OMType>(
  (["counter", "gauge", "histogram", "gaugehistogram", "stateset", "info", "summary", "unknown"] as const).map((t) => [t, t]),
);

const OUT_TYPE: Record<OMType, MetricType> = {
  counter: "COUNTER",
  gauge: "GAUGE",
  histogram: "HISTOGRAM",
  gaugehistogram: "GAUGE_HISTOGRAM",
  stateset: "GAUGE",
  info: "GAUGE",
  summary: "SUMMARY",
  unknown: "UNTYPED",
};

// What a sample is within its family, by the suffix its name adds to the family name.
const BARE = 0, TOTAL = 1, CREATED = 2, COUNT = 3, SUM = 4, BUCKET = 5, GCOUNT = 6, GSUM = 7, INFO = 8;
const SUFFIXES = ["", "_total", "_created", "_count", "_sum", "_bucket", "_gcount", "_gsum", "_info"];
const SUFFIX_KIND = new Map<string, number>(SUFFIXES.map((s, kind) => [s, kind] as [string, number]).slice(1));

/** The sample kinds each type has, as bit masks. */
const ALLOWED: Record<OMType, number> = {
  counter: (1 << TOTAL) | (1 << CREATED),
  gauge: 1 << BARE,
  unknown: 1 << BARE,
  stateset: 1 << BARE,
  info: 1 << INFO,
  summary: (1 << BARE) | (1 << COUNT) | (1 << SUM) | (1 << CREATED),
  histogram: (1 << BUCKET) | (1 << COUNT) | (1 << SUM) | (1 << CREATED),
  gaugehistogram: (1 << BUCKET) | (1 << GCOUNT) | (1 << GSUM),
};

/** The kind of sample `name` is for family `family`: -1 when it is not one of the family's names. */
function kindOf(family: string, name: string): number {
  const n = family.length;
  if (name.length === n) return name === family ? BARE : -1;
  if (name.length < n + 2 || name.charCodeAt(n) !== US || !name.startsWith(family)) return -1;
  return SUFFIX_KIND.get(name.slice(n)) ?? -1;
}

/** The sample names a family of this type may use, for error messages. */
function expectedNames(family: string, type: OMType): string {
  const names: string[] = [];
  for (let kind = 0; kind < SUFFIXES.length; kind++) {
    if (ALLOWED[type] & (1 << kind)) names.push(goQuote(family + SUFFIXES[kind]));
  }
  return names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}

/**
 * A float as OpenMetrics spells numbers: decimal with optional exponent, or (any case) NaN,
 * Inf, Infinity with an optional sign. No hex, no underscores, no overflow to infinity.
 */
function parseNumber(s: string): number | undefined {
  const n = s.length;
  let i = n > 0 && s.charCodeAt(0) === 45 ? 1 : 0;
  let digits = 0;
  let dot = false;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === DOT && !dot) dot = true;
    else return parseGoFloat(s);
  }
  if (digits === 0) return undefined;
  // Only digits and at most one dot: Number() rounds exactly as Go's ParseFloat does.
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

/**
 * le and quantile values repeat on nearly every line of a histogram or summary. A cache shared
 * across bodies, not state: a value parses the same whatever body it is in.
 */
const labelFloats = new Map<string, number | undefined>();
function labelFloat(s: string): number | undefined {
  let v = labelFloats.get(s);
  if (v === undefined && !labelFloats.has(s)) {
    v = parseNumber(s);
    if (labelFloats.size >= 4096) labelFloats.clear();
    labelFloats.set(s, v);
  }
  return v;
}

/** Length in Unicode code points (the text is valid UTF-16: surrogates come in pairs). */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}

function labelIndex(labels: string[], name: string): number {
  for (let k = 0; k < labels.length; k += 2) if (labels[k] === name) return k;
  return -1;
}

/** A label set for messages: {a="1",b="2"}. */
function labelsText(labels: string[]): string {
  const parts: string[] = [];
  for (let k = 0; k < labels.length; k += 2) parts.push(`${labels[k]}=${goQuote(labels[k + 1])}`);
  return `{${parts.join(",")}}`;
}

/** Quotes a token for a message, cut short when it is long. */
function q(s: string): string {
  return goQuoteCut(s, 100);
}

/** One summary or histogram metric, with what checking its samples, wherever they are in the family, needs. */
interface Group {
  metric: Metric;
  /** The metric's labels, for the family builder. */
  readonly labels: readonly string[];
  /** The last line that added to it (for a missing +Inf bucket, found when the family ends). */
  line: number;
  prevLe: number;
  prevLeText: string;
  prevCount: number;
  /** Population of the +Inf bucket, once seen, and the spelling of the _count / _gcount value. */
  inf: number | undefined;
  infText: string;
  countText: string;
}

function newGroup(metric: Metric): Group {
  return { metric, labels: metric.labels, line: 0, prevLe: -Infinity, prevLeText: "", prevCount: 0, inf: undefined, infText: "", countText: "" };
}

/** A family being built (its `family` is what the parser returns), and what the parser knows of it. */
class Family extends FamilyBuilder<Group> {
  type: OMType = "unknown";
  hasType = false;
  hasHelp = false;
  hasUnit = false;
  sampled = false;
  /** The last sample name seen and its kind: consecutive lines mostly repeat the name. */
  lastName = "";
  lastKind = -1;
  /** Suffixed sample names already checked against other families' names, by kind. */
  checked = 0;

  constructor(
    /** The name as exposed in metadata (a counter "x" has the samples "x_total"). */
    readonly name: string,
    readonly startLine: number,
  ) {
    super(name, "UNTYPED", newGroup);
  }
}

class OpenMetricsParser {
  private readonly text: string;
  /** The line with the first invalid UTF-8 (0: none); the text ends where that line starts. */
  private readonly badLine: number = 0;
  private readonly badBytes: Uint8Array | undefined;
  private line = 0;
  private readonly families: Family[] = [];
  private readonly byName = new Map<string, Family>();
  private readonly outNames = new Set<string>();
  private cur: Family | undefined;
  /** The kind of the current sample within its family, as resolveSample found it. */
  private kind = BARE;
  /** The string a quoted token held (quoted() leaves it here). */
  private quotedText = "";
  /** A metric name found inside a sample's label set (the UTF-8 form `{"name",...}`). */
  private nameInLabels: string | undefined;

  /** Undefined when no limit is set. */
  private readonly limits: LimitCheck | undefined;

  constructor(
    body: Buffer,
    private readonly names: NameValidation,
    limits: BodyLimits | undefined,
  ) {
    this.limits = limits && hasLimits(limits) ? new LimitCheck(limits, () => `line ${this.line}`) : undefined;
    if (isUtf8(body)) {
      this.text = body.toString("utf8");
      return;
    }
    // Errors before the bad line come first: parse up to it, then report it.
    let start = 0;
    let line = 1;
    for (;;) {
      const nl = body.indexOf(NL, start);
      const end = nl < 0 ? body.length : nl;
      if (!isUtf8(body.subarray(start, end))) {
        this.badLine = line;
        this.badBytes = body.subarray(start, end);
        break;
      }
      start = end + 1;
      line++;
    }
    this.text = body.toString("utf8", 0, start);
  }

  parse(): MetricFamily[] {
    const text = this.text;
    const n = text.length;
    let pos = 0;
    while (pos < n) {
      this.line++;
      const nl = text.indexOf("\n", pos);
      const end = nl < 0 ? n : nl;
      if (end - pos === 5 && text.startsWith("# EOF", pos)) {
        this.eof(nl < 0 ? n : nl + 1);
        return this.families.map((f) => f.family);
      }
      this.parseLine(pos, end);
      pos = end + 1;
    }
    if (this.badLine) this.failUtf8();
    this.line++;
    this.fail('expected "# EOF" at the end of the body');
  }

  private fail(detail: string): never {
    throw new OpenMetricsParseError(this.line, detail);
  }

  private failUtf8(): never {
    throw new OpenMetricsParseError(this.badLine, `invalid UTF-8 in line ${goQuoteBytes(this.badBytes!)}`);
  }

  private eof(rest: number): void {
    if (this.badLine) this.failUtf8();
    const text = this.text;
    if (rest < text.length) {
      this.line++;
      const nl = text.indexOf("\n", rest);
      const next = text.slice(rest, nl < 0 ? text.length : nl);
      this.fail(next === "" ? 'unexpected empty line after "# EOF"' : `unexpected content after "# EOF": ${q(next)}`);
    }
    if (this.cur) this.close(this.cur);
  }

  private parseLine(ls: number, le: number): void {
    const text = this.text;
    if (ls === le) this.fail("empty lines are not allowed");
    if (text.charCodeAt(le - 1) === CR) this.fail('line ends with "\\r": lines must end with "\\n" alone');
    if (text.charCodeAt(ls) === HASH) this.metadata(ls, le);
    else this.sample(ls, le);
  }

  /** What is at i, for "found ..." in messages. */
  private found(i: number, le: number): string {
    if (i >= le) return "end of line";
    return goQuote(String.fromCodePoint(this.text.codePointAt(i)!));
  }

  /** The text from i up to the next blank (or `stop`), for quoting a bad token. */
  private tokenAt(i: number, le: number, stop = -1): string {
    const text = this.text;
    let j = i;
    while (j < le) {
      const c = text.charCodeAt(j);
      if (c === SP || c === stop) break;
      j++;
    }
    return text.slice(i, j);
  }

  /** An empty token after a blank: either the line ends with the blank or blanks repeat. */
  private blankError(i: number, le: number): never {
    if (i >= le) this.fail("unexpected blank at the end of the line");
    this.fail("expected a single blank between tokens, found more");
  }

  // ---- Families ------------------------------------------------------------------------------

  private interleaved(name: string): never {
    this.fail(`metric family ${goQuote(name)} appears twice or is interleaved with another family`);
  }

  private newFamily(name: string): Family {
    if (this.cur) this.close(this.cur);
    this.limits?.addFamily(name);
    const fam = new Family(name, this.line);
    this.families.push(fam);
    this.byName.set(name, fam);
    this.cur = fam;
    return fam;
  }

  /** Ends a family: every histogram needs its +Inf bucket, and exposed names must be unique. */
  private close(fam: Family): void {
    if (fam.type === "histogram" || fam.type === "gaugehistogram") {
      for (const g of fam.groups()) {
        if (g.inf === undefined) {
          throw new OpenMetricsParseError(
            g.line,
            `${fam.type} ${goQuote(fam.name)} metric ${labelsText(g.metric.labels)} has no bucket with le="+Inf"`,
          );
        }
      }
    }
    const outName = fam.family.name;
    if (this.outNames.has(outName)) {
      throw new OpenMetricsParseError(
        fam.startLine,
        `metric family ${goQuote(fam.name)} (exposed as ${goQuote(outName)}) collides with an earlier metric family`,
      );
    }
    this.outNames.add(outName);
    fam.finish();
  }

  /** The family a metadata line is about: the current one, or a new one. */
  private metadataFamily(name: string): Family {
    const cur = this.cur;
    if (cur && cur.name === name) return cur;
    if (this.byName.has(name)) this.interleaved(name);
    return this.newFamily(name);
  }

  /** The family a sample belongs to; sets this.kind. */
  private resolveSample(name: string): Family {
    const cur = this.cur;
    if (cur) {
      if (name === cur.lastName) {
        this.kind = cur.lastKind;
        return cur;
      }
      const kind = kindOf(cur.name, name);
      if (kind >= 0) {
        if (ALLOWED[cur.type] & (1 << kind)) {
          if (kind !== BARE && !(cur.checked & (1 << kind))) {
            if (this.byName.has(name)) {
              this.fail(`sample name ${goQuote(name)} of ${cur.type} metric family ${goQuote(cur.name)} collides with metric family ${goQuote(name)}`);
            }
            cur.checked |= 1 << kind;
          }
          cur.sampled = true;
          cur.lastName = name;
          cur.lastKind = kind;
          this.kind = kind;
          return cur;
        }
        // Names of a typed family that its type does not use are errors, not new families:
        // `# TYPE x counter` then `x 1` is a mistake, not an unknown metric "x".
        if (cur.type !== "unknown") {
          this.fail(`sample name ${goQuote(name)} is not valid for ${cur.type} metric family ${goQuote(cur.name)}; expected ${expectedNames(cur.name, cur.type)}`);
        }
      }
    }
    // A sample of no family so far: an unknown-typed family of exactly its name, unless the
    // name belongs to a family that has already ended.
    if (this.byName.has(name)) this.interleaved(name);
    for (const [suffix, kind] of SUFFIX_KIND) {
      if (name.length <= suffix.length || !name.endsWith(suffix)) continue;
      const base = this.byName.get(name.slice(0, name.length - suffix.length));
      if (base && base !== cur && ALLOWED[base.type] & (1 << kind)) this.interleaved(base.name);
    }
    const fam = this.newFamily(name);
    fam.sampled = true;
    fam.lastName = name;
    fam.lastKind = BARE;
    this.kind = BARE;
    return fam;
  }

  // ---- Metadata ------------------------------------------------------------------------------

  private metadata(ls: number, le: number): void {
    const text = this.text;
    let keyword = "";
    if (le - ls >= 6 && text.charCodeAt(ls + 1) === SP && (le - ls === 6 || text.charCodeAt(ls + 6) === SP)) {
      keyword = text.slice(ls + 2, ls + 6);
    }
    if (keyword !== "HELP" && keyword !== "TYPE" && keyword !== "UNIT") {
      this.fail(`invalid comment line ${q(text.slice(ls, le))}: only "# HELP", "# TYPE", "# UNIT" and "# EOF" are allowed`);
    }
    let i = ls + 6;
    if (i >= le) this.fail(`missing metric name after "# ${keyword}"`);
    i++;
    const ns = i;
    const c0 = text.charCodeAt(i);
    let name: string;
    if (c0 === QUOTE) {
      i = this.quoted(i, le, "metric name");
      name = this.checkedName(this.quotedText, true);
      if (i < le && text.charCodeAt(i) !== SP) this.fail(`expected a blank after the quoted metric name ${goQuote(name)}, found ${this.found(i, le)}`);
    } else {
      i = this.legacyName(i, le);
      if (i === ns && c0 === SP) this.fail(`expected a single blank before the metric name, found more`);
      if (i === ns && ns >= le) this.blankError(ns, le);
      if (i === ns || (i < le && text.charCodeAt(i) !== SP)) this.fail(`invalid metric name ${q(this.tokenAt(ns, le))}`);
      name = text.slice(ns, i);
    }
    const fam = this.metadataFamily(name);
    if (fam.sampled) this.fail(`${keyword} line for metric family ${goQuote(name)} after its samples`);
    // Where what follows the name (after one blank) starts; -1 when the line ends with the name.
    const rest = i < le ? i + 1 : -1;
    switch (keyword) {
      case "HELP": {
        if (fam.hasHelp) this.fail(`second ${keyword} line for metric family ${goQuote(name)}`);
        fam.hasHelp = true;
        fam.family.help = rest < 0 ? "" : this.helpText(rest, le);
        return;
      }
      case "TYPE": {
        if (fam.hasType) this.fail(`second ${keyword} line for metric family ${goQuote(name)}`);
        if (rest < 0 || rest >= le) this.fail(`missing type for metric family ${goQuote(name)}`);
        const typeText = text.slice(rest, le);
        const type = OM_TYPES.get(typeText);
        if (type === undefined) this.fail(`unknown metric type ${q(typeText)}`);
        fam.hasType = true;
        fam.type = type;
        fam.family.type = OUT_TYPE[type];
        fam.family.name = type === "counter" ? name + "_total" : type === "info" ? name + "_info" : name;
        return;
      }
      default: {
        if (fam.hasUnit) this.fail(`second ${keyword} line for metric family ${goQuote(name)}`);
        const unit = rest < 0 ? "" : text.slice(rest, le);
        for (let k = 0; k < unit.length; k++) {
          const c = unit.charCodeAt(k);
          if (c >= 128 || !METRIC_CONT[c]) this.fail(`invalid unit ${q(unit)}`);
        }
        if (unit !== "" && !(name.length > unit.length + 1 && name.endsWith(unit) && name.charCodeAt(name.length - unit.length - 1) === US)) {
          this.fail(`unit ${q(unit)} is not a suffix of metric family name ${goQuote(name)} (expected a name ending in ${goQuote("_" + unit)})`);
        }
        fam.hasUnit = true;
      }
    }
  }

  /** HELP text with its escapes \\ \" \n resolved; an unescaped '"' is tolerated. */
  private helpText(i: number, le: number): string {
    const text = this.text;
    let b = text.indexOf("\\", i);
    if (b < 0 || b >= le) return text.slice(i, le);
    let out = "";
    let from = i;
    while (b >= 0 && b < le) {
      out += text.slice(from, b);
      const e = b + 1 < le ? text.charCodeAt(b + 1) : -1;
      if (e === BSL) out += "\\";
      else if (e === QUOTE) out += '"';
      else if (e === 110) out += "\n";
      else if (e < 0) this.fail(`invalid escape sequence ${goQuote("\\")} at the end of the HELP text`);
      else this.fail(`invalid escape sequence ${goQuote("\\" + String.fromCodePoint(text.codePointAt(b + 1)!))} in HELP text`);
      from = b + 2;
      b = text.indexOf("\\", from);
    }
    return out + text.slice(from, le);
  }

  // ---- Samples -------------------------------------------------------------------------------

  private sample(ls: number, le: number): void {
    const text = this.text;
    let i = ls;
    const c0 = text.charCodeAt(i);
    if (c0 === SP) this.fail("unexpected blank at the start of the line");
    // The name before the label set, plain or quoted, or (quoted) inside it.
    let name: string | undefined;
    if (c0 === QUOTE) {
      i = this.quoted(i, le, "metric name");
      name = this.checkedName(this.quotedText, true);
    } else if (c0 !== LBRACE) {
      i = this.legacyName(i, le);
      const c = i < le ? text.charCodeAt(i) : -1;
      if (i === ls || (c !== SP && c !== LBRACE && c !== -1)) this.fail(`invalid metric name ${q(this.tokenAt(ls, le, LBRACE))}`);
      name = text.slice(ls, i);
    }
    const next = i < le ? text.charCodeAt(i) : -1;
    if (name !== undefined && next !== SP && next !== LBRACE && next !== -1) this.fail(`expected a blank or "{" after the metric name ${goQuote(name)}, found ${this.found(i, le)}`);
    if (name !== undefined && next === -1) this.fail(`missing value for sample ${goQuote(name)}`);

    const labels: string[] = [];
    if (next === LBRACE) {
      this.nameInLabels = undefined;
      i = this.readLabels(i, le, labels, true, name);
      if (name === undefined) {
        name = this.nameInLabels;
        if (name === undefined) this.fail(`missing metric name before the label set ${q(this.tokenAt(ls, le))}`);
      }
      if (i >= le) this.fail(`missing value for sample ${goQuote(name)}`);
      if (text.charCodeAt(i) !== SP) this.fail(`expected a blank after the label set, found ${this.found(i, le)}`);
    }
    if (name === undefined) this.fail(`missing metric name before the label set ${q(this.tokenAt(ls, le))}`);
    const fam = this.resolveSample(name);
    const kind = this.kind;

    // The value.
    let s = ++i;
    while (i < le && text.charCodeAt(i) !== SP) i++;
    if (s === i) this.blankError(i, le);
    const valueText = text.slice(s, i);
    const value = parseNumber(valueText);
    if (value === undefined) {
      if (valueText.charCodeAt(0) === LBRACE) this.fail("unexpected blank between the metric name and its label set");
      this.fail(`expected float as value, got ${q(valueText)}`);
    }

    // An optional timestamp, then an optional exemplar.
    let ts: number | undefined;
    if (i < le) {
      s = ++i;
      if (i < le && text.charCodeAt(i) !== HASH) {
        while (i < le && text.charCodeAt(i) !== SP) i++;
        if (s === i) this.blankError(i, le);
        ts = this.timestamp(text.slice(s, i));
        const bad = timestampProblem(ts, `${q(text.slice(s, i))} (seconds)`);
        if (bad) this.fail(`${bad}, on sample ${goQuote(name)}`);
        if (i < le) {
          s = ++i;
          if (i >= le) this.blankError(i, le);
          if (text.charCodeAt(i) !== HASH) {
            if (text.charCodeAt(i) === SP) this.blankError(i, le);
            this.fail(`unexpected ${q(this.tokenAt(i, le))} after the timestamp`);
          }
        }
      } else if (i >= le) {
        this.blankError(i, le);
      }
      if (i < le) {
        const exemplarOk = (fam.type === "counter" && kind === TOTAL) || ((fam.type === "histogram" || fam.type === "gaugehistogram") && kind === BUCKET);
        if (!exemplarOk) {
          this.fail(`exemplars are allowed only on counter _total and histogram _bucket samples, not on ${goQuote(name)} of ${fam.type} metric family ${goQuote(fam.name)}`);
        }
        this.exemplar(i, le);
      }
    }
    this.store(fam, kind, name, labels, value, valueText, ts);
  }

  private timestamp(s: string): number {
    const v = parseNumber(s);
    if (v === undefined) this.fail(`expected float as timestamp, got ${q(s)}`);
    if (!Number.isFinite(v)) this.fail(`timestamp ${q(s)} is not a finite number`);
    // Seconds to milliseconds; + 0 turns -0 into 0.
    return Math.round(v * 1000) + 0;
  }

  /** An exemplar at i ('#'): `# {labels} value [timestamp]`, checked and discarded. */
  private exemplar(i: number, le: number): void {
    const text = this.text;
    if (i + 2 >= le || text.charCodeAt(i + 1) !== SP || text.charCodeAt(i + 2) !== LBRACE) {
      this.fail(`invalid exemplar ${q(text.slice(i, le))}: expected "# {labels} value [timestamp]"`);
    }
    const labels: string[] = [];
    i = this.readLabels(i + 2, le, labels, false);
    let length = 0;
    for (const s of labels) length += codePoints(s);
    if (length > 128) this.fail(`exemplar label set ${q(labelsText(labels))} has ${length} characters, more than 128`);
    if (i >= le) this.fail("missing exemplar value");
    if (text.charCodeAt(i) !== SP) this.fail(`expected a blank after the exemplar's label set, found ${this.found(i, le)}`);
    let s = ++i;
    while (i < le && text.charCodeAt(i) !== SP) i++;
    if (s === i) this.blankError(i, le);
    const valueText = text.slice(s, i);
    if (parseNumber(valueText) === undefined) this.fail(`expected float as exemplar value, got ${q(valueText)}`);
    if (i >= le) return;
    s = ++i;
    while (i < le && text.charCodeAt(i) !== SP) i++;
    if (s === i) this.blankError(i, le);
    this.timestamp(text.slice(s, i));
    if (i < le) {
      if (i + 1 >= le || text.charCodeAt(i + 1) === SP) this.blankError(i + 1, le);
      this.fail(`unexpected ${q(text.slice(i + 1, le))} after the exemplar`);
    }
  }

  /**
   * Reads a label set at i ('{') into `out` as [name, value, ...] and returns the index
   * after its '}'. `metric` says whether it is a sample's (not an exemplar's) label set.
   */
  private readLabels(i: number, le: number, out: string[], metric: boolean, metricName?: string): number {
    const text = this.text;
    i++;
    if (i < le && text.charCodeAt(i) === RBRACE) return i + 1;
    for (;;) {
      const ns = i;
      let c = i < le ? text.charCodeAt(i) : -1;
      if (c === QUOTE) {
        i = this.quoted(i, le, "name");
        const quotedName = this.quotedText;
        c = i < le ? text.charCodeAt(i) : -1;
        if (metric && (c === COMMA || c === RBRACE)) {
          // A quoted metric name inside the braces.
          if (metricName !== undefined || this.nameInLabels !== undefined) this.fail(`multiple metric names for metric ${goQuote(metricName ?? this.nameInLabels!)}`);
          this.nameInLabels = this.checkedName(quotedName, true);
          if (c === RBRACE) return i + 1;
          i++;
          continue;
        }
        if (c !== EQ) this.fail(`expected "=" after label name ${goQuote(quotedName)}, found ${this.found(i, le)}`);
        i = this.labelPair(this.checkedName(quotedName, false), i, le, out, metric);
        c = i < le ? text.charCodeAt(i) : -1;
        if (c === COMMA) {
          i++;
          continue;
        }
        if (c === RBRACE) return i + 1;
        this.endOfLabelError(c, quotedName, i, le);
      }
      if (c >= 0 && c < 128 && LABEL_START[c]) {
        i++;
        while (i < le) {
          c = text.charCodeAt(i);
          if (c >= 128 || !LABEL_CONT[c]) break;
          i++;
        }
      }
      if (i === ns) {
        if (c === SP) this.fail("blanks are not allowed in a label set");
        if (c === -1) this.fail('missing "}" at the end of the label set');
        if (c === RBRACE && ns > 0 && text.charCodeAt(ns - 1) === COMMA) this.fail('unexpected "}" after ","');
        this.fail(`expected label name, found ${q(this.labelNameToken(ns, le))}`);
      }
      c = i < le ? text.charCodeAt(i) : -1;
      if (c !== EQ) {
        const token = this.labelNameToken(ns, le);
        if (token.length > i - ns) this.fail(`invalid label name ${q(token)}`);
        if (c === SP) this.fail("blanks are not allowed in a label set");
        this.fail(`expected "=" after label name ${goQuote(text.slice(ns, i))}, found ${this.found(i, le)}`);
      }
      const name = text.slice(ns, i);
      i = this.labelPair(name, i, le, out, metric);
      c = i < le ? text.charCodeAt(i) : -1;
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c === RBRACE) return i + 1;
      this.endOfLabelError(c, name, i, le);
    }
  }

  /** The `="value"` of label `name` at i ('='): checks the name, pushes the pair, returns the index after the value. */
  private labelPair(name: string, i: number, le: number, out: string[], metric: boolean): number {
    const text = this.text;
    if (metric && name === "__name__") this.fail('label name "__name__" is reserved');
    for (let k = 0; k < out.length; k += 2) {
      if (out[k] === name) this.fail(`duplicate label name ${goQuote(name)}`);
    }
    i++;
    if (i >= le || text.charCodeAt(i) !== QUOTE) {
      if (i < le && text.charCodeAt(i) === SP) this.fail("blanks are not allowed in a label set");
      this.fail(`expected '"' to start the value of label ${goQuote(name)}, found ${this.found(i, le)}`);
    }
    return this.readLabelValue(i + 1, le, name, out);
  }

  private endOfLabelError(c: number, name: string, i: number, le: number): never {
    if (c === SP) this.fail("blanks are not allowed in a label set");
    if (c === -1) this.fail('missing "}" at the end of the label set');
    this.fail(`expected "," or "}" after the value of label ${goQuote(name)}, found ${this.found(i, le)}`);
  }

  /** Where a legacy metric name starting at i ends (i itself when there is none). */
  private legacyName(i: number, le: number): number {
    const text = this.text;
    const c0 = text.charCodeAt(i);
    if (!(c0 < 128 && METRIC_START[c0])) return i;
    i++;
    while (i < le) {
      const c = text.charCodeAt(i);
      if (c >= 128 || !METRIC_CONT[c]) break;
      i++;
    }
    return i;
  }

  /**
   * A quoted name at i ('"'), with the escapes of label values: leaves the string in
   * this.quotedText, returns the index after the closing quote.
   */
  private quoted(i: number, le: number, what: string): number {
    const text = this.text;
    let out = "";
    let from = ++i;
    for (;;) {
      if (i >= le) this.fail(`missing closing '"' of the quoted ${what} ${q(text.slice(from - 1, le))}`);
      const c = text.charCodeAt(i);
      if (c === QUOTE) break;
      if (c !== BSL) {
        i++;
        continue;
      }
      out += text.slice(from, i);
      const e = i + 1 < le ? text.charCodeAt(i + 1) : -1;
      if (e === BSL) out += "\\";
      else if (e === QUOTE) out += '"';
      else if (e === 110) out += "\n";
      else if (e < 0) this.fail(`missing closing '"' of the quoted ${what}`);
      else this.fail(`invalid escape sequence ${goQuote("\\" + String.fromCodePoint(text.codePointAt(i + 1)!))} in a quoted ${what}`);
      i += 2;
      from = i;
    }
    this.quotedText = out + text.slice(from, i);
    return i + 1;
  }

  /** A quoted name, checked: legacy, or any non-empty name when the parser takes UTF-8 names. */
  private checkedName(name: string, metric: boolean): string {
    const ok = metric ? isMetricName(name, this.names) : isLabelName(name, this.names);
    if (!ok) this.fail(`invalid ${metric ? "metric" : "label"} name ${goQuote(name)}`);
    return name;
  }

  /** A would-be label name for a message: up to '=', ',', '}', '"' or a blank. */
  private labelNameToken(i: number, le: number): string {
    const text = this.text;
    let j = i;
    while (j < le) {
      const c = text.charCodeAt(j);
      if (c === EQ || c === COMMA || c === RBRACE || c === QUOTE || c === SP) break;
      j++;
    }
    return j === i && i < le ? String.fromCodePoint(text.codePointAt(i)!) : text.slice(i, j);
  }

  /** Reads a label value starting after its opening quote, pushes name and value, returns the index after the closing quote. */
  private readLabelValue(i: number, le: number, name: string, out: string[]): number {
    const text = this.text;
    let j = i;
    let c = -1;
    while (j < le) {
      c = text.charCodeAt(j);
      if (c === QUOTE || c === BSL) break;
      j++;
    }
    if (j >= le) this.fail(`missing closing '"' in the value of label ${goQuote(name)}`);
    if (c === QUOTE) {
      out.push(name, text.slice(i, j));
      return j + 1;
    }
    let value = text.slice(i, j);
    for (;;) {
      if (j >= le) this.fail(`missing closing '"' in the value of label ${goQuote(name)}`);
      c = text.charCodeAt(j);
      if (c === QUOTE) break;
      if (c === BSL) {
        const e = j + 1 < le ? text.charCodeAt(j + 1) : -1;
        if (e === BSL) value += "\\";
        else if (e === QUOTE) value += '"';
        else if (e === 110) value += "\n";
        else if (e < 0) this.fail(`missing closing '"' in the value of label ${goQuote(name)}`);
        else this.fail(`invalid escape sequence ${goQuote("\\" + String.fromCodePoint(text.codePointAt(j + 1)!))} in the value of label ${goQuote(name)}`);
        j += 2;
        continue;
      }
      const from = j;
      while (j < le) {
        c = text.charCodeAt(j);
        if (c === QUOTE || c === BSL) break;
        j++;
      }
      value += text.slice(from, j);
    }
    out.push(name, value);
    return j + 1;
  }

  // ---- Storing -------------------------------------------------------------------------------

  private store(fam: Family, kind: number, name: string, labels: string[], value: number, valueText: string, ts: number | undefined): void {
    switch (fam.type) {
      case "counter":
        if (kind === CREATED) return;
        if (!(value >= 0)) this.fail(`counter ${goQuote(name)} has value ${q(valueText)}: counters must not be negative or NaN`);
        break;
      case "info":
        if (value !== 1) this.fail(`info metric ${goQuote(name)} must have value 1, got ${q(valueText)}`);
        break;
      case "stateset":
        if (labelIndex(labels, fam.name) < 0) this.fail(`stateset sample ${goQuote(name)} has no label ${goQuote(fam.name)} naming its state`);
        if (value !== 0 && value !== 1) this.fail(`stateset ${goQuote(name)} state ${labelsText(labels)} must have value 0 or 1, got ${q(valueText)}`);
        break;
      case "summary":
        this.storeSummary(fam, kind, name, labels, value, valueText, ts);
        return;
      case "histogram":
      case "gaugehistogram":
        this.storeHistogram(fam, kind, name, labels, value, valueText, ts);
        return;
      default:
    }
    this.limits?.series(fam.name, labels, labels.length);
    const metric = fam.plain(labels, value);
    if (ts !== undefined) metric.timestampMs = ts;
  }

  /** The summary or histogram metric of a label set (le and quantile already removed). */
  private group(fam: Family, labels: string[], ts: number | undefined): Group {
    const g = fam.group(labels, labels.length);
    if (fam.created) this.limits?.series(fam.name, labels, labels.length);
    // The timestamp of a metric's first sample is the metric's.
    if (fam.created && ts !== undefined) g.metric.timestampMs = ts;
    g.line = this.line;
    return g;
  }

  private storeSummary(fam: Family, kind: number, name: string, labels: string[], value: number, valueText: string, ts: number | undefined): void {
    const qi = labelIndex(labels, "quantile");
    if (kind === BARE) {
      if (qi < 0) this.fail(`summary sample ${goQuote(name)} has no "quantile" label`);
      const qText = labels[qi + 1];
      const quantile = labelFloat(qText);
      if (quantile === undefined || !(quantile >= 0 && quantile <= 1)) {
        this.fail(`invalid quantile ${goQuote(qText)} for summary ${goQuote(name)}: expected a float from 0 to 1`);
      }
      labels.splice(qi, 2);
      this.group(fam, labels, ts).metric.summary!.quantiles.push({ quantile, value });
      return;
    }
    if (qi >= 0) this.fail(`"quantile" label is not allowed on ${goQuote(name)}`);
    if (kind === CREATED) return;
    const s = this.group(fam, labels, ts).metric.summary!;
    if (kind === COUNT) {
      if (!(value >= 0)) this.fail(`summary count ${goQuote(name)} has value ${q(valueText)}: counts must not be negative or NaN`);
      // The data model's count is an integer; the text 0.0.4 parser truncates alike.
      s.count = Math.trunc(value);
    } else {
      s.sum = value;
    }
  }

  private storeHistogram(fam: Family, kind: number, name: string, labels: string[], value: number, valueText: string, ts: number | undefined): void {
    const li = labelIndex(labels, "le");
    if (kind === BUCKET) {
      if (li < 0) this.fail(`${fam.type} bucket ${goQuote(name)} has no "le" label`);
      const leText = labels[li + 1];
      const le = labelFloat(leText);
      if (le === undefined || Number.isNaN(le)) this.fail(`invalid le ${goQuote(leText)} for bucket ${goQuote(name)}: expected a float`);
      if (!(value >= 0)) this.fail(`bucket ${goQuote(name)} le=${goQuote(leText)} has count ${q(valueText)}: counts must not be negative or NaN`);
      labels.splice(li, 2);
      const g = this.group(fam, labels, ts);
      if (le <= g.prevLe) {
        this.fail(`bucket ${goQuote(name)} le=${goQuote(leText)} comes after le=${goQuote(g.prevLeText)}: buckets must be in increasing le order`);
      }
      if (value < g.prevCount) {
        this.fail(`bucket ${goQuote(name)} le=${goQuote(leText)} has count ${q(valueText)}, less than the ${g.prevCount} of the bucket before it`);
      }
      g.prevLe = le;
      g.prevLeText = leText;
      g.prevCount = value;
      const h = g.metric.histogram!;
      h.buckets.push({ upperBound: le, count: value });
      if (le === Infinity) {
        g.inf = value;
        g.infText = valueText;
        this.checkCount(fam, g);
      }
      return;
    }
    if (li >= 0) this.fail(`"le" label is not allowed on ${goQuote(name)}`);
    if (kind === CREATED) return;
    const g = this.group(fam, labels, ts);
    const h = g.metric.histogram!;
    if (kind === COUNT || kind === GCOUNT) {
      if (!(value >= 0)) this.fail(`${fam.type} count ${goQuote(name)} has value ${q(valueText)}: counts must not be negative or NaN`);
      h.count = value;
      g.countText = valueText;
      this.checkCount(fam, g);
    } else {
      h.sum = value;
    }
  }

  /** A histogram's _count (_gcount) is the population of its +Inf bucket. */
  private checkCount(fam: Family, g: Group): void {
    const h = g.metric.histogram!;
    if (g.inf === undefined || h.count === undefined || h.count === g.inf) return;
    const suffix = fam.type === "histogram" ? "_count" : "_gcount";
    this.fail(
      `${goQuote(fam.name + suffix)}${labelsText(g.metric.labels)} is ${q(g.countText)} but the le="+Inf" bucket holds ${q(g.infText)}: they must be equal`,
    );
  }
}

/**
 * Parses an OpenMetrics 1.0 text body into metric families, in order of first appearance.
 * Throws OpenMetricsParseError (a TextParseError) on the first violation of the format.
 */
export function parseOpenMetrics(body: Buffer, options: ParseOptions = {}): MetricFamily[] {
  return new OpenMetricsParser(body, options.names ?? "legacy", options.limits).parse();
}
