// Edge cases of the text format parser beyond the upstream corpus (test/conformance/).
//
// The reference is prometheus/common expfmt's TextParser with legacy name validation, as the
// Pushgateway runs it. Expectations below were worked out from that parser's source (a state
// machine reading one byte at a time through a bufio.Reader) and, where the behaviour predates
// UTF-8 names and float histograms, cross-checked by running an older expfmt (v0.39) on the
// same inputs. Where a newer expfmt differs from the old one (HELP's \" escape, quoted names),
// the comment says which behaviour is asserted and why.
import { expect } from "chai";
import { TextParseError, type Metric, type MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";

// ---- Helpers ---------------------------------------------------------------------------------

function body(input: string | Buffer): Buffer {
  return typeof input === "string" ? Buffer.from(input, "utf8") : input;
}

/** Raw bytes from a string whose code points are all < 256 (one byte each). */
function latin1(s: string): Buffer {
  return Buffer.from(s, "latin1");
}

/** Parses and returns the families keyed by name (the reference returns a map: no order). */
function parse(input: string | Buffer): Record<string, MetricFamily> {
  const out: Record<string, MetricFamily> = {};
  for (const f of parseText(body(input))) {
    expect(out, `family ${f.name} appears twice`).not.to.have.property(f.name);
    out[f.name] = f;
  }
  return out;
}

/** Parses a body expected to hold exactly one family and returns it. */
function only(input: string | Buffer): MetricFamily {
  const fams = parseText(body(input));
  expect(fams.map((f) => f.name), "exactly one family").to.have.length(1);
  return fams[0];
}

/** Asserts that parsing fails with exactly this line and detail. */
function expectError(input: string | Buffer, line: number, detail: string): void {
  let err: unknown;
  let result: MetricFamily[] | undefined;
  try {
    result = parseText(body(input));
  } catch (e) {
    err = e;
  }
  if (err === undefined) expect.fail(`expected line ${line}: ${JSON.stringify(detail)}, but parsing succeeded: ${JSON.stringify(result)}`);
  expect(err).to.be.instanceOf(TextParseError);
  const e = err as TextParseError;
  expect(e.message).to.equal(`text format parsing error in line ${line}: ${detail}`);
  expect(e.line).to.equal(line);
  expect(e.detail).to.equal(detail);
}

const EOF = "unexpected end of input stream";

function untyped(value: number, labels: string[] = [], timestampMs?: number): Metric {
  const m: Metric = { labels, value };
  if (timestampMs !== undefined) m.timestampMs = timestampMs;
  return m;
}

// ---- Tests -----------------------------------------------------------------------------------

describe("text format parser (parse-text.ts)", () => {
  describe("line endings and the end of the input", () => {
    it("treats \\r as an ordinary byte: CRLF fails at the value", () => {
      expectError("m 1\r\n", 1, 'expected float as value, got "1\\r"');
      expectError("a 1\nm{x=\"y\"} 2\r\n", 2, 'expected float as value, got "2\\r"');
    });

    it("CRLF makes a TYPE line's type unknown and stays in a HELP text", () => {
      expectError("# TYPE m counter\r\nm 1\n", 1, 'unknown metric type "counter\\r"');
      expect(only("# HELP m some help\r\nm 1\n").help).to.equal("some help\r");
    });

    it("CRLF after a timestamp makes the timestamp invalid", () => {
      // The timestamp token runs up to a blank or newline, so it takes the \r along.
      expectError("m 1 1000\r\n", 1, 'expected integer as timestamp, got "1000\\r"');
      expectError("m 1 1000 \r\n", 1, 'spurious string after timestamp: " \\r"');
    });

    it("fails on a comment without a final newline", () => {
      expectError("m 1\n# just a comment", 2, EOF);
      expectError("#", 1, EOF);
      expectError("# ", 1, EOF);
      expectError("# justoneword", 1, EOF);
    });

    it("fails on a HELP line without a final newline", () => {
      expectError("m 1\n# HELP m some help text", 2, EOF);
      expectError("# HELP m", 1, EOF);
      expectError("# HELP m ", 1, EOF);
      expectError("# HELP", 1, EOF);
    });

    it("fails on a TYPE line without a final newline", () => {
      expectError("# TYPE m counter", 1, EOF);
      expectError("# TYPE m", 1, EOF);
    });

    it("fails on a sample without a final newline, wherever the input stops", () => {
      expectError("a 1\nm 2", 2, EOF);
      expectError("m", 1, EOF);
      expectError("m ", 1, EOF);
      expectError("m{", 1, EOF);
      expectError('m{a="b"', 1, EOF);
      expectError('m{a="b",', 1, EOF);
      expectError('m{a="b"}', 1, EOF);
      expectError('m{a="b"} ', 1, EOF);
      expectError('m{a="b', 1, EOF);
    });

    it("fails on a timestamp without a final newline", () => {
      expectError("m 1 1000", 1, EOF);
      expectError("m 1 ", 1, EOF);
      expectError("m 1 1000 ", 1, EOF);
      // The timestamp is read up to the end of the input before it is parsed.
      expectError("m 1 notanumber", 1, EOF);
    });

    it("accepts a last line of blanks only, without a newline", () => {
      expect(parse("m 1\n \t ")).to.deep.equal({ m: { name: "m", type: "UNTYPED", metrics: [untyped(1)] } });
      expect(parse("m 1\n\n\n")).to.deep.equal({ m: { name: "m", type: "UNTYPED", metrics: [untyped(1)] } });
    });

    it("gives no families for an empty body or one of blank lines and comments", () => {
      expect(parseText(Buffer.alloc(0))).to.deep.equal([]);
      expect(parseText(body("\n \n\t\n# a comment\n#\n"))).to.deep.equal([]);
    });

    it("counts blank and comment lines in the line number", () => {
      expectError("\n\n# c\n  \nm 1\nm x\n", 6, 'expected float as value, got "x"');
    });
  });

  describe("comments, HELP and TYPE", () => {
    it("takes #TYPE without a blank after # as a TYPE line", () => {
      expect(only("#TYPE a counter\na 1\n").type).to.equal("COUNTER");
      expect(only("#HELP a text\na 1\n").help).to.equal("text");
    });

    it("takes tabs as blanks around the keyword, the name and the type", () => {
      expect(only("#\tTYPE\ta\t\tcounter\na 1\n").type).to.equal("COUNTER");
      expect(only("  \t# TYPE a gauge\na 1\n").type).to.equal("GAUGE");
    });

    it("matches the keywords HELP and TYPE case-sensitively: # type / # help are plain comments", () => {
      expect(parse("# type m counter\n# help m text\nm 1\n")).to.deep.equal({ m: { name: "m", type: "UNTYPED", metrics: [untyped(1)] } });
    });

    it("reads the type itself case-insensitively", () => {
      const fams = parse(
        "# TYPE a Counter\na 1\n# TYPE b GAUGE\nb 1\n# TYPE c sUmMaRy\nc_count 1\n# TYPE d Histogram\nd_count 1\n# TYPE e UnTyped\ne 1\n",
      );
      expect(Object.fromEntries(Object.values(fams).map((f) => [f.name, f.type]))).to.deep.equal({
        a: "COUNTER",
        b: "GAUGE",
        c: "SUMMARY",
        d: "HISTOGRAM",
        e: "UNTYPED",
      });
    });

    it("includes trailing blanks in the type: '# TYPE a counter ' is unknown", () => {
      expectError("# TYPE a counter \n", 1, 'unknown metric type "counter "');
      expectError("# TYPE a counter\t\n", 1, 'unknown metric type "counter\\t"');
    });

    it("rejects OpenMetrics-only types", () => {
      expectError("# TYPE m unknown\n", 1, 'unknown metric type "unknown"');
      expectError("\n# TYPE m info\n", 2, 'unknown metric type "info"');
    });

    it("upper-cases the type rune by rune, as Go's strings.ToUpper does", () => {
      // U+0131 (dotless i) and U+017F (long s) have simple upper-case mappings to I and S,
      // so Go reads them as ASCII letters; both parsers agree here.
      expect(only("# TYPE m h\u0131stogram\nm_count 1\n").type).to.equal("HISTOGRAM");
      expect(only("# TYPE m \u017Fummary\nm_count 1\n").type).to.equal("SUMMARY");
    });

    it("does not apply full (multi-rune) case mappings to the type: 'hi\uFB06ogram' is unknown", () => {
      // U+FB06 (ligature st) has no simple upper-case mapping, so Go's unicode.ToUpper keeps it
      // and "HI\uFB06OGRAM" is no type. JavaScript's toUpperCase() expands it to "ST" and would
      // accept the line as a histogram. Verified with expfmt v0.39 (same code in current expfmt).
      expectError("# TYPE m hi\uFB06ogram\nm_count 1\n", 1, 'unknown metric type "hi\uFB06ogram"');
    });

    it("quotes invalid UTF-8 in an unknown type as \\x bytes, as Go's %q does", () => {
      // Verified with expfmt v0.39: %q of the raw type text.
      expectError(latin1("# TYPE m \xff\n"), 1, 'unknown metric type "\\xff"');
    });

    it("unescapes \\\\, \\n and \\\" in HELP", () => {
      // \" in HELP is accepted by current expfmt (older releases rejected it); the corpus'
      // UTF-8 case #8 relies on it.
      expect(only('# HELP m a\\\\b\\nc\\"d\nm 1\n').help).to.equal('a\\b\nc"d');
    });

    it("keeps a raw double quote, drops leading blanks and keeps trailing ones in HELP", () => {
      expect(only('# HELP m \t say "hi"  \nm 1\n').help).to.equal('say "hi"  ');
    });

    it("rejects other escapes in HELP", () => {
      expectError("m 1\n# HELP m a\\tb\n", 2, "invalid escape sequence '\\t'");
      // A backslash at the end of the line escapes the newline itself, printed raw by %c.
      expectError("# HELP m abc\\\nm 1\n", 1, "invalid escape sequence '\\\n'");
    });

    it("reports an invalid HELP escape before running out of input", () => {
      // The reference reads the docstring byte by byte and stops at the bad escape, before it
      // would reach the end of the input. Verified with expfmt v0.39 (same code in current expfmt).
      expectError("# HELP m a\\tb", 1, "invalid escape sequence '\\t'");
      // A backslash as the very last byte only runs out of input.
      expectError("# HELP m abc\\", 1, EOF);
    });

    it("ignores a HELP or TYPE line that stops after the name, without creating the family", () => {
      expect(parse("# HELP m\n# TYPE m\n# HELP\n# TYPE\n# HELP \n")).to.deep.equal({});
      // Since no HELP was recorded, the next one is not a second one.
      expect(only("# HELP m\n# HELP m text\nm 1\n").help).to.equal("text");
    });

    it("records nothing for a HELP line with an empty text, so a later HELP is accepted", () => {
      expect(only("# HELP m \t\n# HELP m text\nm 1\n")).to.deep.equal({ name: "m", type: "UNTYPED", help: "text", metrics: [untyped(1)] });
    });

    it("rejects a second HELP line", () => {
      expectError("# HELP m one\nm 1\n# HELP m two\n", 3, 'second HELP line for metric name "m"');
    });

    it("accepts a HELP line after the samples", () => {
      expect(only("m 1\n# HELP m late help\n")).to.deep.equal({ name: "m", type: "UNTYPED", help: "late help", metrics: [untyped(1)] });
    });

    it("rejects a TYPE line after the samples, and a second TYPE line", () => {
      expectError("m 1\nm 2\n# TYPE m gauge\n", 3, 'second TYPE line for metric name "m", or TYPE reported after samples');
      expectError("# TYPE m gauge\n# TYPE m gauge\n", 2, 'second TYPE line for metric name "m", or TYPE reported after samples');
    });

    it("resolves a TYPE line for x_count to a declared summary x, and rejects it", () => {
      expectError("# TYPE x summary\n# TYPE x_count counter\n", 2, 'second TYPE line for metric name "x", or TYPE reported after samples');
    });

    it("drops families that have HELP or TYPE but no samples", () => {
      expect(parse("# HELP a text\n# TYPE b counter\n# HELP c x\n# TYPE c gauge\nd 1\n")).to.have.all.keys("d");
    });

    it("rejects a metric name in a comment that is not followed by a blank", () => {
      expectError("# HELP m-x text\n", 1, "invalid metric name in comment");
      expectError("\n# TYPE 1m counter\n", 2, "invalid metric name in comment");
      expectError("# HELP {m} text\n", 1, "invalid metric name in comment");
    });
  });

  describe("metric names", () => {
    it("accepts colons and digits after the first byte", () => {
      expect(parse(":m 1\nm:x_1 2\n_ 3\n")).to.have.all.keys(":m", "m:x_1", "_");
    });

    it("rejects a name starting with a digit, a byte order mark or a dot", () => {
      expectError("1m 1\n", 1, "invalid metric name");
      expectError("\uFEFFm 1\n", 1, "invalid metric name");
      expectError(".m 1\n", 1, "invalid metric name");
    });

    it("ends an unquoted name at the first byte that cannot continue it", () => {
      // "m" is the name; "é" is then read as the value.
      expectError("m\u00e9 1\n", 1, 'expected float as value, got "\u00e9"');
      expectError("m-x 1\n", 1, 'expected float as value, got "-x"');
      // A vertical tab is no blank.
      expectError("m\v1\n", 1, 'expected float as value, got "\\v1"');
    });

    it("fails with an empty value when the line ends right after the name", () => {
      expectError("m\n", 1, 'expected float as value, got ""');
      expectError('m{a="b"}\n', 1, 'expected float as value, got ""');
      expectError('m{a="b"} \t\n', 1, 'expected float as value, got ""');
    });

    it("accepts quoted names that are valid legacy names", () => {
      // Current expfmt reads quoted names and, with legacy validation, accepts those that are
      // valid legacy names (the corpus has the rejected ones).
      expect(only('{"m","a"="b"} 1\n')).to.deep.equal({ name: "m", type: "UNTYPED", metrics: [untyped(1, ["a", "b"])] });
    });

    // Current expfmt reads any byte inside a quoted name and, with legacy validation, rejects
    // the name with %q of the raw bytes (the corpus' legacy expectations show that format).
    it("quotes invalid UTF-8 in a rejected quoted metric name as \\x bytes, as Go's %q does", () => {
      expectError(latin1('{"a\xffb"} 1\n'), 1, 'invalid metric name "a\\xffb"');
    });

    it("quotes invalid UTF-8 in a rejected quoted label name as \\x bytes, as Go's %q does", () => {
      expectError(latin1('m{"a\xffb"="x"} 1\n'), 1, 'invalid label name "a\\xffb"');
    });
  });

  describe("labels", () => {
    it("unescapes \\\\, \\\" and \\n in label values", () => {
      expect(only('m{a="x\\\\y\\"z\\nw"} 1\n').metrics).to.deep.equal([untyped(1, ["a", 'x\\y"z\nw'])]);
    });

    it("rejects other escapes in label values", () => {
      expectError('m{a="\\t"} 1\n', 1, "invalid escape sequence '\\t'");
      expectError("\nm{a=\"ok\",b=\"x\\'\"} 1\n", 2, "invalid escape sequence '\\''");
      // %c of the single byte 0xC3 (first byte of "é") is U+00C3.
      expectError('m{a="\\\u00e9"} 1\n', 1, "invalid escape sequence '\\\u00c3'");
    });

    it("rejects a raw newline in a label value", () => {
      expectError('a 1\nm{a="new\nline"} 1\n', 2, 'label value "new" contains unescaped new-line');
      expectError('m{a="x\\ny\nz"} 1\n', 1, 'label value "x\\ny" contains unescaped new-line');
    });

    it("keeps raw carriage returns and tabs in label values", () => {
      expect(only('m{a="x\ry\tz"} 1\n').metrics).to.deep.equal([untyped(1, ["a", "x\ry\tz"])]);
    });

    it("accepts an empty label value", () => {
      expect(only('m{a=""} 1\n').metrics).to.deep.equal([untyped(1, ["a", ""])]);
    });

    it("accepts a trailing comma inside the braces", () => {
      expect(only('m{a="b",} 1\n').metrics).to.deep.equal([untyped(1, ["a", "b"])]);
      expect(only('m{a="b" , } 1\n').metrics).to.deep.equal([untyped(1, ["a", "b"])]);
    });

    it("accepts blanks around braces, '=' and ','", () => {
      const fam = only('m \t{ \ta = "b" ,\tc\t=\t"d" , }\t 1 \t 5\n');
      expect(fam.metrics).to.deep.equal([untyped(1, ["a", "b", "c", "d"], 5)]);
    });

    it("accepts empty braces", () => {
      expect(parse("m{} 1\nn {} 2\no{ } 3\n")).to.deep.equal({
        m: { name: "m", type: "UNTYPED", metrics: [untyped(1)] },
        n: { name: "n", type: "UNTYPED", metrics: [untyped(2)] },
        o: { name: "o", type: "UNTYPED", metrics: [untyped(3)] },
      });
    });

    it("reads the value directly after the closing brace", () => {
      expect(only('m{a="b"}1\n').metrics).to.deep.equal([untyped(1, ["a", "b"])]);
      expect(only('m{a="b"}-2 7\n').metrics).to.deep.equal([untyped(-2, ["a", "b"], 7)]);
    });

    it("rejects a missing label name", () => {
      expectError("m{,} 1\n", 1, 'invalid label name for metric "m"');
      expectError('m{a="b",,} 1\n', 1, 'invalid label name for metric "m"');
      expectError('m{1a="b"} 1\n', 1, 'invalid label name for metric "m"');
      expectError('m{:a="b"} 1\n', 1, 'invalid label name for metric "m"');
    });

    it("rejects duplicate label names", () => {
      expectError('m{a="1",b="2",a="3"} 1\n', 1, 'duplicate label names for metric "m"');
      // quantile is an ordinary label outside summaries.
      expectError('m{quantile="1",quantile="2"} 1\n', 1, 'duplicate label names for metric "m"');
    });

    it("reserves __name__", () => {
      expectError('m{__name__="x"} 1\n', 1, 'label name "__name__" is reserved');
      expectError('m{a="1", __name__ = "x"} 1\n', 1, 'label name "__name__" is reserved');
    });

    it("accepts other label names starting with __", () => {
      expect(only('m{__x="1",__name="2",_="3"} 1\n').metrics).to.deep.equal([untyped(1, ["__x", "1", "__name", "2", "_", "3"])]);
    });

    it("keeps labels in the order pushed", () => {
      expect(only('m{z="1",a="2",m="3"} 1\n').metrics[0].labels).to.deep.equal(["z", "1", "a", "2", "m", "3"]);
    });

    it("requires '=' after a label name", () => {
      expectError("m{a\n", 1, "expected '=' after label name, found '\\n'");
      expectError('m{a:b="c"} 1\n', 1, "expected '=' after label name, found ':'");
      // %q of the single byte 0xC3 (first byte of "é") is the rune U+00C3.
      expectError('m{a\u00e9="b"} 1\n', 1, "expected '=' after label name, found '\u00c3'");
    });

    it("requires a quoted label value", () => {
      expectError("m{a=b} 1\n", 1, "expected '\"' at start of label value, found 'b'");
      expectError("m{a='b'} 1\n", 1, "expected '\"' at start of label value, found '\\''");
    });

    it("requires ',' or '}' after a label value", () => {
      expectError('m{a="b" c="d"} 1\n', 1, 'unexpected end of label value "b"');
      expectError('m{a="b"\n', 1, 'unexpected end of label value "b"');
    });

    it("rejects invalid UTF-8 in a label value", () => {
      expectError(latin1('m{a="\xbd"} 1\n'), 1, 'invalid label value "\\xbd"');
      expectError(latin1('m{a="ok\xc3"} 1\n'), 1, 'invalid label value "ok\\xc3"');
      // Also when the value had escapes.
      expectError(latin1('m{a="x\\n\xbd"} 1\n'), 1, 'invalid label value "x\\n\\xbd"');
    });

    it("keeps UTF-8 label values intact", () => {
      const fam = only('m{greek="Προμηθεύς",cjk="日本語の値",emoji="😀 ok",mixed="a\\"β\\\\γ"} 1\n');
      expect(fam.metrics).to.deep.equal([untyped(1, ["greek", "Προμηθεύς", "cjk", "日本語の値", "emoji", "😀 ok", "mixed", 'a"β\\γ'])]);
    });
  });

  describe("values", () => {
    it("accepts Go's spellings of NaN and the infinities", () => {
      const fams = parseText(
        body("a NaN\nb nan\nc NAN\nd Inf\ne +Inf\nf -Inf\ng inf\nh -inf\ni Infinity\nj +infinity\nk -INFINITY\nl iNf\n"),
      );
      const values = Object.fromEntries(fams.map((f) => [f.name, f.metrics[0].value]));
      expect(values).to.deep.equal({
        a: NaN,
        b: NaN,
        c: NaN,
        d: Infinity,
        e: Infinity,
        f: -Infinity,
        g: Infinity,
        h: -Infinity,
        i: Infinity,
        j: Infinity,
        k: -Infinity,
        l: Infinity,
      });
    });

    it("rejects a signed NaN and partial spellings of Infinity", () => {
      for (const v of ["+nan", "-nan", "+NaN", "infin", "infinit", "Infinityy", "na", "in"]) {
        expectError(`m ${v}\n`, 1, `expected float as value, got "${v}"`);
      }
    });

    it("accepts decimal spellings as Go's strconv.ParseFloat does", () => {
      const cases: [string, number][] = [
        [".5", 0.5],
        ["5.", 5],
        ["+1", 1],
        ["08", 8],
        ["-0.5e-3", -0.0005],
        ["1E5", 100000],
        ["+.25E+2", 25],
        ["1.7560473e+06", 1756047.3],
        ["1.7976931348623157e308", 1.7976931348623157e308],
        // Underflow is no error in Go: the result is 0.
        ["1e-400", 0],
      ];
      for (const [text, value] of cases) {
        expect(only(`m ${text}\n`).metrics[0].value, text).to.equal(value);
      }
    });

    it("rejects overflow to infinity (Go's range error)", () => {
      expectError("m 1e400\n", 1, 'expected float as value, got "1e400"');
      expectError("m -1e400\n", 1, 'expected float as value, got "-1e400"');
      expectError("m 1.7976931348623159e308\n", 1, 'expected float as value, got "1.7976931348623159e308"');
    });

    it("rejects hex, underscores and malformed numbers", () => {
      for (const v of ["0x1", "0X1A", "0x1p3", "1_000", ".", "1e", "e5", "+-1", "--1", "1.5.2", "1e+", "1,5", "one", "0b1"]) {
        expectError(`m ${v}\n`, 1, `expected float as value, got "${v}"`);
      }
    });
  });

  describe("timestamps", () => {
    it("accepts signed int64 timestamps in milliseconds", () => {
      expect(only("m 1 -5\n").metrics).to.deep.equal([untyped(1, [], -5)]);
      expect(only("m 1 +5\n").metrics).to.deep.equal([untyped(1, [], 5)]);
      expect(only("m 1 007\n").metrics).to.deep.equal([untyped(1, [], 7)]);
      expect(only("m 1 1700000000123\n").metrics).to.deep.equal([untyped(1, [], 1700000000123)]);
      expect(only("m 1\t\t42\n").metrics).to.deep.equal([untyped(1, [], 42)]);
    });

    it("accepts what int64 nanoseconds can hold and refuses the rest of int64 milliseconds, naming the metric", () => {
      expect(only("m 1 9223372036854\n").metrics[0].timestampMs).to.equal(9223372036854);
      expect(only("m 1 -9223372036854\n").metrics[0].timestampMs).to.equal(-9223372036854);
      const range = "is outside the range a timestamp may have (int64 nanoseconds: -9223372036854 to 9223372036854 ms)";
      expectError("m 1 9223372036855\n", 1, `timestamp 9223372036855 ${range}, for metric "m"`);
      expectError("x 1 9223372036854775807\n", 1, `timestamp 9223372036854775807 ${range}, for metric "x"`);
      expectError("m 1 -9223372036854775808\n", 1, `timestamp -9223372036854775808 ${range}, for metric "m"`);
      expectError("m 1 9223372036854775808\n", 1, 'expected integer as timestamp, got "9223372036854775808"');
      expectError("m 1 -9223372036854775809\n", 1, 'expected integer as timestamp, got "-9223372036854775809"');
      expectError("m 1 99999999999999999999\n", 1, 'expected integer as timestamp, got "99999999999999999999"');
    });

    it("rejects timestamps that are not base-10 integers", () => {
      for (const ts of ["1.5", "1e3", "0x10", "1_000", "NaN", "+", "-", "5ms"]) {
        expectError(`m 1 ${ts}\n`, 1, `expected integer as timestamp, got "${ts}"`);
      }
    });

    it("rejects anything after the timestamp, trailing blanks included", () => {
      expectError("m 1 2 \n", 1, 'spurious string after timestamp: " "');
      expectError("m 1 2\t\n", 1, 'spurious string after timestamp: "\\t"');
      expectError("m 1 2 3\n", 1, 'spurious string after timestamp: " 3"');
      expectError("m 1 2 # comment\n", 1, 'spurious string after timestamp: " # comment"');
    });

    it("rejects a blank after the value with nothing following", () => {
      expectError("m 1 \n", 1, 'expected integer as timestamp, got ""');
      expectError('m{a="b"} 1\t\n', 1, 'expected integer as timestamp, got ""');
    });
  });

  describe("families, summaries and histograms", () => {
    it("keeps repeated and interleaved samples of plain families, in order", () => {
      expect(parse("a 1\nb 2\na 3\nb 4 10\na 1\n")).to.deep.equal({
        a: { name: "a", type: "UNTYPED", metrics: [untyped(1), untyped(3), untyped(1)] },
        b: { name: "b", type: "UNTYPED", metrics: [untyped(2), untyped(4, [], 10)] },
      });
    });

    it("groups summary lines by label set regardless of label order", () => {
      const fam = only(
        "# TYPE s summary\n" +
          's{a="1",b="2",quantile="0.5"} 10\n' +
          's{b="9",quantile="0.5",a="1"} 11\n' +
          's_sum{b="2",a="1"} 30 100\n' +
          's{quantile="0.9",b="2",a="1"} 20\n' +
          's_count{b="2",a="1"} 4\n' +
          's_count{a="1",b="9"} 1\n',
      );
      expect(fam).to.deep.equal({
        name: "s",
        type: "SUMMARY",
        metrics: [
          {
            labels: ["a", "1", "b", "2"],
            summary: {
              quantiles: [
                { quantile: 0.5, value: 10 },
                { quantile: 0.9, value: 20 },
              ],
              sum: 30,
              count: 4,
            },
            // A later line of the same metric without a timestamp does not clear it.
            timestampMs: 100,
          },
          { labels: ["b", "9", "a", "1"], summary: { quantiles: [{ quantile: 0.5, value: 11 }], count: 1 } },
        ],
      });
    });

    it("takes the last timestamp of a summary's lines", () => {
      const fam = only('# TYPE s summary\ns{quantile="0.5"} 1 5\ns_sum 2 7\ns_count 3 6\n');
      expect(fam.metrics[0].timestampMs).to.equal(6);
    });

    it("interleaves a summary's and a histogram's lines with other families", () => {
      const fams = parse(
        "# TYPE s summary\n# TYPE h histogram\n" +
          's{quantile="0.5"} 1\nother 1\nh_bucket{le="1"} 2\ns_sum 5\nother 2\nh_bucket{le="+Inf"} 3\ns_count 4\nh_count 3\nh_sum 9\n',
      );
      expect(fams).to.deep.equal({
        s: { name: "s", type: "SUMMARY", metrics: [{ labels: [], summary: { quantiles: [{ quantile: 0.5, value: 1 }], sum: 5, count: 4 } }] },
        h: {
          name: "h",
          type: "HISTOGRAM",
          metrics: [
            {
              labels: [],
              histogram: {
                buckets: [
                  { upperBound: 1, count: 2 },
                  { upperBound: Infinity, count: 3 },
                ],
                count: 3,
                sum: 9,
                floatCounts: false,
              },
            },
          ],
        },
        other: { name: "other", type: "UNTYPED", metrics: [untyped(1), untyped(2)] },
      });
    });

    it("groups histogram lines by label set regardless of label order", () => {
      const fam = only(
        "# TYPE h histogram\n" +
          'h_bucket{le="0.5",x="1",y="2"} 1\n' +
          'h_bucket{y="2",le="+Inf",x="1"} 3\n' +
          'h_bucket{x="other",le="+Inf"} 7\n' +
          'h_sum{y="2",x="1"} 2.5\n' +
          'h_count{y="2",x="1"} 3\n',
      );
      expect(fam.metrics).to.deep.equal([
        {
          labels: ["x", "1", "y", "2"],
          histogram: {
            buckets: [
              { upperBound: 0.5, count: 1 },
              { upperBound: Infinity, count: 3 },
            ],
            sum: 2.5,
            count: 3,
            floatCounts: false,
          },
        },
        { labels: ["x", "other"], histogram: { buckets: [{ upperBound: Infinity, count: 7 }], floatCounts: false } },
      ]);
    });

    it("makes x_count, x_sum and x_bucket their own untyped families when x is not declared", () => {
      expect(parse('x_count 3\nx_sum 4\nx_bucket{le="1"} 2\n')).to.deep.equal({
        x_count: { name: "x_count", type: "UNTYPED", metrics: [untyped(3)] },
        x_sum: { name: "x_sum", type: "UNTYPED", metrics: [untyped(4)] },
        x_bucket: { name: "x_bucket", type: "UNTYPED", metrics: [untyped(2, ["le", "1"])] },
      });
    });

    it("does not attach x_bucket to a summary x", () => {
      expect(parse('# TYPE s summary\ns_bucket{le="1"} 1\n')).to.deep.equal({
        s_bucket: { name: "s_bucket", type: "UNTYPED", metrics: [untyped(1, ["le", "1"])] },
      });
    });

    it("keeps feeding an existing x_sum family after a summary x is declared", () => {
      // The reference looks the full name up first: x_sum exists, so it stays untyped.
      expect(parse('x_sum 1\n# TYPE x summary\nx{quantile="0.5"} 7\nx_sum 2\n')).to.deep.equal({
        x_sum: { name: "x_sum", type: "UNTYPED", metrics: [untyped(1), untyped(2)] },
        x: { name: "x", type: "SUMMARY", metrics: [{ labels: [], summary: { quantiles: [{ quantile: 0.5, value: 7 }] } }] },
      });
    });

    it("lets a HELP line for x_count create that family before a summary x is declared", () => {
      expect(parse("# HELP x_count foo\n# TYPE x summary\nx_count 1\n")).to.deep.equal({
        x_count: { name: "x_count", type: "UNTYPED", help: "foo", metrics: [untyped(1)] },
      });
    });

    it("attaches HELP for x_sum to a declared summary x", () => {
      expect(only("# TYPE x summary\n# HELP x_sum the help\nx_sum 1\n")).to.deep.equal({
        name: "x",
        type: "SUMMARY",
        help: "the help",
        metrics: [{ labels: [], summary: { quantiles: [], sum: 1 } }],
      });
    });

    it("treats quantile specially only in summaries, le only in histograms", () => {
      expect(parse('m{le="abc",quantile="x"} 1\n# TYPE s summary\ns{le="1",quantile="0.5"} 2\n# TYPE h histogram\nh_bucket{quantile="q",le="2"} 3\n')).to.deep.equal({
        m: { name: "m", type: "UNTYPED", metrics: [untyped(1, ["le", "abc", "quantile", "x"])] },
        s: { name: "s", type: "SUMMARY", metrics: [{ labels: ["le", "1"], summary: { quantiles: [{ quantile: 0.5, value: 2 }] } }] },
        h: { name: "h", type: "HISTOGRAM", metrics: [{ labels: ["quantile", "q"], histogram: { buckets: [{ upperBound: 2, count: 3 }], floatCounts: false } }] },
      });
    });

    it("takes the last of repeated quantile labels in a summary, without a duplicate error", () => {
      expect(only('# TYPE s summary\ns{quantile="0.5",quantile="0.9"} 1\n').metrics).to.deep.equal([
        { labels: [], summary: { quantiles: [{ quantile: 0.9, value: 1 }] } },
      ]);
    });

    it("creates the metric but records no quantile for quantile=\"NaN\" or a line without quantile", () => {
      expect(only('# TYPE s summary\ns{quantile="NaN"} 1\ns{a="b"} 2\n').metrics).to.deep.equal([
        { labels: [], summary: { quantiles: [] } },
        { labels: ["a", "b"], summary: { quantiles: [] } },
      ]);
    });

    it("rejects quantile and le values that are no floats", () => {
      expectError('# TYPE s summary\ns{quantile="x"} 1\n', 2, "expected float as value for 'quantile' label, got \"x\"");
      expectError('# TYPE h histogram\nh_bucket{le="1_0"} 1\n', 2, "expected float as value for 'le' label, got \"1_0\"");
      expectError('# TYPE h histogram\nh_bucket{le=""} 1\n', 2, "expected float as value for 'le' label, got \"\"");
    });

    it("truncates a summary's fractional _count to an integer (sample_count is a uint64)", () => {
      // expfmt stores the summary count as uint64(value): 5.7 -> 5, 2.999 -> 2. Summaries have
      // no float count in client_model. Verified with expfmt v0.39 (same code in current expfmt).
      const fam = only('# TYPE s summary\ns_count 5.7\ns_count{a="b"} 2.999\n');
      expect(fam.metrics.map((m) => m.summary?.count)).to.deep.equal([5, 2]);
    });

    it("creates the histogram metric for a bucket line without le but records no bucket", () => {
      expect(only('# TYPE h histogram\nh_bucket{a="1"} 5\nh{a="1"} 6\n').metrics).to.deep.equal([
        { labels: ["a", "1"], histogram: { buckets: [], floatCounts: false } },
      ]);
    });

    it("rejects a negative histogram count or bucket population, but not a negative sum", () => {
      expectError('# TYPE h histogram\nh_bucket{le="1"} 1\nh_count -1\n', 3, 'negative count for histogram "h"');
      expectError('# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="2"} -0.5\n', 3, 'negative bucket population for histogram "h"');
      expect(only("# TYPE h histogram\nh_sum -3\n").metrics).to.deep.equal([{ labels: [], histogram: { buckets: [], sum: -3, floatCounts: false } }]);
    });

    it("makes a histogram a float histogram when any count is fractional", () => {
      const fam = only('# TYPE h histogram\nh_bucket{le="1",k="a"} 0.5\nh_bucket{le="+Inf",k="a"} 2\nh_count{k="a"} 2\nh_bucket{le="1",k="b"} 1\nh_count{k="b"} 1\n');
      expect(fam.metrics.map((m) => [m.labels[1], m.histogram?.floatCounts])).to.deep.equal([
        ["a", true],
        ["b", false],
      ]);
    });

    it("keeps duplicate samples of one series as separate metrics", () => {
      expect(only('m{a="1"} 1\nm{a="1"} 2\n').metrics).to.deep.equal([untyped(1, ["a", "1"]), untyped(2, ["a", "1"])]);
    });
  });

  describe("errors", () => {
    it("are TextParseErrors with the line, the detail and Go's message", () => {
      let err: unknown;
      try {
        parseText(body("a 1\n\nb{x=y} 2\n"));
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(TextParseError);
      expect(err).to.be.instanceOf(Error);
      expect(err).to.include({ line: 3, detail: "expected '\"' at start of label value, found 'y'" });
      expect((err as Error).message).to.equal("text format parsing error in line 3: expected '\"' at start of label value, found 'y'");
    });

    it("report the first error only", () => {
      expectError("a x\nb y\n", 1, 'expected float as value, got "x"');
    });
  });

  describe("tokens that repeat the line before", () => {
    // The parser reuses a token of the previous sample line when the bytes repeat; these check
    // that a token is only reused when it is exactly the same token.
    it("tells apart metric names that extend or shorten the previous one", () => {
      expect(parse("a 1\nab 2\na 3\na_count 4\na:b 5\na 6\n")).to.deep.equal({
        a: { name: "a", type: "UNTYPED", metrics: [untyped(1), untyped(3), untyped(6)] },
        ab: { name: "ab", type: "UNTYPED", metrics: [untyped(2)] },
        a_count: { name: "a_count", type: "UNTYPED", metrics: [untyped(4)] },
        "a:b": { name: "a:b", type: "UNTYPED", metrics: [untyped(5)] },
      });
    });

    it("tells apart label names and values that extend or shorten the previous ones", () => {
      const fam = only('m{a="x"} 1\nm{ab="x"} 2\nm{a="xy"} 3\nm{a=""} 4\nm{a="x",a1="x"} 5\nm{a ="x"} 6\n');
      expect(fam.metrics).to.deep.equal([
        untyped(1, ["a", "x"]),
        untyped(2, ["ab", "x"]),
        untyped(3, ["a", "xy"]),
        untyped(4, ["a", ""]),
        untyped(5, ["a", "x", "a1", "x"]),
        untyped(6, ["a", "x"]),
      ]);
    });

    it("does not take the raw bytes of an escaped or UTF-8 value for the value", () => {
      const fam = only('m{a="x\\"y"} 1\nm{a="x"} 2\nm{a="x\\ny"} 3\nm{a="x\\ny"} 4\nm{a="ä"} 5\nm{a="ä"} 6\n');
      expect(fam.metrics.map((m) => m.labels[1])).to.deep.equal(['x"y', "x", "x\ny", "x\ny", "ä", "ä"]);
      expectError('m{a="x\\\\y"} 1\nm{a="x\\y"} 2\n', 2, "invalid escape sequence '\\y'");
    });

    it("validates a quoted label name after the same plain name", () => {
      expect(only('m{a="1"} 1\nm{"a"="1"} 2\n').metrics).to.deep.equal([untyped(1, ["a", "1"]), untyped(2, ["a", "1"])]);
      expectError('m{a="1"} 1\nm{"a b"="1"} 2\n', 2, 'invalid label name "a b"');
    });

    it("still rejects a duplicate of a repeated label name", () => {
      expectError('m{a="1",b="2"} 1\nm{a="1",a="2"} 2\n', 2, 'duplicate label names for metric "m"');
    });

    it("reads le wherever it is among the labels, and takes it as a plain label in other families", () => {
      const fams = parse('# TYPE h histogram\nh_bucket{le="1",a="x"} 1\nh_bucket{a="x",le="+Inf"} 2\nu{le="1",a="x"} 3\n');
      expect(fams.h.metrics).to.deep.equal([
        {
          labels: ["a", "x"],
          histogram: {
            buckets: [
              { upperBound: 1, count: 1 },
              { upperBound: Infinity, count: 2 },
            ],
            floatCounts: false,
          },
        },
      ]);
      expect(fams.u.metrics).to.deep.equal([untyped(3, ["le", "1", "a", "x"])]);
    });

    it("does not carry tokens over from the body parsed before, even in the same buffer", () => {
      const buf = Buffer.from('m{a="1"} 1\n');
      expect(parseText(buf)[0].metrics).to.deep.equal([untyped(1, ["a", "1"])]);
      buf[5] = "2".charCodeAt(0);
      expect(parseText(buf)[0].metrics).to.deep.equal([untyped(1, ["a", "2"])]);
    });

    it("reads plain integer timestamps exactly, negative zero included", () => {
      const ms = only("m 1 -0\nm 1 1234567890123\nm 1 0009223372036854\nm 1 +0012\n").metrics.map((m) => m.timestampMs);
      expect(ms).to.deep.equal([-0, 1234567890123, 9223372036854, 12]);
      expect(Object.is(ms[0], -0)).to.equal(true);
    });
  });

  describe("large bodies", () => {
    it("parses 50,000 generated samples into the right families and counts", () => {
      const lines: string[] = [];
      // 20,000 counter samples in one family.
      lines.push("# HELP req_total Requests.", "# TYPE req_total counter");
      for (let i = 0; i < 20000; i++) lines.push(`req_total{path="/p/${i}",code="${200 + (i % 5)}"} ${i} ${1700000000000 + i}`);
      // 10,000 gauge samples in 100 families.
      for (let g = 0; g < 100; g++) {
        lines.push(`# TYPE g_${g} gauge`);
        for (let i = 0; i < 100; i++) lines.push(`g_${g}{i="${i}"} ${g + i / 100}`);
      }
      // 10,000 summary lines: 2,000 label sets x (3 quantiles, sum, count).
      lines.push("# TYPE lat summary");
      for (let i = 0; i < 2000; i++) {
        for (const q of ["0.5", "0.9", "0.99"]) lines.push(`lat{host="h${i}",quantile="${q}"} ${i}`);
        lines.push(`lat_sum{host="h${i}"} ${i * 3}`, `lat_count{host="h${i}"} ${i + 1}`);
      }
      // 10,000 histogram lines: 1,000 label sets x (8 buckets, sum, count).
      lines.push("# TYPE h histogram");
      const bounds = ["0.1", "0.5", "1", "2", "5", "10", "60", "+Inf"];
      for (let i = 0; i < 1000; i++) {
        bounds.forEach((le, k) => lines.push(`h_bucket{svc="s${i}",le="${le}"} ${k * 10}`));
        lines.push(`h_sum{svc="s${i}"} 1.5`, `h_count{svc="s${i}"} 70`);
      }
      const text = lines.join("\n") + "\n";
      const samples = lines.filter((l) => !l.startsWith("#")).length;
      expect(samples).to.equal(50000);

      const fams = parse(text);
      expect(Object.keys(fams)).to.have.length(103);
      const req = fams.req_total;
      expect(req.type).to.equal("COUNTER");
      expect(req.help).to.equal("Requests.");
      expect(req.metrics).to.have.length(20000);
      expect(req.metrics[12345]).to.deep.equal({ labels: ["path", "/p/12345", "code", "200"], value: 12345, timestampMs: 1700000012345 });
      for (let g = 0; g < 100; g++) expect(fams[`g_${g}`].metrics, `g_${g}`).to.have.length(100);
      expect(fams.g_42.metrics[7]).to.deep.equal({ labels: ["i", "7"], value: 42.07 });
      const lat = fams.lat;
      expect(lat.metrics).to.have.length(2000);
      expect(lat.metrics[1999]).to.deep.equal({
        labels: ["host", "h1999"],
        summary: {
          quantiles: [
            { quantile: 0.5, value: 1999 },
            { quantile: 0.9, value: 1999 },
            { quantile: 0.99, value: 1999 },
          ],
          sum: 5997,
          count: 2000,
        },
      });
      const h = fams.h;
      expect(h.metrics).to.have.length(1000);
      for (const m of h.metrics) {
        expect(m.histogram?.buckets).to.have.length(8);
        expect(m.histogram?.count).to.equal(70);
      }
      expect(h.metrics[500].labels).to.deep.equal(["svc", "s500"]);
      expect(h.metrics[500].histogram?.buckets[7]).to.deep.equal({ upperBound: Infinity, count: 70 });
    });

    it("keeps every HELP text of a body with many families, with and without escapes", () => {
      // Each HELP text ends at its own line: escapes found further on must not leak into it.
      const parts: string[] = [];
      for (let i = 0; i < 50000; i++) {
        const help = i % 2 === 0 ? `plain help ${i}` : `escaped \\\\ help ${i}`;
        parts.push(`# HELP fam_${i} ${help}\nfam_${i} ${i}\n`);
      }
      const fams = parseText(Buffer.from(parts.join("")));
      expect(fams).to.have.length(50000);
      expect(fams[0].help).to.equal("plain help 0");
      expect(fams[1].help).to.equal("escaped \\ help 1");
      expect(fams[49998].help).to.equal("plain help 49998");
      expect(fams[49999].help).to.equal("escaped \\ help 49999");
    });
  });
});
