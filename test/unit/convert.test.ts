// Metric families -> points (datakit-pushgateway.md §3, without the defects of §4).
import { expect } from "chai";
import { LineEncoder, LineWriter, encodeBatch, encodePoint } from "../../core/lineprotocol.ts";
import type { Point } from "../../core/point.ts";
import { Converter, names, type ConvertOptions, type NamingOptions } from "../../plugins/formats/prometheus/convert.ts";
import type { Metric, MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";

const RECEIVED = 1_111_111_111_000_000_000n;

const DEFAULTS: ConvertOptions = {
  measurement_name: "",
  job_as_measurement: false,
  keep_exist_metric_name: false,
  honor_timestamps: true,
  tags: {},
};

function grouping(job: string, labels: Record<string, string> = {}): Map<string, string> {
  return new Map([...Object.entries(labels), ["job", job]]);
}

function convert(families: MetricFamily[], group: Map<string, string> = grouping("j"), o: Partial<ConvertOptions> = {}): Point[] {
  return new Converter({ ...DEFAULTS, ...o }).convert(families, group, RECEIVED);
}

function convertText(text: string, group: Map<string, string> = grouping("j"), o: Partial<ConvertOptions> = {}): Point[] {
  return convert(parseText(Buffer.from(text)), group, o);
}

function family(name: string, type: MetricFamily["type"], metrics: Metric[]): MetricFamily {
  return { name, type, metrics };
}

const NAMING: NamingOptions = { measurement_name: "", job_as_measurement: false, keep_exist_metric_name: false };

describe("conversion", () => {
  describe("measurement and field names", () => {
    const split: [string, string, string, string][] = [
      // metric, measurement, field, field with keep_exist_metric_name
      ["etcd_write_bytes_total", "etcd", "write_bytes_total", "etcd_write_bytes_total"],
      ["_etcd_write_bytes_total", "etcd", "write_bytes_total", "etcd_write_bytes_total"],
      ["__etcd_x", "etcd", "x", "etcd_x"],
      ["etcd_", "etcd", "etcd", "etcd"],
      ["up", "up", "up", "up"],
      ["pushgateway_count", "pushgateway", "count", "pushgateway_count"],
      ["a_b", "a", "b", "a_b"],
      ["_", "unknown", "unknown", "unknown"],
      ["__", "unknown", "unknown", "unknown"],
      ["x", "unknown", "unknown", "unknown"],
      ["_x", "unknown", "unknown", "unknown"],
      ["__x", "unknown", "unknown", "unknown"],
    ];
    for (const [metric, measurement, field, kept] of split) {
      it(`${metric} -> ${measurement} / ${field} (keep: ${kept})`, () => {
        expect(names(metric, "job", NAMING)).to.deep.equal({ measurement, field });
        expect(names(metric, "job", { ...NAMING, keep_exist_metric_name: true })).to.deep.equal({ measurement, field: kept });
      });
    }

    it("measurement_name gives the measurement and the full metric name as field", () => {
      expect(names("etcd_write_bytes_total", "batch", { ...NAMING, measurement_name: "prom" })).to.deep.equal({
        measurement: "prom",
        field: "etcd_write_bytes_total",
      });
    });

    it("job_as_measurement gives the job as measurement and the full metric name as field", () => {
      expect(names("etcd_write_bytes_total", "batch", { ...NAMING, job_as_measurement: true })).to.deep.equal({
        measurement: "batch",
        field: "etcd_write_bytes_total",
      });
    });

    it("measurement_name wins over job_as_measurement", () => {
      expect(names("a_b", "batch", { ...NAMING, measurement_name: "prom", job_as_measurement: true })).to.deep.equal({ measurement: "prom", field: "a_b" });
    });

    it("the documented example: pushgateway_count on job hello", () => {
      const points = convertText('pushgateway_count{name="client"} 100\n', grouping("hello"));
      expect(points).to.deep.equal([{ measurement: "pushgateway", tags: { job: "hello", name: "client" }, fields: { count: 100 }, time: RECEIVED }]);
      expect(encodePoint(points[0])).to.equal(`pushgateway,job=hello,name=client count=100 ${RECEIVED}`);
    });

    it("the options reach the converter", () => {
      const fam = [family("etcd_up", "GAUGE", [{ labels: [], value: 1 }])];
      expect(convert(fam, grouping("batch"), { job_as_measurement: true })[0]).to.include({ measurement: "batch" });
      expect(convert(fam, grouping("batch"), { job_as_measurement: true })[0].fields).to.deep.equal({ etcd_up: 1 });
      expect(convert(fam, grouping("batch"), { measurement_name: "m" })[0].measurement).to.equal("m");
      expect(convert(fam, grouping("batch"), { keep_exist_metric_name: true })[0].fields).to.deep.equal({ etcd_up: 1 });
      expect(convert(fam, grouping("batch"))[0].fields).to.deep.equal({ up: 1 });
    });
  });

  describe("tags", () => {
    it("static tags < body labels < grouping key", () => {
      const fam = [family("app_up", "GAUGE", [{ labels: ["a", "body", "b", "body", "c", "body"], value: 1 }])];
      const points = convert(fam, grouping("j", { a: "group" }), { tags: { a: "static", b: "static", d: "static" } });
      expect(points).to.have.length(1);
      expect(points[0].tags).to.deep.equal({ a: "group", b: "body", c: "body", d: "static", job: "j" });
    });

    it("the URL job wins over a body job label", () => {
      const points = convertText('app_up{job="body"} 1\n', grouping("url"));
      expect(points[0].tags.job).to.equal("url");
    });

    it("one metric's labels do not leak into another's point", () => {
      const points = convertText('app_x{a="1"} 1\napp_x{b="2"} 2\n');
      expect(points.map((p) => p.tags)).to.deep.equal([
        { job: "j", a: "1" },
        { job: "j", b: "2" },
      ]);
    });

    it("a grouping label with the field's key becomes tag_<key>; the field stays", () => {
      const points = convertText("up 1\n", grouping("j", { up: "yes" }));
      expect(points).to.have.length(1);
      expect(points[0].fields).to.deep.equal({ up: 1 });
      expect(points[0].tags).to.deep.equal({ job: "j", tag_up: "yes" });
      expect(encodePoint(points[0])).to.equal(`up,job=j,tag_up=yes up=1 ${RECEIVED}`);
    });

    it("a body label with the field's key becomes tag_<key>", () => {
      const points = convertText('node_load{load="x"} 2\n');
      expect(points[0].fields).to.deep.equal({ load: 2 });
      expect(points[0].tags).to.deep.equal({ job: "j", tag_load: "x" });
    });

    it("a static tag with the field's key becomes tag_<key>", () => {
      const points = convertText("app_count 3\n", grouping("j"), { tags: { count: "s" } });
      expect(points[0].fields).to.deep.equal({ count: 3 });
      expect(points[0].tags).to.deep.equal({ job: "j", tag_count: "s" });
    });

    it("renaming for one point leaves the tags of the metric's other points alone", () => {
      // Summary rpc_duration: quantile points have field "duration", the count/sum point does not.
      const text = "# TYPE rpc_duration summary\n" + 'rpc_duration{quantile="0.5"} 7\n' + "rpc_duration_sum 20\n" + "rpc_duration_count 3\n";
      const points = convertText(text, grouping("j", { duration: "d" }));
      const countSum = points.find((p) => "duration_count" in p.fields)!;
      const quantile = points.find((p) => "duration" in p.fields)!;
      expect(countSum.tags).to.deep.equal({ job: "j", duration: "d" });
      expect(quantile.tags).to.deep.equal({ job: "j", quantile: "0.5", tag_duration: "d" });
    });

    it("renaming the tag of a _count/_sum point does not change the metric's quantile and bucket points", () => {
      const summary = "# TYPE rpc_s summary\n" + 'rpc_s{quantile="0.5"} 7\n' + "rpc_s_sum 20\n" + "rpc_s_count 3\n";
      const sp = convertText(summary, grouping("j", { s_count: "c" }));
      expect(sp.map((p) => p.tags)).to.deep.equal([
        { job: "j", tag_s_count: "c" },
        { job: "j", s_count: "c", quantile: "0.5" },
      ]);

      const hist = "# TYPE rpc_h histogram\n" + 'rpc_h_bucket{le="+Inf"} 3\n' + "rpc_h_sum 20\n" + "rpc_h_count 3\n";
      const hp = convertText(hist, grouping("j", { h_sum: "s" }));
      expect(hp.map((p) => p.tags)).to.deep.equal([
        { job: "j", tag_h_sum: "s" },
        { job: "j", h_sum: "s", le: "+Inf" },
      ]);
    });

    it("le and quantile from the metric win over grouping labels of that name", () => {
      const hist = "# TYPE req_seconds histogram\n" + 'req_seconds_bucket{le="0.5"} 1\n' + 'req_seconds_bucket{le="+Inf"} 2\n' + "req_seconds_sum 1\nreq_seconds_count 2\n";
      const hp = convertText(hist, grouping("j", { le: "group", quantile: "group" }));
      expect(hp.filter((p) => "seconds_bucket" in p.fields).map((p) => p.tags.le)).to.deep.equal(["0.5", "+Inf"]);

      const sum = "# TYPE rpc_seconds summary\n" + 'rpc_seconds{quantile="0.9"} 4\n' + "rpc_seconds_sum 1\nrpc_seconds_count 2\n";
      const sp = convertText(sum, grouping("j", { le: "group", quantile: "group" }));
      expect(sp.filter((p) => "seconds" in p.fields).map((p) => p.tags.quantile)).to.deep.equal(["0.9"]);
    });
  });

  describe("fields by type", () => {
    for (const type of ["COUNTER", "GAUGE", "UNTYPED"] as const) {
      it(`${type.toLowerCase()}: one point per metric, field = value`, () => {
        const points = convert([family("disk_free_bytes", type, [{ labels: ["dev", "sda"], value: 12.5 }, { labels: ["dev", "sdb"], value: 0 }])]);
        expect(points).to.deep.equal([
          { measurement: "disk", tags: { job: "j", dev: "sda" }, fields: { free_bytes: 12.5 }, time: RECEIVED },
          { measurement: "disk", tags: { job: "j", dev: "sdb" }, fields: { free_bytes: 0 }, time: RECEIVED },
        ]);
      });
    }

    it("summary: a _count/_sum point and one point per quantile", () => {
      const fam = family("rpc_duration_seconds", "SUMMARY", [
        {
          labels: ["svc", "api"],
          summary: {
            count: 10,
            sum: 2.5,
            quantiles: [
              { quantile: 0.5, value: 0.2 },
              { quantile: 0.99, value: 0.9 },
              { quantile: 1e-5, value: 0.01 },
            ],
          },
        },
      ]);
      expect(convert([fam])).to.deep.equal([
        { measurement: "rpc", tags: { job: "j", svc: "api" }, fields: { duration_seconds_count: 10, duration_seconds_sum: 2.5 }, time: RECEIVED },
        { measurement: "rpc", tags: { job: "j", svc: "api", quantile: "0.5" }, fields: { duration_seconds: 0.2 }, time: RECEIVED },
        { measurement: "rpc", tags: { job: "j", svc: "api", quantile: "0.99" }, fields: { duration_seconds: 0.9 }, time: RECEIVED },
        { measurement: "rpc", tags: { job: "j", svc: "api", quantile: "1e-05" }, fields: { duration_seconds: 0.01 }, time: RECEIVED },
      ]);
    });

    it("histogram: a _count/_sum point and one point per bucket with le in Go's %g", () => {
      const bounds = [0.005, 1e-5, 100000, 1e6, 1, Infinity];
      const fam = family("http_request_seconds", "HISTOGRAM", [
        { labels: [], histogram: { count: 6, sum: 3.25, buckets: bounds.map((b, i) => ({ upperBound: b, count: i + 1 })), floatCounts: false } },
      ]);
      const points = convert([fam]);
      expect(points[0]).to.deep.equal({ measurement: "http", tags: { job: "j" }, fields: { request_seconds_count: 6, request_seconds_sum: 3.25 }, time: RECEIVED });
      expect(points.slice(1).map((p) => [p.tags.le, p.fields])).to.deep.equal([
        ["0.005", { request_seconds_bucket: 1 }],
        ["1e-05", { request_seconds_bucket: 2 }],
        ["100000", { request_seconds_bucket: 3 }],
        ["1e+06", { request_seconds_bucket: 4 }],
        ["1", { request_seconds_bucket: 5 }],
        ["+Inf", { request_seconds_bucket: 6 }],
      ]);
      expect(points).to.have.length(7);
      for (const p of points) expect(p.measurement).to.equal("http");
    });

    it('le="1.0" from a text body becomes le=1', () => {
      const text = "# TYPE lat histogram\n" + 'lat_bucket{le="1.0"} 3\n' + 'lat_bucket{le="+Inf"} 4\n' + "lat_sum 2\nlat_count 4\n";
      const points = convertText(text);
      const buckets = points.filter((p) => "lat_bucket" in p.fields);
      expect(buckets.map((p) => p.tags.le)).to.deep.equal(["1", "+Inf"]);
      // "lat" is a single word: measurement and field are both "lat".
      expect(points[0]).to.deep.include({ measurement: "lat", fields: { lat_count: 4, lat_sum: 2 } });
    });

    it("gauge histogram converts like a histogram", () => {
      const fam = family("queue_size", "GAUGE_HISTOGRAM", [
        { labels: ["q", "a"], histogram: { count: 5, sum: 40, buckets: [{ upperBound: 10, count: 2 }, { upperBound: Infinity, count: 5 }], floatCounts: false } },
      ]);
      expect(convert([fam])).to.deep.equal([
        { measurement: "queue", tags: { job: "j", q: "a" }, fields: { size_count: 5, size_sum: 40 }, time: RECEIVED },
        { measurement: "queue", tags: { job: "j", q: "a", le: "10" }, fields: { size_bucket: 2 }, time: RECEIVED },
        { measurement: "queue", tags: { job: "j", q: "a", le: "+Inf" }, fields: { size_bucket: 5 }, time: RECEIVED },
      ]);
    });

    it("several families of one push keep their order", () => {
      const points = convertText("a_x 1\nb_y 2\n");
      expect(points.map((p) => p.measurement)).to.deep.equal(["a", "b"]);
    });

    it("an empty push gives no points", () => {
      expect(convert([])).to.deep.equal([]);
    });
  });

  describe("NaN and infinities", () => {
    it("skips NaN and ±Inf counter, gauge and untyped values one by one", () => {
      const points = convertText(
        "# TYPE c_total counter\nc_total{i=\"1\"} NaN\nc_total{i=\"2\"} 5\n" + "# TYPE g_v gauge\ng_v{i=\"1\"} +Inf\ng_v{i=\"2\"} -Inf\ng_v{i=\"3\"} 7\n" + 'u_v{i="1"} NaN\nu_v{i="2"} 1\n',
      );
      expect(points.map((p) => [p.measurement, p.tags.i])).to.deep.equal([
        ["c", "2"],
        ["g", "3"],
        ["u", "2"],
      ]);
    });

    it("skips NaN quantile values and keeps the others", () => {
      const fam = family("rpc_s", "SUMMARY", [
        { labels: [], summary: { count: 1, sum: 1, quantiles: [{ quantile: 0.5, value: NaN }, { quantile: 0.9, value: 3 }, { quantile: 0.99, value: Infinity }] } },
      ]);
      const points = convert([fam]);
      expect(points.map((p) => p.tags.quantile)).to.deep.equal([undefined, "0.9"]);
    });

    it("a NaN sum drops only the sum field", () => {
      const summary = family("rpc_s", "SUMMARY", [{ labels: [], summary: { count: 4, sum: NaN, quantiles: [] } }]);
      expect(convert([summary])).to.deep.equal([{ measurement: "rpc", tags: { job: "j" }, fields: { s_count: 4 }, time: RECEIVED }]);

      const hist = family("rpc_h", "HISTOGRAM", [{ labels: [], histogram: { count: 4, sum: NaN, buckets: [{ upperBound: Infinity, count: 4 }], floatCounts: false } }]);
      const points = convert([hist]);
      expect(points[0].fields).to.deep.equal({ h_count: 4 });
      expect(points).to.have.length(2);
      expect(encodeBatch(points)).to.equal(`rpc,job=j h_count=4 ${RECEIVED}\nrpc,job=j,le=+Inf h_bucket=4 ${RECEIVED}\n`);
    });

    it("a NaN sum in a text body gives a writable point", () => {
      const points = convertText("# TYPE rpc_s summary\nrpc_s_sum NaN\nrpc_s_count 0\n");
      expect(points).to.have.length(1);
      expect(encodePoint(points[0])).to.equal(`rpc,job=j s_count=0 ${RECEIVED}`);
    });

    it("a point with nothing left is not emitted", () => {
      const summary = family("rpc_s", "SUMMARY", [{ labels: [], summary: { count: NaN, sum: Infinity, quantiles: [{ quantile: 0.5, value: 1 }] } }]);
      expect(convert([summary]).map((p) => p.fields)).to.deep.equal([{ s: 1 }]);

      const hist = family("rpc_h", "HISTOGRAM", [{ labels: [], histogram: { count: NaN, sum: NaN, buckets: [{ upperBound: 1, count: NaN }], floatCounts: true } }]);
      expect(convert([hist])).to.deep.equal([]);
    });

    it("a summary without count, sum or quantiles gives no point", () => {
      expect(convert([family("rpc_s", "SUMMARY", [{ labels: [], summary: { quantiles: [] } }])])).to.deep.equal([]);
    });
  });

  describe("timestamps", () => {
    const TS_MS = 1_700_000_000_123;
    const TS_NS = 1_700_000_000_123_000_000n;

    function everyKind(ts: number | undefined): MetricFamily[] {
      return [
        family("a_counter", "COUNTER", [{ labels: [], value: 1, timestampMs: ts }]),
        family("a_gauge", "GAUGE", [{ labels: [], value: 1, timestampMs: ts }]),
        family("a_untyped", "UNTYPED", [{ labels: [], value: 1, timestampMs: ts }]),
        family("a_summary", "SUMMARY", [{ labels: [], timestampMs: ts, summary: { count: 1, sum: 1, quantiles: [{ quantile: 0.5, value: 1 }] } }]),
        family("a_hist", "HISTOGRAM", [{ labels: [], timestampMs: ts, histogram: { count: 1, sum: 1, buckets: [{ upperBound: 1, count: 1 }], floatCounts: false } }]),
        family("a_ghist", "GAUGE_HISTOGRAM", [{ labels: [], timestampMs: ts, histogram: { count: 1, sum: 1, buckets: [{ upperBound: 1, count: 1 }], floatCounts: false } }]),
      ];
    }

    it("honor_timestamps uses timestamp_ms for every point, _count/_sum included", () => {
      const points = convert(everyKind(TS_MS));
      expect(points).to.have.length(9);
      expect(points.filter((p) => Object.keys(p.fields).some((k) => k.endsWith("_count")))).to.have.length(3);
      for (const p of points) expect(p.time, JSON.stringify(p.fields)).to.equal(TS_NS);
    });

    it("without honor_timestamps every point gets the receive time", () => {
      const points = convert(everyKind(TS_MS), grouping("j"), { honor_timestamps: false });
      expect(points).to.have.length(9);
      for (const p of points) expect(p.time, JSON.stringify(p.fields)).to.equal(RECEIVED);
    });

    it("a metric without a timestamp, or with one <= 0, gets the receive time", () => {
      for (const ts of [undefined, 0, -5]) {
        const points = convert(everyKind(ts));
        for (const p of points) expect(p.time, `timestampMs ${ts}`).to.equal(RECEIVED);
      }
    });

    it("each metric keeps its own timestamp", () => {
      const points = convertText("app_a 1 1000\napp_a{x=\"y\"} 2\napp_b 3 2500\n");
      expect(points.map((p) => p.time)).to.deep.equal([1_000_000_000n, RECEIVED, 2_500_000_000n]);
    });

    it("timestamps from a text body reach summary _count/_sum points", () => {
      const text = "# TYPE rpc_s summary\n" + 'rpc_s{quantile="0.5"} 1 1700000000123\n' + "rpc_s_sum 2 1700000000123\n" + "rpc_s_count 3 1700000000123\n";
      const points = convertText(text);
      expect(points).to.have.length(2);
      for (const p of points) expect(p.time).to.equal(TS_NS);
    });
  });

  describe("straight into line protocol (LineWriter)", () => {
    function random(seed: number): () => number {
      return () => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed / 2147483648;
      };
    }

    // Names that clash with fields ("total", "count"...), repeat, sort around le/quantile, or need escaping.
    const NAMES = ["a", "b", "job", "le", "quantile", "total", "total_count", "total_sum", "total_bucket", "tag_total", "x y", "k=v", "z,", "é", "__proto__", "constructor"];
    const VALUES = ["", "v", "a b", "c,d", "e=f", "back\\", "\\\\", "line\nbreak", "tab\t", "quote\"", "日本", "😀", "\ud800", "0.5"];
    const NUMBERS = [0, -0, 1, 42, -7, 2 ** 40 + 3, 2 ** 53, 1e21, 0.25, -1.5e-9, 3.14159, NaN, Infinity, -Infinity];

    function pick<T>(rnd: () => number, from: readonly T[]): T {
      return from[Math.floor(rnd() * from.length)];
    }

    function labels(rnd: () => number): string[] {
      const out: string[] = [];
      for (let i = Math.floor(rnd() * 5); i > 0; i--) out.push(pick(rnd, NAMES), pick(rnd, VALUES));
      return out;
    }

    function metric(rnd: () => number, type: MetricFamily["type"]): Metric {
      const m: Metric = { labels: labels(rnd) };
      if (rnd() < 0.3) m.timestampMs = pick(rnd, [1700000000123, 0, -1, 5]);
      const n = () => pick(rnd, NUMBERS);
      if (type === "SUMMARY") m.summary = { count: rnd() < 0.8 ? n() : undefined, sum: rnd() < 0.8 ? n() : undefined, quantiles: [0.5, 0.9, 0.99].map((q) => ({ quantile: q, value: n() })) };
      else if (type === "HISTOGRAM" || type === "GAUGE_HISTOGRAM") {
        m.histogram = { count: rnd() < 0.8 ? n() : undefined, sum: rnd() < 0.8 ? n() : undefined, buckets: [0.1, 1, 1e-5, Infinity].map((upperBound) => ({ upperBound, count: n() })), floatCounts: false };
      } else m.value = n();
      return m;
    }

    function families(rnd: () => number): MetricFamily[] {
      const types: MetricFamily["type"][] = ["COUNTER", "GAUGE", "UNTYPED", "SUMMARY", "HISTOGRAM", "GAUGE_HISTOGRAM"];
      return Array.from({ length: 8 }, (_, i) => {
        const type = pick(rnd, types);
        return family(pick(rnd, ["app_total", "app_x", "a b_total", "_app_total", "t", "app_é"]) + (i % 2 ? "" : `_${i}`), type, Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => metric(rnd, type)));
      });
    }

    function bothWays(fams: MetricFamily[], group: Map<string, string>, o: Partial<ConvertOptions>): { expected: Buffer; written: Buffer } {
      const conv = new Converter({ ...DEFAULTS, ...o });
      const expected = Buffer.concat(new LineEncoder().encodeChunks(conv.convert(fams, group, RECEIVED)));
      const writer = new LineWriter(5);
      conv.write(fams, group, RECEIVED, writer);
      return { expected, written: Buffer.concat(writer.finish()) };
    }

    for (let seed = 1; seed <= 30; seed++) {
      it(`writes the lines LineEncoder writes for convert()'s points (random push ${seed})`, () => {
        const rnd = random(seed);
        const group = new Map(labels(rnd).map((v, i, a) => (i % 2 ? undefined : [v, a[i + 1]])).filter((e): e is [string, string] => e !== undefined));
        group.set("job", pick(rnd, ["j", "a b", ""]));
        const o: Partial<ConvertOptions> = { keep_exist_metric_name: rnd() < 0.3, honor_timestamps: rnd() < 0.7, tags: Object.fromEntries([[pick(rnd, NAMES), pick(rnd, VALUES)], [pick(rnd, NAMES), pick(rnd, VALUES)]]) };
        if (rnd() < 0.2) o.measurement_name = "prom,x";
        const { expected, written } = bothWays(families(rnd), group, o);
        expect(written.toString("latin1")).to.equal(expected.toString("latin1"));
      });
    }

    it("a field named like an inherited property (toString) clashes with no tag", () => {
      const fams = [family("a_toString", "GAUGE", [{ labels: ["x", "1"], value: 2 }]), family("b_constructor", "SUMMARY", [{ labels: [], summary: { count: 1, sum: 1, quantiles: [] } }])];
      const { expected, written } = bothWays(fams, grouping("j", {}), {});
      expect(written.toString()).to.equal(expected.toString());
      expect(written.toString().split("\n")).to.deep.equal([`a,job=j,x=1 toString=2 ${RECEIVED}`, `b,job=j constructor_count=1,constructor_sum=1 ${RECEIVED}`, ""]);
    });

    it("keeps the rules for repeated labels, __proto__ and clashing names", () => {
      const fams = [
        family("app_total", "COUNTER", [
          { labels: ["b", "1", "a", "x", "a", "y"], value: 1 },
          { labels: ["__proto__", "p", "total", "t", "tag_total", "u"], value: -0 },
        ]),
        family("rpc_total", "SUMMARY", [{ labels: ["total_count", "c", "quantile", "q"], summary: { count: 3, sum: 2, quantiles: [{ quantile: 0.5, value: 1 }] } }]),
        family("h_s", "HISTOGRAM", [{ labels: ["le", "l", "s_bucket", "b"], histogram: { count: 2 ** 53, sum: NaN, buckets: [{ upperBound: 0.1, count: 1 }], floatCounts: false } }]),
      ];
      const { expected, written } = bothWays(fams, grouping("j", { a: "g", s_sum: "gs" }), { tags: { total: "static", z: "" } });
      expect(written.toString()).to.equal(expected.toString());
      expect(written.toString().split("\n")).to.deep.equal([
        // the later of two "a" labels; a field's tag renamed (or dropped where tag_<key> exists)
        `app,a=y,b=1,job=j,s_sum=gs,tag_total=static total=1 ${RECEIVED}`,
        `app,a=g,job=j,s_sum=gs,tag_total=u total=-0 ${RECEIVED}`,
        `rpc,a=g,job=j,quantile=q,s_sum=gs,tag_total_count=c,total=static total_count=3,total_sum=2 ${RECEIVED}`,
        `rpc,a=g,job=j,quantile=0.5,s_sum=gs,tag_total=static,total_count=c total=1 ${RECEIVED}`,
        `h,a=g,job=j,le=l,s_bucket=b,s_sum=gs,total=static s_count=9007199254740992 ${RECEIVED}`,
        `h,a=g,job=j,le=0.1,s_sum=gs,tag_s_bucket=b,total=static s_bucket=1 ${RECEIVED}`,
        "",
      ]);
    });
  });
});
