// The OpenMetrics 1.0 text parser (parse-openmetrics.ts): how each type maps onto our MetricFamily
// (the same shape the text 0.0.4 and protobuf parsers produce), what prom-client writes, and
// every rule of the format with the exact error message and line number.
import { expect } from "chai";
import { Counter, Gauge, Histogram, Registry, Summary } from "prom-client";
import { TextParseError, type Metric, type MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { OpenMetricsParseError, parseOpenMetrics } from "../../plugins/formats/prometheus/parse-openmetrics.ts";

// ---- Helpers ---------------------------------------------------------------------------------

/** prom-client 15's typings declare no Registry constructor; the runtime takes the content type. */
const OpenMetricsRegistry = Registry as unknown as new (contentType: string) => Registry;

/** A body from lines: each gets its "\n", and "# EOF\n" ends it. */
function om(...lines: string[]): Buffer {
  return Buffer.from(lines.map((l) => l + "\n").join("") + "# EOF\n", "utf8");
}

function body(input: string | Buffer): Buffer {
  return typeof input === "string" ? Buffer.from(input, "utf8") : input;
}

function parse(input: string | Buffer): MetricFamily[] {
  return parseOpenMetrics(body(input));
}

/** Parses a body expected to hold exactly one family and returns it. */
function only(input: string | Buffer): MetricFamily {
  const fams = parse(input);
  expect(fams.map((f) => f.name), "exactly one family").to.have.length(1);
  return fams[0];
}

/** Asserts that parsing fails with exactly this line and detail. */
function expectError(input: string | Buffer, line: number, detail: string): void {
  let err: unknown;
  let result: MetricFamily[] | undefined;
  try {
    result = parse(input);
  } catch (e) {
    err = e;
  }
  if (err === undefined) expect.fail(`expected line ${line}: ${JSON.stringify(detail)}, but parsing succeeded: ${JSON.stringify(result)}`);
  expect(err).to.be.instanceOf(OpenMetricsParseError);
  const e = err as OpenMetricsParseError;
  expect({ line: e.line, detail: e.detail }).to.deep.equal({ line, detail });
  expect(e.message).to.equal(`openmetrics parsing error in line ${line}: ${detail}`);
}

function m(labels: string[], value: number, timestampMs?: number): Metric {
  const metric: Metric = { labels, value };
  if (timestampMs !== undefined) metric.timestampMs = timestampMs;
  return metric;
}

// ---- Tests -----------------------------------------------------------------------------------

describe("OpenMetrics parser (parse-openmetrics.ts)", () => {
  describe("the error type", () => {
    it("is a TextParseError with its own name and message prefix", () => {
      let err: unknown;
      try {
        parse("foo 1\n");
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(OpenMetricsParseError);
      expect(err).to.be.instanceOf(TextParseError);
      expect(err).to.be.instanceOf(Error);
      const e = err as OpenMetricsParseError;
      expect(e.name).to.equal("OpenMetricsParseError");
      expect(e.line).to.equal(2);
      expect(e.detail).to.equal('expected "# EOF" at the end of the body');
      expect(e.message).to.equal('openmetrics parsing error in line 2: expected "# EOF" at the end of the body');
      expect(e.stack?.split("\n")[0]).to.equal(`OpenMetricsParseError: ${e.message}`);
    });
  });

  describe("mapping of each type", () => {
    it("counter x: family x_total (COUNTER), one metric per label set, _created dropped", () => {
      const f = only(
        om(
          "# TYPE http_requests counter",
          "# HELP http_requests Requests served.",
          'http_requests_total{code="200",method="GET"} 1027',
          'http_requests_created{code="200",method="GET"} 1700000000.5',
          'http_requests_total{code="500",method="GET"} 3 1700000001',
          'http_requests_created{code="500",method="GET"} 1700000000.5',
        ),
      );
      expect(f).to.deep.equal({
        name: "http_requests_total",
        help: "Requests served.",
        type: "COUNTER",
        metrics: [m(["code", "200", "method", "GET"], 1027), m(["code", "500", "method", "GET"], 3, 1700000001000)],
      });
    });

    it("gauge x: family x (GAUGE)", () => {
      expect(only(om("# TYPE temp_celsius gauge", 'temp_celsius{room="kitchen"} 21.5', 'temp_celsius{room="hall"} -3'))).to.deep.equal({
        name: "temp_celsius",
        type: "GAUGE",
        metrics: [m(["room", "kitchen"], 21.5), m(["room", "hall"], -3)],
      });
    });

    it("unknown x, declared: family x (UNTYPED)", () => {
      expect(only(om("# TYPE thing unknown", "# HELP thing A thing.", "thing 7"))).to.deep.equal({
        name: "thing",
        help: "A thing.",
        type: "UNTYPED",
        metrics: [m([], 7)],
      });
    });

    it("a sample without a TYPE: an unknown family of exactly its name, suffix and all", () => {
      expect(parse(om("foo_total 1", 'foo_bucket{le="1"} 2', "foo_count 3"))).to.deep.equal([
        { name: "foo_total", type: "UNTYPED", metrics: [m([], 1)] },
        { name: "foo_bucket", type: "UNTYPED", metrics: [m(["le", "1"], 2)] },
        { name: "foo_count", type: "UNTYPED", metrics: [m([], 3)] },
      ]);
    });

    it("a family with HELP but no TYPE is unknown", () => {
      expect(only(om("# HELP plain Just help.", 'plain{a="1"} 1', 'plain{a="2"} 2'))).to.deep.equal({
        name: "plain",
        help: "Just help.",
        type: "UNTYPED",
        metrics: [m(["a", "1"], 1), m(["a", "2"], 2)],
      });
    });

    it("info x: family x_info (GAUGE) with its labels and value 1", () => {
      expect(only(om("# TYPE build info", "# HELP build Build information.", 'build_info{version="1.2.3",revision="abc"} 1'))).to.deep.equal({
        name: "build_info",
        help: "Build information.",
        type: "GAUGE",
        metrics: [m(["version", "1.2.3", "revision", "abc"], 1)],
      });
    });

    it("stateset x: family x (GAUGE), the state label kept, values 0/1", () => {
      expect(
        only(
          om(
            "# TYPE feature stateset",
            'feature{env="prod",feature="a"} 1',
            'feature{env="prod",feature="b"} 0',
            'feature{feature="c",env="prod"} 1.0',
          ),
        ),
      ).to.deep.equal({
        name: "feature",
        type: "GAUGE",
        metrics: [m(["env", "prod", "feature", "a"], 1), m(["env", "prod", "feature", "b"], 0), m(["feature", "c", "env", "prod"], 1)],
      });
    });

    it("summary x: SUMMARY x with quantiles in input order, _count, _sum; _created dropped", () => {
      expect(
        only(
          om(
            "# TYPE rpc_seconds summary",
            "# UNIT rpc_seconds seconds",
            'rpc_seconds{service="a",quantile="0.5"} 0.25',
            'rpc_seconds{service="a",quantile="0.99"} 1.5',
            'rpc_seconds{service="a",quantile="0.9"} 1',
            'rpc_seconds_sum{service="a"} 17.5',
            'rpc_seconds_count{service="a"} 42',
            'rpc_seconds_created{service="a"} 1700000000',
            'rpc_seconds{quantile="0",service="b"} NaN',
            'rpc_seconds_count{service="b"} 0',
          ),
        ),
      ).to.deep.equal({
        name: "rpc_seconds",
        type: "SUMMARY",
        metrics: [
          {
            labels: ["service", "a"],
            summary: {
              count: 42,
              sum: 17.5,
              quantiles: [
                { quantile: 0.5, value: 0.25 },
                { quantile: 0.99, value: 1.5 },
                { quantile: 0.9, value: 1 },
              ],
            },
          },
          { labels: ["service", "b"], summary: { count: 0, quantiles: [{ quantile: 0, value: NaN }] } },
        ],
      });
    });

    it("summary without quantiles: only count and sum; count/sum absent when not pushed", () => {
      expect(parse(om("# TYPE a summary", "a_count 3", "a_sum 4.5", "# TYPE b summary", 'b{quantile="1"} 9'))).to.deep.equal([
        { name: "a", type: "SUMMARY", metrics: [{ labels: [], summary: { count: 3, sum: 4.5, quantiles: [] } }] },
        { name: "b", type: "SUMMARY", metrics: [{ labels: [], summary: { quantiles: [{ quantile: 1, value: 9 }] } }] },
      ]);
    });

    it("summary samples of one metric need not be contiguous; labels in any order group together", () => {
      expect(
        only(
          om(
            "# TYPE s summary",
            's{a="1",b="2",quantile="0.5"} 1',
            's{a="3",b="4",quantile="0.5"} 2',
            's_count{b="2",a="1"} 10',
            's_count{a="3",b="4"} 20',
            's_sum{b="2",a="1"} 100',
          ),
        ),
      ).to.deep.equal({
        name: "s",
        type: "SUMMARY",
        metrics: [
          { labels: ["a", "1", "b", "2"], summary: { count: 10, sum: 100, quantiles: [{ quantile: 0.5, value: 1 }] } },
          { labels: ["a", "3", "b", "4"], summary: { count: 20, quantiles: [{ quantile: 0.5, value: 2 }] } },
        ],
      });
    });

    it("histogram x: HISTOGRAM x with buckets (the +Inf one included), _count, _sum; le removed from the labels", () => {
      expect(
        only(
          om(
            "# TYPE lat_seconds histogram",
            "# HELP lat_seconds Latency.",
            'lat_seconds_bucket{le="0.1",method="GET"} 1',
            'lat_seconds_bucket{method="GET",le="1"} 2',
            'lat_seconds_bucket{le="+Inf",method="GET"} 3',
            'lat_seconds_sum{method="GET"} 12.5',
            'lat_seconds_count{method="GET"} 3',
            'lat_seconds_created{method="GET"} 1700000000',
            'lat_seconds_bucket{method="PUT",le="1e+00"} 0',
            'lat_seconds_bucket{method="PUT",le="Inf"} 0',
          ),
        ),
      ).to.deep.equal({
        name: "lat_seconds",
        help: "Latency.",
        type: "HISTOGRAM",
        metrics: [
          {
            labels: ["method", "GET"],
            histogram: {
              count: 3,
              sum: 12.5,
              buckets: [
                { upperBound: 0.1, count: 1 },
                { upperBound: 1, count: 2 },
                { upperBound: Infinity, count: 3 },
              ],
              floatCounts: false,
            },
          },
          {
            labels: ["method", "PUT"],
            histogram: {
              buckets: [
                { upperBound: 1, count: 0 },
                { upperBound: Infinity, count: 0 },
              ],
              floatCounts: false,
            },
          },
        ],
      });
    });

    it("gaugehistogram x: GAUGE_HISTOGRAM x from _bucket, _gcount, _gsum", () => {
      expect(
        only(
          om(
            "# TYPE queue_size gaugehistogram",
            'queue_size_bucket{le="-10"} 1',
            'queue_size_bucket{le="0"} 4',
            'queue_size_bucket{le="+Inf"} 6',
            "queue_size_gcount 6",
            "queue_size_gsum -5.5",
          ),
        ),
      ).to.deep.equal({
        name: "queue_size",
        type: "GAUGE_HISTOGRAM",
        metrics: [
          {
            labels: [],
            histogram: {
              count: 6,
              sum: -5.5,
              buckets: [
                { upperBound: -10, count: 1 },
                { upperBound: 0, count: 4 },
                { upperBound: Infinity, count: 6 },
              ],
              floatCounts: false,
            },
          },
        ],
      });
    });

    it("floatCounts is true when any bucket or the count is not a whole number", () => {
      const fams = parse(
        om(
          "# TYPE a histogram",
          'a_bucket{le="1"} 0.5',
          'a_bucket{le="+Inf"} 2',
          "a_count 2",
          "# TYPE b histogram",
          'b_bucket{le="+Inf"} 2.5',
          "b_count 2.5",
          "# TYPE c gaugehistogram",
          'c_bucket{le="+Inf"} 2',
          "c_gcount 2",
        ),
      );
      expect(fams.map((f) => f.metrics[0].histogram!.floatCounts)).to.deep.equal([true, true, false]);
    });

    it("families declared without samples are returned with no metrics, named as their type names them", () => {
      expect(
        parse(
          om(
            "# TYPE c counter",
            "# HELP c A counter.",
            "# TYPE i info",
            "# TYPE h histogram",
            "# HELP u Only help.",
            "# TYPE g gauge",
            "# UNIT g_bytes bytes",
          ),
        ),
      ).to.deep.equal([
        { name: "c_total", help: "A counter.", type: "COUNTER", metrics: [] },
        { name: "i_info", type: "GAUGE", metrics: [] },
        { name: "h", type: "HISTOGRAM", metrics: [] },
        { name: "u", help: "Only help.", type: "UNTYPED", metrics: [] },
        { name: "g", type: "GAUGE", metrics: [] },
        { name: "g_bytes", type: "UNTYPED", metrics: [] },
      ]);
    });

    it("returns families in order of first appearance; metadata lines in any order, UNIT dropped", () => {
      const fams = parse(
        om(
          "z 1",
          "# UNIT y_bytes bytes",
          "# HELP y_bytes Size.",
          "# TYPE y_bytes gauge",
          "y_bytes 2",
          "# TYPE a counter",
          "a_total 3",
          "m 4",
        ),
      );
      expect(fams).to.deep.equal([
        { name: "z", type: "UNTYPED", metrics: [m([], 1)] },
        { name: "y_bytes", help: "Size.", type: "GAUGE", metrics: [m([], 2)] },
        { name: "a_total", type: "COUNTER", metrics: [m([], 3)] },
        { name: "m", type: "UNTYPED", metrics: [m([], 4)] },
      ]);
    });

    it("the empty body of just \"# EOF\" (with or without its newline) has no families", () => {
      expect(parse("# EOF\n")).to.deep.equal([]);
      expect(parse("# EOF")).to.deep.equal([]);
      expect(parse("a 1\n# EOF")).to.deep.equal([{ name: "a", type: "UNTYPED", metrics: [m([], 1)] }]);
    });
  });

  describe("values and timestamps", () => {
    it("reads Go-style floats: exponents, signs, NaN and infinities in any case", () => {
      const f = only(
        om(
          'v{k="a"} 1.5e3',
          'v{k="b"} -2E-2',
          'v{k="c"} .5',
          'v{k="d"} 1.',
          'v{k="e"} +7',
          'v{k="f"} NaN',
          'v{k="g"} +Inf',
          'v{k="h"} -Inf',
          'v{k="i"} inf',
          'v{k="j"} -infinity',
          'v{k="k"} 0.1',
          'v{k="l"} 123456789012345678901234567890',
        ),
      );
      expect(f.metrics.map((x) => x.value)).to.deep.equal([1500, -0.02, 0.5, 1, 7, NaN, Infinity, -Infinity, Infinity, -Infinity, 0.1, 1.2345678901234568e29]);
    });

    it("reads timestamps as float seconds and stores milliseconds", () => {
      const f = only(om("t 1 1700000000", "t 2 1700000000.123", "t 3 1.7e9", "t 4 -1.5", "t 5 0", "t 6 1700000000.0005", "t 7 -0.0001"));
      expect(f.metrics.map((x) => x.timestampMs)).to.deep.equal([1700000000000, 1700000000123, 1700000000000, -1500, 0, 1700000000001, 0]);
    });

    it("a summary or histogram takes the timestamp of its first sample", () => {
      const fams = parse(
        om(
          "# TYPE s summary",
          's{quantile="0.5"} 1 100.25',
          "s_count 2 200",
          "# TYPE h histogram",
          'h_bucket{le="+Inf"} 1',
          "h_count 1 300",
          "# TYPE g gaugehistogram",
          'g_bucket{le="+Inf"} 1 400 # {a="b"} 1 401',
          "g_gsum 1 500",
        ),
      );
      expect(fams.map((f) => f.metrics[0].timestampMs)).to.deep.equal([100250, undefined, 400000]);
    });
  });

  describe("labels, escapes and UTF-8", () => {
    it("unescapes \\\\, \\\" and \\n in label values", () => {
      const f = only(om('e{a="back\\\\slash",b="say \\"hi\\"",c="two\\nlines",d="\\\\n",e=""} 1'));
      expect(f.metrics[0].labels).to.deep.equal(["a", "back\\slash", "b", 'say "hi"', "c", "two\nlines", "d", "\\n", "e", ""]);
    });

    it("keeps UTF-8 label values and HELP texts intact", () => {
      const f = only(om("# HELP u Température en °C — 温度 🌡", 'u{city="Zürich",name="東京",emoji="😀",mixed="a\\"é\\"b"} 1'));
      expect(f.help).to.equal("Température en °C — 温度 🌡");
      expect(f.metrics[0].labels).to.deep.equal(["city", "Zürich", "name", "東京", "emoji", "😀", "mixed", 'a"é"b']);
    });

    it("unescapes HELP texts; tolerates an unescaped '\"' there, as prom-client writes it", () => {
      expect(only(om('# HELP h A \\"quoted\\" \\\\ text\\nwith "raw" quotes', "h 1")).help).to.equal('A "quoted" \\ text\nwith "raw" quotes');
      expect(only(om("# HELP h", "h 1")).help).to.equal("");
      expect(only(om("# HELP h ", "h 1")).help).to.equal("");
      expect(only(om("# HELP h  leading blank kept", "h 1")).help).to.equal(" leading blank kept");
    });

    it("accepts the empty label set and label names with underscores and digits", () => {
      expect(only(om("a{} 1", "a{_x1=\"v\",B_2=\"w\"} 2")).metrics).to.deep.equal([m([], 1), m(["_x1", "v", "B_2", "w"], 2)]);
    });

    it("accepts metric names with colons", () => {
      expect(only(om("# TYPE job:rate:sum gauge", "job:rate:sum 1")).name).to.equal("job:rate:sum");
    });

    it("accepts a carriage return inside a label value (the format allows it there)", () => {
      expect(only(om('cr{a="x\ry"} 1')).metrics[0].labels).to.deep.equal(["a", "x\ry"]);
    });
  });

  describe("exemplars", () => {
    it("are validated and dropped on counter _total and histogram _bucket samples", () => {
      const fams = parse(
        om(
          "# TYPE c counter",
          'c_total{a="1"} 5 # {trace_id="abc"} 1',
          'c_total{a="2"} 6 1700000000 # {trace_id="def",span_id="1"} 2.5 1700000000.5',
          "# TYPE h histogram",
          'h_bucket{le="1"} 1 # {} 0.5',
          'h_bucket{le="+Inf"} 2 # {trace_id="x"} 7 123',
        ),
      );
      expect(fams).to.deep.equal([
        { name: "c_total", type: "COUNTER", metrics: [m(["a", "1"], 5), m(["a", "2"], 6, 1700000000000)] },
        {
          name: "h",
          type: "HISTOGRAM",
          metrics: [
            {
              labels: [],
              histogram: {
                buckets: [
                  { upperBound: 1, count: 1 },
                  { upperBound: Infinity, count: 2 },
                ],
                floatCounts: false,
              },
            },
          ],
        },
      ]);
    });

    it("allow a label set of exactly 128 characters (counted in code points)", () => {
      // "k" + 127 characters: 128; with a 4-byte emoji that is still one character.
      only(om("# TYPE c counter", `c_total 1 # {k="${"x".repeat(126)}😀"} 1`));
      expectError(om("# TYPE c counter", `c_total 1 # {k="${"x".repeat(127)}😀"} 1`), 2, `exemplar label set "{k=\\"${"x".repeat(96)}"... has 129 characters, more than 128`);
    });

    it("are errors on other samples", () => {
      expectError(
        om("# TYPE g gauge", 'g 1 # {a="b"} 1'),
        2,
        'exemplars are allowed only on counter _total and histogram _bucket samples, not on "g" of gauge metric family "g"',
      );
      expectError(
        om("# TYPE h histogram", 'h_bucket{le="+Inf"} 1', 'h_count 1 # {a="b"} 1'),
        3,
        'exemplars are allowed only on counter _total and histogram _bucket samples, not on "h_count" of histogram metric family "h"',
      );
      expectError(
        om("u 1 # {a=\"b\"} 1"),
        1,
        'exemplars are allowed only on counter _total and histogram _bucket samples, not on "u" of unknown metric family "u"',
      );
    });

    it("must be well-formed", () => {
      const c = "# TYPE c counter";
      expectError(om(c, "c_total 1 # a 1"), 2, 'invalid exemplar "# a 1": expected "# {labels} value [timestamp]"');
      expectError(om(c, "c_total 1 #"), 2, 'invalid exemplar "#": expected "# {labels} value [timestamp]"');
      expectError(om(c, 'c_total 1 # {a="b"}'), 2, "missing exemplar value");
      expectError(om(c, 'c_total 1 # {a="b"} x'), 2, 'expected float as exemplar value, got "x"');
      expectError(om(c, 'c_total 1 # {a="b"} 1 NaN'), 2, 'timestamp "NaN" is not a finite number');
      expectError(om(c, 'c_total 1 # {a="b"} 1 2 3'), 2, 'unexpected "3" after the exemplar');
      expectError(om(c, 'c_total 1 # {a="b"} 1 '), 2, "unexpected blank at the end of the line");
      expectError(om(c, 'c_total 1 # {a="b",a="c"} 1'), 2, 'duplicate label name "a"');
      expectError(om(c, 'c_total 1 # {a=b} 1'), 2, 'expected \'"\' to start the value of label "a", found "b"');
      expectError(om(c, 'c_total 1 # {a="b"}1'), 2, 'expected a blank after the exemplar\'s label set, found "1"');
    });
  });

  describe("prom-client's OpenMetrics output", () => {
    it("parses a body as prom-client 15 writes it (HELP, TYPE, _total, exemplars with float timestamps)", () => {
      const text = [
        '# HELP http_requests Requests "served"\\nok\\\\',
        "# TYPE http_requests counter",
        'http_requests_total{code="200"} 3 # {traceId="abc"} 3 1795322532.302',
        "# HELP jobs Jobs",
        "# TYPE jobs counter",
        "jobs_total 2",
        "# HELP temp_celsius T",
        "# TYPE temp_celsius gauge",
        'temp_celsius{room="kitchen"} 21.5',
        "# HELP lat_seconds L",
        "# TYPE lat_seconds histogram",
        'lat_seconds_bucket{le="0.1",m="GET"} 1',
        'lat_seconds_bucket{le="1",m="GET"} 2 # {traceId="x"} 0.5 1795322532.303',
        'lat_seconds_bucket{le="+Inf",m="GET"} 2',
        'lat_seconds_sum{m="GET"} 0.55',
        'lat_seconds_count{m="GET"} 2',
        "# HELP sz_bytes S",
        "# TYPE sz_bytes summary",
        'sz_bytes{quantile="0.5"} 15',
        'sz_bytes{quantile="0.9"} 20',
        "sz_bytes_sum 30",
        "sz_bytes_count 2",
        "# EOF",
        "",
      ].join("\n");
      expect(parse(text)).to.deep.equal([
        { name: "http_requests_total", help: 'Requests "served"\nok\\', type: "COUNTER", metrics: [m(["code", "200"], 3)] },
        { name: "jobs_total", help: "Jobs", type: "COUNTER", metrics: [m([], 2)] },
        { name: "temp_celsius", help: "T", type: "GAUGE", metrics: [m(["room", "kitchen"], 21.5)] },
        {
          name: "lat_seconds",
          help: "L",
          type: "HISTOGRAM",
          metrics: [
            {
              labels: ["m", "GET"],
              histogram: {
                count: 2,
                sum: 0.55,
                buckets: [
                  { upperBound: 0.1, count: 1 },
                  { upperBound: 1, count: 2 },
                  { upperBound: Infinity, count: 2 },
                ],
                floatCounts: false,
              },
            },
          ],
        },
        {
          name: "sz_bytes",
          help: "S",
          type: "SUMMARY",
          metrics: [
            {
              labels: [],
              summary: {
                count: 2,
                sum: 30,
                quantiles: [
                  { quantile: 0.5, value: 15 },
                  { quantile: 0.9, value: 20 },
                ],
              },
            },
          ],
        },
      ]);
    });

    it("parses what a live prom-client OpenMetrics registry writes", async () => {
      const registry = new OpenMetricsRegistry("application/openmetrics-text; version=1.0.0; charset=utf-8");
      const counter = new Counter({ name: "om_jobs", help: "Jobs done", labelNames: ["kind"], registers: [registry], enableExemplars: true });
      // prom-client's typings give exemplar labels the metric's label names; any names work.
      const exemplarLabels: Record<string, string> = { traceId: "t1" };
      counter.inc({ labels: { kind: "batch" }, value: 2, exemplarLabels });
      counter.inc({ labels: { kind: "ü-ñ \"x\"" }, value: 1, exemplarLabels: {} });
      const gauge = new Gauge({ name: "om_queue", help: "Queue", registers: [registry] });
      gauge.set(-4);
      const histogram = new Histogram({ name: "om_lat_seconds", help: "Latency", buckets: [0.5, 1], registers: [registry], enableExemplars: true });
      histogram.observe({ labels: {}, value: 0.75, exemplarLabels: { traceId: "t2" } });
      const summary = new Summary({ name: "om_size", help: "Size", percentiles: [0.5], registers: [registry] });
      summary.observe(4);
      const text = await registry.metrics();
      expect(text.endsWith("# EOF\n")).to.equal(true);
      expect(parse(text)).to.deep.equal([
        { name: "om_jobs_total", help: "Jobs done", type: "COUNTER", metrics: [m(["kind", "batch"], 2), m(["kind", 'ü-ñ "x"'], 1)] },
        { name: "om_queue", help: "Queue", type: "GAUGE", metrics: [m([], -4)] },
        {
          name: "om_lat_seconds",
          help: "Latency",
          type: "HISTOGRAM",
          metrics: [
            {
              labels: [],
              histogram: {
                count: 1,
                sum: 0.75,
                buckets: [
                  { upperBound: 0.5, count: 0 },
                  { upperBound: 1, count: 1 },
                  { upperBound: Infinity, count: 1 },
                ],
                floatCounts: false,
              },
            },
          ],
        },
        { name: "om_size", help: "Size", type: "SUMMARY", metrics: [{ labels: [], summary: { count: 1, sum: 4, quantiles: [{ quantile: 0.5, value: 4 }] } }] },
      ]);
    });
  });

  describe("errors: the body", () => {
    it("invalid UTF-8 fails in its line", () => {
      expectError(Buffer.concat([Buffer.from('a 1\nb{x="'), Buffer.from([0xff]), Buffer.from('"} 1\n# EOF\n')]), 2, 'invalid UTF-8 in line "b{x=\\"\\xff\\"} 1"');
      expectError(Buffer.concat([Buffer.from("a 1\nb 2\n# HELP c "), Buffer.from([0xc3, 0x28]), Buffer.from("\n# EOF\n")]), 3, 'invalid UTF-8 in line "# HELP c \\xc3("');
      expectError(Buffer.concat([Buffer.from("# EOF\n"), Buffer.from([0xe2, 0x82])]), 2, 'invalid UTF-8 in line "\\xe2\\x82"');
    });

    it("an error in a line before the invalid UTF-8 comes first", () => {
      expectError(Buffer.concat([Buffer.from("a 1\nb x\nc{l=\""), Buffer.from([0xff]), Buffer.from('"} 1\n# EOF\n')]), 2, 'expected float as value, got "x"');
    });

    it("needs \"# EOF\" as its last line", () => {
      const detail = 'expected "# EOF" at the end of the body';
      expectError("", 1, detail);
      expectError("a 1\n", 2, detail);
      expectError("a 1\nb 2", 3, detail);
      expectError("# TYPE a gauge\na 1\n# EO\n", 3, 'invalid comment line "# EO": only "# HELP", "# TYPE", "# UNIT" and "# EOF" are allowed');
    });

    it("allows nothing after \"# EOF\"", () => {
      expectError("a 1\n# EOF\nb 2\n", 3, 'unexpected content after "# EOF": "b 2"');
      expectError("# EOF\n# EOF\n", 2, 'unexpected content after "# EOF": "# EOF"');
      expectError("a 1\n# EOF\n\n", 3, 'unexpected empty line after "# EOF"');
    });

    it("allows no empty lines", () => {
      expectError("a 1\n\nb 2\n# EOF\n", 2, "empty lines are not allowed");
      expectError("\n# EOF\n", 1, "empty lines are not allowed");
    });

    it("allows no CR line endings", () => {
      expectError("a 1\r\n# EOF\r\n", 1, 'line ends with "\\r": lines must end with "\\n" alone');
      expectError("a 1\n# EOF\r\n", 2, 'line ends with "\\r": lines must end with "\\n" alone');
      expectError("# HELP a text\r\n# EOF\n", 1, 'line ends with "\\r": lines must end with "\\n" alone');
    });
  });

  describe("errors: metadata", () => {
    it("allows no other comments", () => {
      const rest = 'only "# HELP", "# TYPE", "# UNIT" and "# EOF" are allowed';
      expectError(om("# a comment"), 1, `invalid comment line "# a comment": ${rest}`);
      expectError(om("#HELP a b"), 1, `invalid comment line "#HELP a b": ${rest}`);
      expectError(om("#"), 1, `invalid comment line "#": ${rest}`);
      expectError(om("# EOF "), 1, `invalid comment line "# EOF ": ${rest}`);
      expectError(om("# help a b"), 1, `invalid comment line "# help a b": ${rest}`);
    });

    it("needs a valid metric name", () => {
      expectError(om("# HELP"), 1, 'missing metric name after "# HELP"');
      expectError(om("# TYPE "), 1, "unexpected blank at the end of the line");
      expectError(om("# TYPE  a gauge"), 1, "expected a single blank before the metric name, found more");
      expectError(om("# TYPE 1a gauge"), 1, 'invalid metric name "1a"');
      expectError(om("# HELP a-b text"), 1, 'invalid metric name "a-b"');
    });

    it("knows only the lowercase OpenMetrics types", () => {
      expectError(om("# TYPE a Counter"), 1, 'unknown metric type "Counter"');
      expectError(om("# TYPE a untyped"), 1, 'unknown metric type "untyped"');
      expectError(om("# TYPE a gauge_histogram"), 1, 'unknown metric type "gauge_histogram"');
      expectError(om("# TYPE a gauge "), 1, 'unknown metric type "gauge "');
      expectError(om("# TYPE a"), 1, 'missing type for metric family "a"');
      expectError(om("# TYPE a "), 1, 'missing type for metric family "a"');
    });

    it("allows one HELP, TYPE and UNIT per family", () => {
      expectError(om("# HELP a x", "# TYPE a gauge", "# HELP a y"), 3, 'second HELP line for metric family "a"');
      expectError(om("# TYPE a gauge", "# TYPE a gauge"), 2, 'second TYPE line for metric family "a"');
      expectError(om("# UNIT a_s s", "# UNIT a_s s"), 2, 'second UNIT line for metric family "a_s"');
    });

    it("puts metadata before the family's samples", () => {
      expectError(om("# TYPE a gauge", "a 1", "# HELP a late"), 3, 'HELP line for metric family "a" after its samples');
      expectError(om("a 1", "# TYPE a gauge"), 2, 'TYPE line for metric family "a" after its samples');
      expectError(om("# TYPE a_bytes counter", "a_bytes_total 1", "# UNIT a_bytes bytes"), 3, 'UNIT line for metric family "a_bytes" after its samples');
    });

    it("requires a unit to be the suffix of the family name", () => {
      only(om("# TYPE req_seconds counter", "# UNIT req_seconds seconds", "req_seconds_total 1"));
      only(om("# UNIT a "));
      expectError(om("# UNIT req_seconds bytes"), 1, 'unit "bytes" is not a suffix of metric family name "req_seconds" (expected a name ending in "_bytes")');
      expectError(om("# UNIT reqseconds seconds"), 1, 'unit "seconds" is not a suffix of metric family name "reqseconds" (expected a name ending in "_seconds")');
      expectError(om("# UNIT seconds seconds"), 1, 'unit "seconds" is not a suffix of metric family name "seconds" (expected a name ending in "_seconds")');
      expectError(om("# UNIT a_b-c b-c"), 1, 'invalid metric name "a_b-c"');
      expectError(om("# UNIT a_x x y"), 1, 'invalid unit "x y"');
    });
  });

  describe("errors: families", () => {
    it("families may not be interleaved or repeated", () => {
      const detail = (n: string) => `metric family ${JSON.stringify(n)} appears twice or is interleaved with another family`;
      expectError(om("a 1", "b 1", "a 2"), 3, detail("a"));
      expectError(om("# TYPE a gauge", "a 1", "# TYPE b gauge", "b 1", "# HELP a again"), 5, detail("a"));
      expectError(om("# TYPE a gauge", "# TYPE b gauge", "a 1"), 3, detail("a"));
      expectError(om("# TYPE h histogram", 'h_bucket{le="+Inf"} 1', "x 1", "h_count 1"), 4, detail("h"));
      expectError(om("# TYPE c counter", "c_total 1", "x 1", "c_created 1"), 4, detail("c"));
    });

    it("a sample name must fit its family's type", () => {
      expectError(om("# TYPE c counter", "c 1"), 2, 'sample name "c" is not valid for counter metric family "c"; expected "c_total" or "c_created"');
      expectError(om("# TYPE c counter", "c_count 1"), 2, 'sample name "c_count" is not valid for counter metric family "c"; expected "c_total" or "c_created"');
      expectError(om("# TYPE g gauge", "g_total 1"), 2, 'sample name "g_total" is not valid for gauge metric family "g"; expected "g"');
      expectError(om("# TYPE i info", "i 1"), 2, 'sample name "i" is not valid for info metric family "i"; expected "i_info"');
      expectError(
        om("# TYPE h histogram", "h_gcount 1"),
        2,
        'sample name "h_gcount" is not valid for histogram metric family "h"; expected "h_created", "h_count", "h_sum" or "h_bucket"',
      );
      expectError(om("# TYPE g gaugehistogram", "g_count 1"), 2, 'sample name "g_count" is not valid for gaugehistogram metric family "g"; expected "g_bucket", "g_gcount" or "g_gsum"');
      expectError(om("# TYPE s summary", "s_bucket 1"), 2, 'sample name "s_bucket" is not valid for summary metric family "s"; expected "s", "s_created", "s_count" or "s_sum"');
    });

    it("exposed names may not collide", () => {
      expectError(om("foo_total 1", "# TYPE foo counter", "foo_total 2"), 3, 'sample name "foo_total" of counter metric family "foo" collides with metric family "foo_total"');
      expectError(om("# TYPE foo_total gauge", "# TYPE foo counter"), 2, 'metric family "foo" (exposed as "foo_total") collides with an earlier metric family');
    });
  });

  describe("errors: type rules", () => {
    it("counter values may not be negative or NaN", () => {
      expectError(om("# TYPE c counter", "c_total -1"), 2, 'counter "c_total" has value "-1": counters must not be negative or NaN');
      expectError(om("# TYPE c counter", "c_total NaN"), 2, 'counter "c_total" has value "NaN": counters must not be negative or NaN');
      only(om("# TYPE c counter", "c_total +Inf", "c_created -5"));
    });

    it("info values must be 1", () => {
      expectError(om("# TYPE i info", 'i_info{v="1"} 2'), 2, 'info metric "i_info" must have value 1, got "2"');
      expectError(om("# TYPE i info", "i_info 0"), 2, 'info metric "i_info" must have value 1, got "0"');
    });

    it("stateset samples need the state label and 0 or 1", () => {
      expectError(om("# TYPE s stateset", 's{state="a"} 1'), 2, 'stateset sample "s" has no label "s" naming its state');
      expectError(om("# TYPE s stateset", 's{s="a"} 2'), 2, 'stateset "s" state {s="a"} must have value 0 or 1, got "2"');
    });

    it("summary quantiles are floats from 0 to 1, only on the bare samples", () => {
      expectError(om("# TYPE s summary", "s 1"), 2, 'summary sample "s" has no "quantile" label');
      expectError(om("# TYPE s summary", 's{quantile="1.5"} 1'), 2, 'invalid quantile "1.5" for summary "s": expected a float from 0 to 1');
      expectError(om("# TYPE s summary", 's{quantile="-0.1"} 1'), 2, 'invalid quantile "-0.1" for summary "s": expected a float from 0 to 1');
      expectError(om("# TYPE s summary", 's{quantile="x"} 1'), 2, 'invalid quantile "x" for summary "s": expected a float from 0 to 1');
      expectError(om("# TYPE s summary", 's{quantile="NaN"} 1'), 2, 'invalid quantile "NaN" for summary "s": expected a float from 0 to 1');
      expectError(om("# TYPE s summary", 's_sum{quantile="0.5"} 1'), 2, '"quantile" label is not allowed on "s_sum"');
      expectError(om("# TYPE s summary", "s_count -1"), 2, 'summary count "s_count" has value "-1": counts must not be negative or NaN');
    });

    it("histogram buckets need a float le, in increasing order, with non-decreasing counts", () => {
      const h = "# TYPE h histogram";
      expectError(om(h, "h_bucket 1"), 2, 'histogram bucket "h_bucket" has no "le" label');
      expectError(om(h, 'h_bucket{le="x"} 1'), 2, 'invalid le "x" for bucket "h_bucket": expected a float');
      expectError(om(h, 'h_bucket{le="NaN"} 1'), 2, 'invalid le "NaN" for bucket "h_bucket": expected a float');
      expectError(om(h, 'h_bucket{le="0x1p3"} 1'), 2, 'invalid le "0x1p3" for bucket "h_bucket": expected a float');
      expectError(om(h, 'h_bucket{le="2"} 1', 'h_bucket{le="1"} 1'), 3, 'bucket "h_bucket" le="1" comes after le="2": buckets must be in increasing le order');
      expectError(om(h, 'h_bucket{le="1"} 1', 'h_bucket{le="1.0"} 1'), 3, 'bucket "h_bucket" le="1.0" comes after le="1": buckets must be in increasing le order');
      expectError(om(h, 'h_bucket{le="+Inf"} 1', 'h_bucket{le="+Inf"} 1'), 3, 'bucket "h_bucket" le="+Inf" comes after le="+Inf": buckets must be in increasing le order');
      expectError(om(h, 'h_bucket{le="1"} 5', 'h_bucket{le="+Inf"} 4'), 3, 'bucket "h_bucket" le="+Inf" has count "4", less than the 5 of the bucket before it');
      expectError(om(h, 'h_bucket{le="1"} -1'), 2, 'bucket "h_bucket" le="1" has count "-1": counts must not be negative or NaN');
      expectError(om(h, 'h_sum{le="1"} 1'), 2, '"le" label is not allowed on "h_sum"');
      expectError(om(h, "h_count NaN"), 2, 'histogram count "h_count" has value "NaN": counts must not be negative or NaN');
    });

    it("a histogram needs its +Inf bucket (reported at the metric's last line)", () => {
      expectError(om("# TYPE h histogram", 'h_bucket{a="x",le="1"} 1', 'h_count{a="x"} 1', "b 1"), 3, 'histogram "h" metric {a="x"} has no bucket with le="+Inf"');
      expectError(om("# TYPE h histogram", "h_sum 1"), 2, 'histogram "h" metric {} has no bucket with le="+Inf"');
      expectError(om("# TYPE g gaugehistogram", 'g_bucket{le="1"} 1'), 2, 'gaugehistogram "g" metric {} has no bucket with le="+Inf"');
    });

    it("the count must equal the +Inf bucket, whichever comes first", () => {
      expectError(om("# TYPE h histogram", 'h_bucket{le="+Inf"} 3', 'h_count 4'), 3, '"h_count"{} is "4" but the le="+Inf" bucket holds "3": they must be equal');
      expectError(om("# TYPE h histogram", 'h_count{a="b"} 4', 'h_bucket{a="b",le="+Inf"} 3'), 3, '"h_count"{a="b"} is "4" but the le="+Inf" bucket holds "3": they must be equal');
      expectError(om("# TYPE g gaugehistogram", 'g_bucket{le="+Inf"} 3', 'g_gcount 2'), 3, '"g_gcount"{} is "2" but the le="+Inf" bucket holds "3": they must be equal');
    });
  });

  describe("errors: sample syntax", () => {
    it("needs a valid metric name and a value", () => {
      expectError(om("1a 1"), 1, 'invalid metric name "1a"');
      expectError(om("a-b 1"), 1, 'invalid metric name "a-b"');
      expectError(om('a.b{x="y"} 1'), 1, 'invalid metric name "a.b"');
      expectError(om("ä 1"), 1, 'invalid metric name "ä"');
      expectError(om("\ufeffa 1"), 1, 'invalid metric name "\\ufeffa"');
      expectError(om('{x="y"} 1'), 1, 'missing metric name before the label set "{x=\\"y\\"}"');
      expectError(om("a"), 1, 'missing value for sample "a"');
      expectError(om('a{x="y"}'), 1, 'missing value for sample "a"');
      expectError(om('a{x="y"}1'), 1, 'expected a blank after the label set, found "1"');
    });

    it("reads values as Go-style floats only", () => {
      expectError(om("a x"), 1, 'expected float as value, got "x"');
      expectError(om("a 0x10"), 1, 'expected float as value, got "0x10"');
      expectError(om("a 1_000"), 1, 'expected float as value, got "1_000"');
      expectError(om("a 1e400"), 1, 'expected float as value, got "1e400"');
      expectError(om("a Nan1"), 1, 'expected float as value, got "Nan1"');
      expectError(om("a -"), 1, 'expected float as value, got "-"');
      expectError(om("a 1\t2"), 1, 'expected float as value, got "1\\t2"');
    });

    it("needs float timestamps that are finite, and nothing after them but an exemplar", () => {
      expectError(om("a 1 x"), 1, 'expected float as timestamp, got "x"');
      expectError(om("a 1 NaN"), 1, 'timestamp "NaN" is not a finite number');
      expectError(om("a 1 +Inf"), 1, 'timestamp "+Inf" is not a finite number');
      expectError(om("a 1 0x5"), 1, 'expected float as timestamp, got "0x5"');
      expectError(om("a 1 2 3"), 1, 'unexpected "3" after the timestamp');
    });

    it("allows exactly one blank between tokens", () => {
      expectError(om(" a 1"), 1, "unexpected blank at the start of the line");
      expectError(om("a  1"), 1, "expected a single blank between tokens, found more");
      expectError(om("a 1  2"), 1, "expected a single blank between tokens, found more");
      expectError(om("a 1 "), 1, "unexpected blank at the end of the line");
      expectError(om("a 1 2 "), 1, "unexpected blank at the end of the line");
      expectError(om("a "), 1, "unexpected blank at the end of the line");
      expectError(om('a {x="y"} 1'), 1, "unexpected blank between the metric name and its label set");
      expectError(om("a\t1"), 1, 'invalid metric name "a\\t1"');
    });

    it("label sets: names, quoting, escapes, separators", () => {
      expectError(om('a{x="1",x="2"} 1'), 1, 'duplicate label name "x"');
      expectError(om('a{__name__="b"} 1'), 1, 'label name "__name__" is reserved');
      expectError(om('a{1x="1"} 1'), 1, 'expected label name, found "1x"');
      expectError(om('a{x-y="1"} 1'), 1, 'invalid label name "x-y"');
      expectError(om('a{x:y="1"} 1'), 1, 'invalid label name "x:y"');
      expectError(om('a{x="1", y="2"} 1'), 1, "blanks are not allowed in a label set");
      expectError(om('a{ x="1"} 1'), 1, "blanks are not allowed in a label set");
      expectError(om('a{x ="1"} 1'), 1, "blanks are not allowed in a label set");
      expectError(om('a{x= "1"} 1'), 1, "blanks are not allowed in a label set");
      expectError(om('a{x="1" } 1'), 1, "blanks are not allowed in a label set");
      expectError(om('a{x="1",} 1'), 1, 'unexpected "}" after ","');
      expectError(om('a{x} 1'), 1, 'expected "=" after label name "x", found "}"');
      expectError(om("a{x=1} 1"), 1, 'expected \'"\' to start the value of label "x", found "1"');
      expectError(om('a{x="1"y="2"} 1'), 1, 'expected "," or "}" after the value of label "x", found "y"');
      expectError(om('a{x="1" 1'), 1, "blanks are not allowed in a label set");
      expectError(om('a{x="1'), 1, 'missing closing \'"\' in the value of label "x"');
      expectError(om('a{x="1\\"} 1'), 1, 'missing closing \'"\' in the value of label "x"');
      expectError(om('a{x="1"'), 1, 'missing "}" at the end of the label set');
      expectError(om('a{x="\\t"} 1'), 1, 'invalid escape sequence "\\\\t" in the value of label "x"');
      expectError(om('a{x="\\u00e9"} 1'), 1, 'invalid escape sequence "\\\\u" in the value of label "x"');
      expectError(om("a{"), 1, 'missing "}" at the end of the label set');
    });

    it("HELP escapes are only \\\\, \\\" and \\n", () => {
      expectError(om("# HELP a tab\\there"), 1, 'invalid escape sequence "\\\\t" in HELP text');
      expectError(om("# HELP a trailing\\"), 1, 'invalid escape sequence "\\\\" at the end of the HELP text');
    });
  });
});
