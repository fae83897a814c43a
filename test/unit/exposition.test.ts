// The scrape side (negotiate() in mediatypes.ts, the input's gather(), the writers in
// write.ts): Accept negotiation, gather() ordering as the reference's client_golang gathers
// (notes/reference-store.md §1), the text 0.0.4 spelling, and the three renderers read back by
// our own parsers.
import { expect } from "chai";
import { Gauge, Registry } from "prom-client";
import { negotiate as negotiateScrape } from "../../plugins/formats/prometheus/mediatypes.ts";

const negotiate = (accept: string | undefined) => negotiateScrape(accept).format;
import { renderOpenMetrics, renderProtobuf, renderText } from "../../plugins/formats/prometheus/write.ts";
import { gather } from "../../plugins/inputs/pushgateway/store/gather.ts";
import type { Metric, MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { parseOpenMetrics } from "../../plugins/formats/prometheus/parse-openmetrics.ts";
import { ownFamilies } from "../../plugins/inputs/pushgateway/own-metrics.ts";
import { MetricFamilyMessage } from "../../plugins/formats/prometheus/metrics-proto.ts";
import { parseProtobuf } from "../../plugins/formats/prometheus/parse-protobuf.ts";
import { GroupStore } from "../../plugins/inputs/pushgateway/store/store.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";

// ---- Helpers ---------------------------------------------------------------------------------

type Labels = Record<string, string>;

function text(body: string): MetricFamily[] {
  return parseText(Buffer.from(body, "utf8"));
}

function newStore(): GroupStore {
  return new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
}

function put(store: GroupStore, labels: Labels, body: string | MetricFamily[], timeMs = 1000): void {
  store.apply({ replaceAll: true, grouping: new Map(Object.entries(labels)), families: typeof body === "string" ? text(body) : body, timeMs });
}

/** The part of a text exposition that belongs to one family (its HELP, TYPE and sample lines). */
function familyText(families: MetricFamily[], name: string): string {
  return renderText(families.filter((f) => f.name === name));
}

/** Families without an undefined help (gather() copies help as it is; parsers leave it out). */
function normalize(families: readonly MetricFamily[]): MetricFamily[] {
  return families.map((f) => ({ name: f.name, type: f.type, ...(f.help ? { help: f.help } : {}), metrics: f.metrics.map((m) => structuredClone(m)) }));
}

function labelText(labels: readonly string[]): string {
  const pairs: string[] = [];
  for (let i = 0; i < labels.length; i += 2) pairs.push(`${labels[i]}=${JSON.stringify(labels[i + 1])}`);
  return `{${pairs.sort().join(",")}}`;
}

/**
 * Every sample as the text format names it: name{labels sorted} value @timestamp. Gauge
 * histograms are left out (text and OpenMetrics name their count and sum differently).
 */
function samples(families: readonly MetricFamily[]): string[] {
  const out: string[] = [];
  const add = (name: string, labels: readonly string[], value: number | undefined, m: Metric) => out.push(`${name}${labelText(labels)} ${value}${m.timestampMs === undefined ? "" : ` @${m.timestampMs}`}`);
  for (const f of families) {
    for (const m of f.metrics) {
      if (f.type === "SUMMARY") {
        for (const q of m.summary!.quantiles) add(f.name, [...m.labels, "quantile", String(q.quantile)], q.value, m);
        add(f.name + "_sum", m.labels, m.summary!.sum, m);
        add(f.name + "_count", m.labels, m.summary!.count, m);
      } else if (f.type === "HISTOGRAM") {
        for (const b of m.histogram!.buckets) add(f.name + "_bucket", [...m.labels, "le", String(b.upperBound)], b.count, m);
        add(f.name + "_sum", m.labels, m.histogram!.sum, m);
        add(f.name + "_count", m.labels, m.histogram!.count, m);
      } else if (f.type !== "GAUGE_HISTOGRAM") {
        add(f.name, m.labels, m.value, m);
      }
    }
  }
  return out.sort();
}

/** A store holding every type, odd values, escapes and a timestamp. */
function richStore(): GroupStore {
  const store = newStore();
  put(
    store,
    { job: "j1" },
    `# HELP requests_total Requests served.
# TYPE requests_total counter
requests_total{code="200"} 5
requests_total{code="500"} 1e+06
# HELP errors Errors, a counter without _total.
# TYPE errors counter
errors 3
# TYPE temp gauge
temp{room="a\\\\b \\"q\\" \\nnl",utf="Προμηθεύς"} -1.5
temp{room="nan"} NaN
temp{room="inf"} +Inf
temp{room="minf"} -Inf
untyped_thing 0.1 1700000000123
# HELP lat Latency.
# TYPE lat summary
lat{quantile="0.5"} 1.5
lat{quantile="0.99"} NaN
lat_sum 10.25
lat_count 7
# TYPE size histogram
size_bucket{le="0.1"} 1
size_bucket{le="1"} 3
size_bucket{le="+Inf"} 4
size_sum 2.5e-07
size_count 4
# TYPE fsize histogram
fsize_bucket{le="1"} 0.5
fsize_bucket{le="+Inf"} 1.5
fsize_sum 2
fsize_count 1.5
`,
    1_796_224_907_993,
  );
  put(store, { job: "j2", instance: "i1" }, '# TYPE requests_total counter\nrequests_total{code="200"} 7\n# TYPE temp gauge\ntemp{room="b"} 21\n', 1_796_224_907_979);
  return store;
}

// ---- Tests -----------------------------------------------------------------------------------

describe("exposition", () => {
  describe("negotiate", () => {
    it("OpenMetrics for the Accept header of Prometheus 2.42", () => {
      expect(negotiate("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")).to.equal("openmetrics");
    });

    it("delimited protobuf when Prometheus asks for it first (native histograms)", () => {
      expect(
        negotiate("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
      ).to.equal("protobuf");
      expect(negotiate("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited")).to.equal("protobuf");
    });

    it("by q, whatever the order, and in order of appearance on ties", () => {
      expect(negotiate("text/plain;version=0.0.4;q=0.3,application/openmetrics-text;version=1.0.0;q=0.9")).to.equal("openmetrics");
      expect(negotiate("text/plain;version=0.0.4,application/openmetrics-text;version=1.0.0")).to.equal("text");
      expect(negotiate("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4")).to.equal("openmetrics");
      expect(negotiate("application/openmetrics-text;version=1.0.0;q=0,text/plain")).to.equal("text");
    });

    it("plain text for text/plain, for nothing, for other types and for garbage", () => {
      for (const accept of [undefined, "", "text/plain", "text/plain;version=0.0.4", "*/*", "application/json", "text/html,application/xhtml+xml", "garbage", ";;;", "a/b;=c", "text/plain;version=9.9.9", "application/openmetrics-text;version=2.0.0"]) {
        expect(negotiate(accept), String(accept)).to.equal("text");
      }
    });

    it("not protobuf in any other encoding than delimited", () => {
      for (const encoding of ["text", "compact-text"]) {
        expect(negotiate(`application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=${encoding}`), encoding).to.equal("text");
      }
      expect(negotiate("application/vnd.google.protobuf;proto=other.Message;encoding=delimited")).to.equal("text");
    });

    it("reads type and parameter names case-insensitively", () => {
      expect(negotiate("Application/OpenMetrics-Text; Version=1.0.0")).to.equal("openmetrics");
    });
  });

  describe("gather", () => {
    it("sorts families by name in byte order, own families among them", async () => {
      const store = newStore();
      put(store, { job: "a" }, "qq 1\nha 1\naaa 1\na 1\nB 1\n# TYPE go_threads gauge\ngo_threads 3\n");
      const registry = new Registry();
      new Gauge({ name: "pushgateway_build_info", help: "Build.", registers: [registry] }).set(1);
      new Gauge({ name: "process_cpu_seconds_total", help: "CPU.", registers: [registry] }).set(2);
      const names = gather(store.all(), await ownFamilies(registry)).map((f) => f.name);
      expect(names).to.deep.equal(["B", "a", "aaa", "go_threads", "ha", "process_cpu_seconds_total", "push_failure_time_seconds", "push_time_seconds", "pushgateway_build_info", "qq"]);
    });

    it("sorts metrics by number of labels, then label values position by position (reference §1, exact)", () => {
      const store = newStore();
      put(store, { job: "s3" }, 'm{a="1"} 1\n');
      put(store, { job: "s0" }, 'm{zz="0"} 1\n');
      put(store, { job: "s5" }, "m 1\n");
      put(store, { job: "s2" }, 'm{b="0"} 2\n');
      put(store, { job: "s4" }, 'm{a="0"} 1\n');
      put(store, { job: "s1" }, 'm{b="0"} 2\n');
      expect(familyText(gather(store.all()), "m")).to.equal(
        `# TYPE m untyped
m{instance="",job="s5"} 1
m{instance="",job="s0",zz="0"} 1
m{b="0",instance="",job="s1"} 2
m{b="0",instance="",job="s2"} 2
m{a="0",instance="",job="s4"} 1
m{a="1",instance="",job="s3"} 1
`,
      );
    });

    it("puts an own unlabelled metric before the pushed ones", async () => {
      const store = newStore();
      put(store, { job: "g" }, "# TYPE go_goroutines gauge\ngo_goroutines 5\n");
      const registry = new Registry();
      new Gauge({ name: "go_goroutines", help: "Goroutines.", registers: [registry] }).set(10);
      const family = gather(store.all(), await ownFamilies(registry)).find((f) => f.name === "go_goroutines")!;
      expect(renderText([family]).split("\n").filter((l) => !l.startsWith("#"))).to.deep.equal(["go_goroutines 10", 'go_goroutines{instance="",job="g"} 5', ""]);
    });

    it("writes HELP only when it is not empty, escaping backslash and newline", () => {
      const store = newStore();
      put(store, { job: "h" }, "# HELP hy \nhy 1\n# HELP hh Help one.\nhh 1\n# HELP he a\\\\b\\nc \"q\"\nhe 1\nhn 1\n");
      const families = gather(store.all());
      expect(familyText(families, "hy")).to.equal('# TYPE hy untyped\nhy{instance="",job="h"} 1\n');
      expect(familyText(families, "hn")).to.equal('# TYPE hn untyped\nhn{instance="",job="h"} 1\n');
      expect(familyText(families, "hh")).to.equal('# HELP hh Help one.\n# TYPE hh untyped\nhh{instance="",job="h"} 1\n');
      expect(familyText(families, "he")).to.equal('# HELP he a\\\\b\\nc "q"\n# TYPE he untyped\nhe{instance="",job="h"} 1\n');
    });

    it("escapes label values and passes UTF-8 through", () => {
      const store = newStore();
      put(store, { job: "e" }, 'm{v="a\\\\b \\"q\\" \\nnl",u="Προμηθεύς"} 1\n');
      expect(familyText(gather(store.all()), "m")).to.equal('# TYPE m untyped\nm{instance="",job="e",u="Προμηθεύς",v="a\\\\b \\"q\\" \\nnl"} 1\n');
    });

    it("adds push_time_seconds and push_failure_time_seconds per group, with instance=\"\" (reference §1, exact)", () => {
      const store = newStore();
      put(store, { job: "ja" }, "", 1_796_224_907_993);
      put(store, { job: "ja", instance: "i1" }, "", 1_796_224_907_979);
      const families = gather(store.all());
      expect(families.map((f) => f.name)).to.deep.equal(["push_failure_time_seconds", "push_time_seconds"]);
      expect(renderText(families)).to.equal(
        `# HELP push_failure_time_seconds Last Unix time when changing this group in the Pushgateway failed.
# TYPE push_failure_time_seconds gauge
push_failure_time_seconds{instance="",job="ja"} 0
push_failure_time_seconds{instance="i1",job="ja"} 0
# HELP push_time_seconds Last Unix time when changing this group in the Pushgateway succeeded.
# TYPE push_time_seconds gauge
push_time_seconds{instance="",job="ja"} 1.796224907993e+09
push_time_seconds{instance="i1",job="ja"} 1.796224907979e+09
`,
      );
    });

    it("shows the failure time of a refused push", () => {
      const store = newStore();
      put(store, { job: "a" }, "# TYPE x counter\nx 1\n", 1000);
      put(store, { job: "b" }, "", 1000);
      expect(() => put(store, { job: "b" }, "# TYPE x gauge\nx 1\n", 2500)).to.throw();
      expect(familyText(gather(store.all()), "push_failure_time_seconds").split("\n").slice(2)).to.deep.equal(['push_failure_time_seconds{instance="",job="a"} 0', 'push_failure_time_seconds{instance="",job="b"} 2.5', ""]);
    });

    it("gives nothing for an empty store, and leaves out families without metrics", () => {
      expect(gather(newStore().all())).to.deep.equal([]);
      expect(renderText([])).to.equal("");
      const store = newStore();
      const empty = parseProtobuf(Buffer.from(MetricFamilyMessage.encodeDelimited(MetricFamilyMessage.fromObject({ name: "e", type: "GAUGE", metric: [] })).finish()));
      expect(empty.map((f) => f.name)).to.deep.equal(["e"]);
      put(store, { job: "z" }, empty);
      expect(gather(store.all()).map((f) => f.name)).to.deep.equal(["push_failure_time_seconds", "push_time_seconds"]);
    });

    it("does not change the stored families", () => {
      const store = richStore();
      // As a reader sees them (metrics are built when first read, which is no change).
      const families = () => [...store.all()].map((g) => structuredClone([...g.families].map(([name, sf]) => [name, sf.family])));
      const before = families();
      const one = renderText(gather(store.all()));
      const after = families();
      expect(after).to.deep.equal(before);
      expect(renderText(gather(store.all()))).to.equal(one);
    });
  });

  describe("text 0.0.4", () => {
    it("formats values as Go's %g", () => {
      const store = newStore();
      const values = ["1e+06", "1.2345678e+07", "100000", "1e-06", "0.1", "1.23456789012e+11", "1e+21", "2.5e-07", "NaN", "+Inf", "-Inf", "-0.5", "0"];
      put(store, { job: "v" }, "# TYPE g gauge\n" + values.map((v, i) => `g{i="${String(i).padStart(2, "0")}"} ${v === "1e+06" ? "1000000" : v === "1.2345678e+07" ? "12345678" : v === "1e+21" ? "1000000000000000000000" : v}\n`).join(""));
      const out = familyText(gather(store.all()), "g").split("\n").slice(1, -1);
      expect(out.map((l) => l.split(" ")[1])).to.deep.equal(values);
    });

    it("writes summaries and histograms as usual, adding the +Inf bucket when it is missing", () => {
      const store = newStore();
      put(store, { job: "j" }, '# TYPE h histogram\nh_bucket{le="1"} 2\nh_sum 3\nh_count 5\n# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 2\ns_count 3\n');
      const families = gather(store.all());
      expect(familyText(families, "h")).to.equal(
        '# TYPE h histogram\nh_bucket{instance="",job="j",le="1"} 2\nh_bucket{instance="",job="j",le="+Inf"} 5\nh_sum{instance="",job="j"} 3\nh_count{instance="",job="j"} 5\n',
      );
      expect(familyText(families, "s")).to.equal('# TYPE s summary\ns{instance="",job="j",quantile="0.5"} 1\ns_sum{instance="",job="j"} 2\ns_count{instance="",job="j"} 3\n');
      // an +Inf bucket already there is not doubled
      const rich = familyText(gather(richStore().all()), "size");
      expect(rich.match(/le="\+Inf"/g)).to.have.length(1);
    });

    it("parsed back by our text parser gives the gathered families", () => {
      const families = gather(richStore().all());
      expect(normalize(parseText(Buffer.from(renderText(families), "utf8")))).to.deep.equal(normalize(families));
    });
  });

  describe("delimited protobuf", () => {
    it("parsed back by our protobuf parser gives the gathered families", () => {
      const store = richStore();
      put(store, { job: "gh" }, '# TYPE gh gaugehistogram\ngh_bucket{le="2"} 1\ngh_bucket{le="+Inf"} 3\ngh_sum 1\ngh_count 3\n');
      const families = gather(store.all());
      const back = parseProtobuf(renderProtobuf(families));
      expect(normalize(back)).to.deep.equal(normalize(families));
      expect(back.find((f) => f.name === "gh")!.type).to.equal("GAUGE_HISTOGRAM");
    });

    it("writes the help only when there is one", () => {
      const store = newStore();
      put(store, { job: "j" }, "# HELP a \na 1\n# HELP b B.\nb 1\n");
      const back = parseProtobuf(renderProtobuf(gather(store.all())));
      expect(back.find((f) => f.name === "a")).not.to.have.property("help");
      expect(back.find((f) => f.name === "b")!.help).to.equal("B.");
    });
  });

  describe("OpenMetrics 1.0", () => {
    it("gives the same series as the text output, and ends with # EOF", () => {
      const families = gather(richStore().all());
      const om = renderOpenMetrics(families);
      expect(om.endsWith("\n# EOF\n")).to.equal(true);
      const back = parseOpenMetrics(Buffer.from(om, "utf8"));
      const fromText = parseText(Buffer.from(renderText(families), "utf8"));
      expect(samples(back)).to.deep.equal(samples(fromText));
      expect(back.map((f) => f.name)).to.deep.equal(fromText.map((f) => f.name));
    });

    it("writes a counter named x_total as counter x, one without _total as unknown", () => {
      const families = gather(richStore().all());
      const om = renderOpenMetrics(families);
      expect(om).to.contain('# TYPE requests counter\n# HELP requests Requests served.\nrequests_total{code="200",instance="",job="j1"} 5\n');
      expect(om).to.contain('# TYPE errors unknown\n# HELP errors Errors, a counter without _total.\nerrors{instance="",job="j1"} 3\n');
      const back = parseOpenMetrics(Buffer.from(om, "utf8"));
      expect(back.find((f) => f.name === "requests_total")!.type).to.equal("COUNTER");
      expect(back.find((f) => f.name === "errors")!.type).to.equal("UNTYPED");
      // timestamps are seconds in OpenMetrics
      expect(om).to.contain('untyped_thing{instance="",job="j1"} 0.1 1700000000.123\n');
      expect(back.find((f) => f.name === "untyped_thing")!.metrics[0].timestampMs).to.equal(1700000000123);
    });

    it("writes counter x_total as unknown when a family x exists too", () => {
      const store = newStore();
      put(store, { job: "j" }, "# TYPE x gauge\nx 1\n# TYPE x_total counter\nx_total 2\n");
      const families = gather(store.all());
      const om = renderOpenMetrics(families);
      expect(om).to.contain("# TYPE x_total unknown\n");
      const back = parseOpenMetrics(Buffer.from(om, "utf8"));
      expect(samples(back)).to.deep.equal(samples(parseText(Buffer.from(renderText(families), "utf8"))));
    });

    it("writes gauge histograms with _gsum and _gcount", () => {
      const store = newStore();
      put(store, { job: "j" }, '# TYPE gh gaugehistogram\ngh_bucket{le="+Inf"} 3\ngh_sum 1\ngh_count 3\n');
      const om = renderOpenMetrics(gather(store.all()));
      expect(om).to.contain('# TYPE gh gaugehistogram\ngh_bucket{instance="",job="j",le="+Inf"} 3\ngh_gsum{instance="",job="j"} 1\ngh_gcount{instance="",job="j"} 3\n');
      const back = parseOpenMetrics(Buffer.from(om, "utf8")).find((f) => f.name === "gh")!;
      expect(back.type).to.equal("GAUGE_HISTOGRAM");
      expect(back.metrics[0].histogram!.count).to.equal(3);
    });

    it("stays valid OpenMetrics when a pushed counter is NaN or negative (text 0.0.4 allows both)", () => {
      const store = newStore();
      put(store, { job: "j" }, "# TYPE bad_total counter\nbad_total NaN\n# TYPE neg_total counter\nneg_total -1\n# TYPE good_total counter\ngood_total 1\n");
      const families = gather(store.all());
      const om = renderOpenMetrics(families);
      let back: MetricFamily[] = [];
      expect(() => (back = parseOpenMetrics(Buffer.from(om, "utf8"))), om).not.to.throw();
      expect(samples(back)).to.deep.equal(samples(parseText(Buffer.from(renderText(families), "utf8"))));
    });
  });
});
