// UTF-8 metric and label names as Prometheus 3 and Pushgateway 1.11 define them: the escaping
// schemes, the quoted-name syntax of both text parsers (only with UTF-8 names enabled), U__
// grouping label names, the writers in each scheme, scrape negotiation and the points a dotted
// name becomes.
import { expect } from "chai";
import { HttpError } from "../../core/errors.ts";
import { Converter, names } from "../../plugins/formats/prometheus/convert.ts";
import { escapeName, unescapeValues } from "../../plugins/formats/prometheus/escaping.ts";
import { contentType, negotiate } from "../../plugins/formats/prometheus/mediatypes.ts";
import type { MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { parseOpenMetrics } from "../../plugins/formats/prometheus/parse-openmetrics.ts";
import { parseProtobuf } from "../../plugins/formats/prometheus/parse-protobuf.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";
import { render } from "../../plugins/formats/prometheus/write.ts";
import { parseGroupingPath } from "../../plugins/inputs/pushgateway/http/grouping.ts";

const utf8 = { names: "utf8" } as const;
const legacy = { names: "legacy" } as const;

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  expect.fail("did not throw");
}

describe("UTF-8 names", () => {
  describe("escaping schemes (prometheus/common model)", () => {
    const cases: [string, Record<string, string>][] = [
      ["my.metric", { underscores: "my_metric", dots: "my_dot_metric", values: "U__my_2e_metric" }],
      ["1abc", { underscores: "_abc", dots: "__abc", values: "U___31_abc" }],
      ["a_b.c", { underscores: "a_b_c", dots: "a__b_dot_c", values: "U__a__b_2e_c" }],
      ["Björn", { underscores: "Bj_rn", dots: "Bj__rn", values: "U__Bj_f6_rn" }],
      ["http.status:code", { underscores: "http_status:code", dots: "http_dot_status:code", values: "U__http_2e_status:code" }],
      ["legacy_name", { underscores: "legacy_name", dots: "legacy_name", values: "legacy_name" }],
      ["", { underscores: "", dots: "", values: "" }],
      ["emoji🙂", { underscores: "emoji_", dots: "emoji__", values: "U__emoji_1f642_" }],
    ];
    for (const [name, want] of cases) {
      it(`escapes ${JSON.stringify(name)}`, () => {
        for (const [scheme, escaped] of Object.entries(want)) expect(escapeName(name, scheme as "underscores"), scheme).to.equal(escaped);
        expect(escapeName(name, "allow-utf-8")).to.equal(name);
      });
    }

    it("reads the values scheme back, and leaves what is not a well-formed escape as it is", () => {
      for (const [name, want] of cases) if (want.values.startsWith("U__")) expect(unescapeValues(want.values)).to.equal(name);
      expect(unescapeValues("U__my_2E_label")).to.equal("my.label");
      expect(unescapeValues("my_2e_label")).to.equal("my_2e_label");
      expect(unescapeValues("U__a_01f642_")).to.equal("a🙂");
      expect(unescapeValues("U__")).to.equal("");
      for (const bad of ["U__a_2e", "U__a_zz_", "U__a_", "U__a_1234567_", "U__a_d800_", "U__a_110000_"]) expect(unescapeValues(bad), bad).to.equal(bad);
    });
  });

  describe("text 0.0.4 and OpenMetrics parsers", () => {
    const text = '# HELP "my.metric" a help\n# TYPE "my.metric" gauge\n{"my.metric","my.label"="v",b="2"} 1\n{a="1","my.metric"} 2\n"other.m"{"x\\"y"="1"} 3\n';
    const om = '# TYPE "my.metric" gauge\n# HELP "my.metric" a help\n{"my.metric","my.label"="v",b="2"} 1\n{a="1","my.metric"} 2\n# TYPE "c.x" counter\n{"c.x_total",x="1"} 3\n# EOF\n';

    it("take quoted UTF-8 names anywhere in the braces, in HELP and TYPE, with escapes, when enabled", () => {
      const t = parseText(Buffer.from(text), utf8);
      expect(t.map((f) => [f.name, f.type, f.help ?? ""])).to.deep.equal([
        ["my.metric", "GAUGE", "a help"],
        ["other.m", "UNTYPED", ""],
      ]);
      expect(t[0].metrics.map((m) => m.labels)).to.deep.equal([["my.label", "v", "b", "2"], ["a", "1"]]);
      expect(t[1].metrics[0].labels).to.deep.equal(['x"y', "1"]);
      const o = parseOpenMetrics(Buffer.from(om), utf8);
      expect(o.map((f) => [f.name, f.type])).to.deep.equal([
        ["my.metric", "GAUGE"],
        ["c.x_total", "COUNTER"],
      ]);
      expect(o[0].metrics.map((m) => m.labels)).to.deep.equal([["my.label", "v", "b", "2"], ["a", "1"]]);
    });

    it("give the same families as a protobuf push of the same names", () => {
      const fromText = parseText(Buffer.from('# TYPE "my.metric" gauge\n{"my.metric","my.label"="v"} 1\n'), utf8);
      const fromOm = parseOpenMetrics(Buffer.from('# TYPE "my.metric" gauge\n{"my.metric","my.label"="v"} 1\n# EOF\n'), utf8);
      const pb = parseProtobuf(render(fromText, "protobuf", "allow-utf-8") as Buffer);
      for (const f of [fromOm, pb]) expect(f.map((x) => [x.name, x.type, x.metrics[0].labels, x.metrics[0].value])).to.deep.equal([["my.metric", "GAUGE", ["my.label", "v"], 1]]);
    });

    it("keep legacy names only when not enabled (quoted legacy names stay valid)", () => {
      expect(errorOf(() => parseText(Buffer.from(text), legacy))).to.equal('text format parsing error in line 1: invalid metric name "my.metric"');
      expect(errorOf(() => parseText(Buffer.from('{"ok",x="1"} 1\n{"ok","a.b"="1"} 1\n'), legacy))).to.equal('text format parsing error in line 2: invalid label name "a.b"');
      expect(parseText(Buffer.from('{"ok"} 1\n'), legacy)[0].name).to.equal("ok");
      expect(errorOf(() => parseOpenMetrics(Buffer.from(om), legacy))).to.equal('openmetrics parsing error in line 1: invalid metric name "my.metric"');
      expect(parseOpenMetrics(Buffer.from('{"ok"} 1\n# EOF\n'), legacy)[0].name).to.equal("ok");
      // the default is legacy
      expect(errorOf(() => parseText(Buffer.from('{"a.b"} 1\n')))).to.match(/invalid metric name "a\.b"/);
    });

    it("refuse two names, empty names, reserved labels and names that are not UTF-8", () => {
      const both = (body: string) => [errorOf(() => parseText(Buffer.from(body), utf8)), errorOf(() => parseOpenMetrics(Buffer.from(body + "# EOF\n"), utf8))];
      expect(both('{"a","b"} 1\n')).to.deep.equal(['text format parsing error in line 1: multiple metric names for metric "a"', 'openmetrics parsing error in line 1: multiple metric names for metric "a"']);
      expect(both('a{"b"} 1\n')[1]).to.equal('openmetrics parsing error in line 1: multiple metric names for metric "a"');
      expect(both('{""} 1\n')[1]).to.equal('openmetrics parsing error in line 1: invalid metric name ""');
      expect(both('{"a",""="1"} 1\n')[1]).to.equal('openmetrics parsing error in line 1: invalid label name ""');
      expect(both('{"a","__name__"="x"} 1\n')).to.deep.equal(['text format parsing error in line 1: label name "__name__" is reserved', 'openmetrics parsing error in line 1: label name "__name__" is reserved']);
      expect(both('{"a\\q"} 1\n')[1]).to.match(/invalid escape sequence "\\\\q" in a quoted name$/);
      expect(errorOf(() => parseText(Buffer.concat([Buffer.from('{"a'), Buffer.from([0xff]), Buffer.from('"} 1\n')]), utf8))).to.match(/^text format parsing error in line 1: invalid metric name "a\\xff"/);
    });
  });

  describe("grouping key label names in the URL", () => {
    it("are read with the values scheme when enabled, after @base64 is cut", () => {
      const key = parseGroupingPath("/example/U__foo_2e_bar/baz/U__my_2e_label@base64/YmF6", "utf8")!;
      expect(Object.fromEntries(key.labels)).to.deep.equal({ job: "example", "foo.bar": "baz", "my.label": "baz" });
    });

    it("keep their literal meaning when not enabled", () => {
      const key = parseGroupingPath("/example/U__foo_2e_bar/baz")!;
      expect(Object.fromEntries(key.labels)).to.deep.equal({ job: "example", U__foo_2e_bar: "baz" });
    });

    it("stay refused when reserved, and a name that is not an escape is taken as written", () => {
      let err: unknown;
      try {
        parseGroupingPath("/example/U______name____/x", "utf8");
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(HttpError);
      expect((err as HttpError).message).to.equal('improper label name "U______name____"');
      expect(Object.fromEntries(parseGroupingPath("/e/U__bad_zz_/x", "utf8")!.labels)).to.deep.equal({ job: "e", U__bad_zz_: "x" });
    });
  });

  describe("writers and scrape negotiation", () => {
    const families: MetricFamily[] = [
      { name: "my.metric", help: "h", type: "GAUGE", metrics: [{ labels: ["my.label", "v"], value: 1 }] },
      { name: "h.x", type: "HISTOGRAM", metrics: [{ labels: [], histogram: { count: 1, sum: 2, buckets: [{ upperBound: 1, count: 1 }], floatCounts: false } }] },
    ];

    it("write quoted names with allow-utf-8, as prometheus/common does", () => {
      expect(render(families, "text", "allow-utf-8")).to.equal(
        '# HELP "my.metric" h\n# TYPE "my.metric" gauge\n{"my.metric","my.label"="v"} 1\n# TYPE "h.x" histogram\n{"h.x_bucket",le="1"} 1\n{"h.x_bucket",le="+Inf"} 1\n{"h.x_sum"} 2\n{"h.x_count"} 1\n',
      );
      expect(render(families.slice(0, 1), "openmetrics", "allow-utf-8")).to.equal('# TYPE "my.metric" gauge\n# HELP "my.metric" h\n{"my.metric","my.label"="v"} 1\n# EOF\n');
    });

    it("escape names with the other schemes, in every format", () => {
      expect(render(families.slice(0, 1), "text", "underscores")).to.equal("# HELP my_metric h\n# TYPE my_metric gauge\nmy_metric{my_label=\"v\"} 1\n");
      expect(render(families.slice(0, 1), "text", "dots")).to.contain('my_dot_metric{my_dot_label="v"} 1\n');
      expect(render(families.slice(0, 1), "text", "values")).to.contain('U__my_2e_metric{U__my_2e_label="v"} 1\n');
      const pb = parseProtobuf(render(families, "protobuf", "underscores") as Buffer);
      expect(pb.map((f) => f.name)).to.deep.equal(["my_metric", "h_x"]);
      expect(pb[0].metrics[0].labels).to.deep.equal(["my_label", "v"]);
      expect(parseProtobuf(render(families, "protobuf", "allow-utf-8") as Buffer)[0].name).to.equal("my.metric");
      // the families themselves are left as they were
      expect(families[0].name).to.equal("my.metric");
    });

    // Prometheus 3.0's and later 3.x's default scrape Accept headers (scrape_protocols).
    const PROMETHEUS_3_0 =
      "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;escaping=allow-utf-8;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;escaping=allow-utf-8;q=0.2,*/*;q=0.1";
    const PROMETHEUS_3_LATER = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    const PROMETHEUS_2_42 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    it("take the escaping scheme from the Accept header, underscores by default", () => {
      expect(negotiate(PROMETHEUS_3_0)).to.deep.equal({ format: "openmetrics", escaping: "allow-utf-8" });
      expect(negotiate(PROMETHEUS_3_LATER)).to.deep.equal({ format: "openmetrics", escaping: "allow-utf-8" });
      expect(negotiate(PROMETHEUS_2_42)).to.deep.equal({ format: "openmetrics", escaping: "underscores" });
      expect(negotiate(undefined)).to.deep.equal({ format: "text", escaping: "underscores" });
      expect(negotiate("text/plain;version=0.0.4;escaping=values")).to.deep.equal({ format: "text", escaping: "values" });
      expect(negotiate("text/plain;version=0.0.4;escaping=bogus")).to.deep.equal({ format: "text", escaping: "underscores" });
      // a scheme on an entry walked past (a type not served here) still counts
      expect(negotiate("application/json;escaping=dots,text/plain;q=0.5")).to.deep.equal({ format: "text", escaping: "dots" });
      expect(negotiate("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8")).to.deep.equal({ format: "protobuf", escaping: "allow-utf-8" });
    });

    it("say the scheme in the Content-Type", () => {
      expect(contentType({ format: "text", escaping: "underscores" })).to.equal("text/plain; version=0.0.4; charset=utf-8; escaping=underscores");
      expect(contentType({ format: "openmetrics", escaping: "allow-utf-8" })).to.equal("application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8");
      expect(contentType({ format: "protobuf", escaping: "values" })).to.equal("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; escaping=values");
    });
  });

  describe("points", () => {
    const naming = { measurement_name: "", job_as_measurement: false, keep_exist_metric_name: false };

    it("split a dotted name at its first separator, as an underscored one", () => {
      expect(names("http.server.request.duration", "j", naming)).to.deep.equal({ measurement: "http", field: "server.request.duration" });
      expect(names("http_server.duration", "j", naming)).to.deep.equal({ measurement: "http", field: "server.duration" });
      expect(names("http.server_duration", "j", naming)).to.deep.equal({ measurement: "http", field: "server_duration" });
      expect(names("Björn", "j", naming)).to.deep.equal({ measurement: "Björn", field: "Björn" });
      expect(names("http.server", "j", { ...naming, keep_exist_metric_name: true })).to.deep.equal({ measurement: "http", field: "http.server" });
    });

    it("carry UTF-8 names and labels escaped in line protocol", () => {
      const converter = new Converter({ ...naming, honor_timestamps: true, tags: {} });
      const { chunks } = converter.lineProtocol(
        [{ name: "my app.req,count", type: "GAUGE", metrics: [{ labels: ["my label", "a b", "k=1", "v,1"], value: 1 }] }],
        new Map([["job", "j"]]),
        1000n,
      );
      expect(Buffer.concat(chunks).toString()).to.equal("my\\ app,job=j,k\\=1=v\\,1,my\\ label=a\\ b req\\,count=1 1000\n");
    });
  });
});
