// The read side of the groups for people and tools: the JSON API's group objects (api.ts,
// notes/reference-store.md §7), its RFC 3339 times, and the status page (status-page.ts) with
// the delete URL of each group read back by our own grouping-key parser.
import { expect } from "chai";
import { goJson, jsonGroup as groupMap, rfc3339 } from "../../plugins/inputs/pushgateway/http/api.ts";
import type { MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { parseGroupingPath } from "../../plugins/inputs/pushgateway/http/grouping.ts";
import { groupPath, renderStatusPage } from "../../plugins/inputs/pushgateway/http/status-page.ts";
import { groupKey, GroupStore, sortedGrouping, type Group } from "../../plugins/inputs/pushgateway/store/store.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";
import { parseProtobuf } from "../../plugins/formats/prometheus/parse-protobuf.ts";
import { encodeFamilies } from "../support/protobuf.ts";

/** A group's object in /api/v1/metrics, exactly as written. */
const jsonText = (g: Parameters<typeof groupMap>[0]): string => goJson(groupMap(g));
/** The same, read back (key order of integer-like keys is then JavaScript's, not the wire's). */
const jsonGroup = (g: Parameters<typeof groupMap>[0]): Record<string, any> => JSON.parse(jsonText(g));

// ---- Helpers ---------------------------------------------------------------------------------

type Labels = Record<string, string>;

function text(body: string): MetricFamily[] {
  return parseText(Buffer.from(body, "utf8"));
}

function newStore(): GroupStore {
  return new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
}

function put(store: GroupStore, labels: Labels, body: string, timeMs: number, replaceAll = true): void {
  store.apply({ replaceAll, grouping: new Map(Object.entries(labels)), families: text(body), timeMs });
}

function groupOf(store: GroupStore, labels: Labels): Group {
  const g = store.get(groupKey(sortedGrouping(new Map(Object.entries(labels)))));
  expect(g, JSON.stringify(labels)).not.to.equal(undefined);
  return g!;
}

/** The push of the reference's example (§7), at the example's time truncated to milliseconds. */
const EXAMPLE_MS = Date.parse("2026-12-02T15:25:06.942Z");
const EXAMPLE_BODY = `# HELP c A counter.
# TYPE c counter
c 1e+21
# TYPE g gauge
g 100000
# HELP h A histogram.
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="1"} 3
h_bucket{le="+Inf"} 4
h_sum 2.5e-07
h_count 4
# HELP s A summary.
# TYPE s summary
s{quantile="0.5"} 1.5
s{quantile="0.99"} NaN
s_sum 10.25
s_count 7
u 0.1
`;

/**
 * The reference's answer for that group, verbatim from the notes, with its nanosecond push time
 * as our millisecond one.
 */
const REFERENCE_GROUP = `{"c":{"time_stamp":"2026-12-02T15:25:06.942749334Z","type":"COUNTER","help":"A counter.","metrics":[{"labels":{"instance":"i1","job":"js"},"value":"1e+21"}]},"g":{"time_stamp":"2026-12-02T15:25:06.942749334Z","type":"GAUGE","metrics":[{"labels":{"instance":"i1","job":"js"},"value":"100000"}]},"h":{"time_stamp":"2026-12-02T15:25:06.942749334Z","type":"HISTOGRAM","help":"A histogram.","metrics":[{"buckets":{"+Inf":"4","0.1":"1","1":"3"},"count":"4","labels":{"instance":"i1","job":"js"},"sum":"2.5e-07"}]},"labels":{"instance":"i1","job":"js"},"last_push_successful":true,"push_failure_time_seconds":{"time_stamp":"2026-12-02T15:25:06.942749334Z","type":"GAUGE","help":"Last Unix time when changing this group in the Pushgateway failed.","metrics":[{"labels":{"instance":"i1","job":"js"},"value":"0"}]},"push_time_seconds":{"time_stamp":"2026-12-02T15:25:06.942749334Z","type":"GAUGE","help":"Last Unix time when changing this group in the Pushgateway succeeded.","metrics":[{"labels":{"instance":"i1","job":"js"},"value":"1.7962251069427495e+09"}]},"s":{"time_stamp":"2026-12-02T15:25:06.942749334Z","type":"SUMMARY","help":"A summary.","metrics":[{"count":"7","labels":{"instance":"i1","job":"js"},"quantiles":{"0.5":"1.5","0.99":"NaN"},"sum":"10.25"}]},"u":{"time_stamp":"2026-12-02T15:25:06.942749334Z","type":"UNTYPED","metrics":[{"labels":{"instance":"i1","job":"js"},"value":"0.1"}]}}`
  .replaceAll("2026-12-02T15:25:06.942749334Z", "2026-12-02T15:25:06.942Z")
  .replace("1.7962251069427495e+09", "1.796225106942e+09");

/**
 * The reference's JSON for one family of the example group, cut out of the text (not parsed
 * and written again: JavaScript objects put integer-like keys such as "1" first).
 */
function referenceFamily(name: string): string {
  const start = REFERENCE_GROUP.indexOf(`"${name}":{`);
  expect(start, name).to.be.greaterThan(0);
  const from = start + name.length + 3;
  let depth = 0;
  let quoted = false;
  for (let i = from; i < REFERENCE_GROUP.length; i++) {
    const c = REFERENCE_GROUP[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "{" || c === "[") depth++;
    else if ((c === "}" || c === "]") && --depth === 0) return REFERENCE_GROUP.slice(from, i + 1);
  }
  throw new Error(`family ${name} not found`);
}

function exampleGroup(): Group {
  const store = newStore();
  put(store, { job: "js", instance: "i1" }, EXAMPLE_BODY, EXAMPLE_MS);
  return groupOf(store, { job: "js", instance: "i1" });
}

/** One family of jsonGroup() as the API writes it. */
function familyJson(g: Group, name: string): string {
  return goJson(groupMap(g).entries.find(([k]) => k === name)![1]);
}

// ---- Tests -----------------------------------------------------------------------------------

describe("group API and status page", () => {
  describe("jsonGroup", () => {
    it("matches the reference's example group byte for byte (§7)", () => {
      expect(jsonText(exampleGroup())).to.equal(REFERENCE_GROUP);
    });

    for (const name of ["c", "g", "s", "u", "push_time_seconds", "push_failure_time_seconds"]) {
      it(`matches the reference for family ${name}`, () => {
        expect(familyJson(exampleGroup(), name)).to.equal(referenceFamily(name));
      });
    }

    it("matches the reference for the histogram (bucket keys in Go's sorted map order)", () => {
      expect(familyJson(exampleGroup(), "h")).to.equal(referenceFamily("h"));
    });

    it("sorts the group's keys: families, labels and last_push_successful interleaved", () => {
      const store = newStore();
      put(store, { job: "k" }, "zz 1\nlast 1\naa 1\nlabelz 1\nla 1\n", 1000);
      expect(Object.keys(jsonGroup(groupOf(store, { job: "k" })))).to.deep.equal(["aa", "la", "labels", "labelz", "last", "last_push_successful", "push_failure_time_seconds", "push_time_seconds", "zz"]);
    });

    it("writes histogram counts of a classic histogram as integers, as Go prints a uint64", () => {
      const store = newStore();
      put(store, { job: "big" }, '# TYPE h histogram\nh_bucket{le="1"} 1000000\nh_bucket{le="+Inf"} 12345678\nh_sum 1\nh_count 12345678\n', 1000);
      const metric = (jsonGroup(groupOf(store, { job: "big" })).h as { metrics: Record<string, unknown>[] }).metrics[0];
      expect(metric.count).to.equal("12345678");
      expect(metric.buckets).to.deep.equal({ "+Inf": "12345678", "1": "1000000" });
    });

    it("writes the counts of a float histogram as floats", () => {
      const store = newStore();
      put(store, { job: "f" }, '# TYPE h histogram\nh_bucket{le="+Inf"} 1.5\nh_sum 1\nh_count 1.5\n', 1000);
      const metric = (jsonGroup(groupOf(store, { job: "f" })).h as { metrics: Record<string, unknown>[] }).metrics[0];
      expect(metric.count).to.equal("1.5");
      expect(metric.buckets).to.deep.equal({ "+Inf": "1.5" });
    });

    it("leaves help out when it is empty, and keeps metrics in pushed order", () => {
      const store = newStore();
      put(store, { job: "o" }, '# HELP m \n# TYPE m gauge\nm{a="2"} 1\nm{a="1"} 2\nm{a="3"} 3\n', 1000);
      expect(familyJson(groupOf(store, { job: "o" }), "m")).to.equal(
        '{"time_stamp":"1970-01-01T00:00:01Z","type":"GAUGE","metrics":[{"labels":{"a":"2","instance":"","job":"o"},"value":"1"},{"labels":{"a":"1","instance":"","job":"o"},"value":"2"},{"labels":{"a":"3","instance":"","job":"o"},"value":"3"}]}',
      );
    });

    it("gives the group the grouping labels only; its metrics get instance=\"\"", () => {
      const store = newStore();
      put(store, { job: "n", zone: "z" }, "m 1\n", 1000);
      const json = jsonGroup(groupOf(store, { job: "n", zone: "z" }));
      expect(JSON.stringify(json.labels)).to.equal('{"job":"n","zone":"z"}');
      expect(JSON.stringify((json.m as { metrics: { labels: unknown }[] }).metrics[0].labels)).to.equal('{"instance":"","job":"n","zone":"z"}');
      expect(JSON.stringify((json.push_time_seconds as { metrics: { labels: unknown }[] }).metrics[0].labels)).to.equal('{"instance":"","job":"n","zone":"z"}');
    });

    it("families of one push share its time; a later POST gives its families its own", () => {
      const store = newStore();
      put(store, { job: "t" }, "a 1\nb 1\n", Date.parse("2026-01-01T00:00:00.100Z"));
      put(store, { job: "t" }, "b 2\n", Date.parse("2026-01-01T00:00:05Z"), false);
      const json = jsonGroup(groupOf(store, { job: "t" })) as Record<string, { time_stamp: string }>;
      expect(json.a.time_stamp).to.equal("2026-01-01T00:00:00.1Z");
      expect(json.b.time_stamp).to.equal("2026-01-01T00:00:05Z");
      expect(json.push_time_seconds.time_stamp).to.equal("2026-01-01T00:00:05Z");
    });

    it("last_push_successful is false after a refused push until the next successful one", () => {
      const store = newStore();
      put(store, { job: "a" }, "# TYPE x counter\nx 1\n", 1000);
      put(store, { job: "b" }, "y 1\n", 2000);
      expect(jsonGroup(groupOf(store, { job: "b" })).last_push_successful).to.equal(true);
      expect(() => put(store, { job: "b" }, "# TYPE x gauge\nx 1\n", 3500)).to.throw();
      const failed = jsonGroup(groupOf(store, { job: "b" }));
      expect(failed.last_push_successful).to.equal(false);
      expect(JSON.stringify(failed.push_failure_time_seconds)).to.equal(
        '{"time_stamp":"1970-01-01T00:00:03.5Z","type":"GAUGE","help":"Last Unix time when changing this group in the Pushgateway failed.","metrics":[{"labels":{"instance":"","job":"b"},"value":"3.5"}]}',
      );
      expect((failed.push_time_seconds as { time_stamp: string }).time_stamp).to.equal("1970-01-01T00:00:02Z");
      put(store, { job: "b" }, "y 2\n", 4000);
      const ok = jsonGroup(groupOf(store, { job: "b" }));
      expect(ok.last_push_successful).to.equal(true);
      expect((ok.push_failure_time_seconds as { metrics: { value: string }[] }).metrics[0].value).to.equal("3.5");
    });
  });

  describe("rfc3339", () => {
    const cases: [string, string][] = [
      ["1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00Z"],
      ["2026-12-02T15:25:06.942Z", "2026-12-02T15:25:06.942Z"],
      ["2026-12-02T15:25:06.940Z", "2026-12-02T15:25:06.94Z"],
      ["2026-12-02T15:25:06.900Z", "2026-12-02T15:25:06.9Z"],
      ["2026-12-02T15:25:06.009Z", "2026-12-02T15:25:06.009Z"],
      ["2026-12-02T15:25:06.000Z", "2026-12-02T15:25:06Z"],
      ["2026-12-02T15:20:00.000Z", "2026-12-02T15:20:00Z"],
      ["2000-10-10T10:10:10.100Z", "2000-10-10T10:10:10.1Z"],
    ];
    for (const [iso, expected] of cases) {
      it(`${iso} -> ${expected}`, () => {
        expect(rfc3339(Date.parse(iso))).to.equal(expected);
      });
    }
  });

  describe("status page", () => {
    /** The grouping keys of the page's rows, in order, as the labels cell shows them. */
    function rows(html: string): string[] {
      return [...html.matchAll(/<td class="labels">(.*?)<\/td>/g)].map((m) => [...m[1].matchAll(/<span class="label">(.*?)<\/span>/g)].map((s) => s[1]).join(","));
    }

    it("lists the groups sorted by grouping key as the reference does (§9)", () => {
      const store = newStore();
      const keys: Labels[] = [{ job: "b" }, { job: "a", zz: "1" }, { job: "a" }, { instance: "0", job: "a" }, { aaa: "1", job: "z" }];
      for (const labels of keys) put(store, labels, "", 1000);
      expect(rows(renderStatusPage("", store.all(), 0))).to.deep.equal(['aaa="1",job="z"', 'instance="0",job="a"', 'job="a"', 'job="a",zz="1"', 'job="b"']);
    });

    it("shows the push and failure times and marks a failed group", () => {
      const store = newStore();
      put(store, { job: "a" }, "# TYPE x counter\nx 1\n", Date.parse("2026-12-02T15:25:06.942Z"));
      put(store, { job: "b" }, "y 1\nw 1\n", Date.parse("2026-12-02T15:00:00Z"));
      expect(() => put(store, { job: "b" }, "# TYPE x gauge\nx 1\n", Date.parse("2026-12-02T16:00:00Z"))).to.throw();
      const html = renderStatusPage("/pg", store.all(), Date.parse("2026-12-03T00:00:00Z"));
      const rowsHtml = html.split('<tr class="group').slice(1);
      expect(rowsHtml).to.have.length(2);
      expect(rowsHtml[0]).to.match(/^" data-path/);
      expect(rowsHtml[0]).to.contain('<td class="push-time">2026-12-02T15:25:06.942Z</td>');
      expect(rowsHtml[0]).to.contain('<td class="failure-time">never</td>');
      expect(rowsHtml[0]).to.contain("<summary>1</summary><ul><li>x</li></ul>");
      expect(rowsHtml[1]).to.match(/^ failed" data-path/);
      expect(rowsHtml[1]).to.contain('<td class="push-time">2026-12-02T15:00:00.000Z</td>');
      expect(rowsHtml[1]).to.contain('<td class="failure-time">2026-12-02T16:00:00.000Z</td>');
      expect(rowsHtml[1]).to.contain("<summary>2</summary><ul><li>w</li><li>y</li></ul>");
      expect(html).to.contain("2 groups, as of 2026-12-03T00:00:00.000Z.");
    });

    it("escapes HTML in label values", () => {
      const store = newStore();
      put(store, { job: "x", evil: `<script>alert("a&b")</script>'` }, "", 1000);
      const html = renderStatusPage("", store.all(), 0);
      expect(html).not.to.contain("<script>alert");
      expect(html).to.contain('<span class="label">evil="&lt;script&gt;alert(&quot;a&amp;b&quot;)&lt;/script&gt;&#39;"</span>');
      expect(html).to.contain("1 group, as of");
    });

    it("gives each row the group's delete path", () => {
      const store = newStore();
      put(store, { job: "x", instance: "" }, "", 1000);
      const g = groupOf(store, { job: "x", instance: "" });
      expect(renderStatusPage("/pg", store.all(), 0)).to.contain(`data-path="${groupPath("/pg", g)}"`);
    });
  });

  describe("groupPath", () => {
    const base = (prefix: string) => `${prefix}/metrics/job`;

    /** The labels our own push-path parser reads from groupPath(prefix, g), after the URL is normalised. */
    function readBack(prefix: string, g: Group): Record<string, string> {
      const url = groupPath(prefix, g);
      expect(url.startsWith(base(prefix) + "@base64/"), url).to.equal(true);
      const pathname = new URL(url, "http://localhost").pathname;
      expect(pathname).to.equal(url);
      const key = parseGroupingPath(pathname.slice(base(prefix).length));
      expect(key, url).not.to.equal(undefined);
      return Object.fromEntries(key!.labels);
    }

    const cases: Labels[] = [
      { job: "x" },
      { job: "a/b", instance: "" },
      { job: "Προμηθεύς", path: "/var/tmp", zone: "" },
      { job: "???", q: "a b%2F=&?#", instance: "i/1" },
      { job: "job", le: "+Inf", quantile: "0.5" },
    ];
    for (const labels of cases) {
      for (const prefix of ["", "/pg"]) {
        it(`${JSON.stringify(labels)} under "${prefix}" reads back as the same labels`, () => {
          const store = newStore();
          put(store, labels, "", 1000);
          expect(readBack(prefix, groupOf(store, labels))).to.deep.equal(labels);
        });
      }
    }
  });
});

describe("native histograms in /api/v1/metrics (the reference >= 1.8)", () => {
  // The reference's own API test fixture: schema 1, spans {0,2},{0,2} on both sides.
  const spans = [
    { offset: 0, length: 2 },
    { offset: 0, length: 2 },
  ];
  function pushed(histogram: object): Record<string, any> {
    const store = newStore();
    const families = parseProtobuf(encodeFamilies({ name: "nh", type: 4, metric: [{ histogram: { sample_count: 20, sample_sum: 99.23, schema: 1, zero_threshold: 0, ...histogram } }] }));
    store.apply({ replaceAll: true, grouping: new Map([["job", "j"]]), families, timeMs: EXAMPLE_MS });
    return jsonGroup(groupOf(store, { job: "j" })).nh.metrics[0];
  }

  it("lists each populated bucket as [boundaries, lower, upper, count], most negative first", () => {
    const m = pushed({ negative_span: spans, negative_delta: [0, 2, -2, 0], positive_span: spans, positive_delta: [0, 2, -2, 0] });
    expect(m.count).to.equal("20");
    expect(m.sum).to.equal("99.23");
    // Go's bound table writes sqrt(2) one unit in the last place lower (1.414213562373095).
    expect(m.buckets.map((b: unknown[]) => [b[0], b[1], b[2], b[3]])).to.deep.equal([
      [1, "-1.4142135623730951", "-1", "2"],
      [0, "1", "1.4142135623730951", "2"],
    ]);
  });

  it("shows a float histogram's counts as floats, and the zero bucket as [3, -threshold, threshold, count]", () => {
    const m = pushed({ sample_count_float: 20.5, zero_threshold: 0.001, zero_count_float: 1.5, positive_span: [{ offset: 1, length: 1 }], positive_count: [2.5] });
    expect(m.count).to.equal("20.5");
    expect(m.buckets).to.deep.equal([
      [3, "-0.001", "0.001", "1.5"],
      [0, "1", "1.4142135623730951", "2.5"],
    ]);
  });

  it("keeps a classic histogram's map of upper bounds", () => {
    const m = pushed({ bucket: [{ upper_bound: 1, cumulative_count: 3 }] });
    expect(m.buckets).to.deep.equal({ "1": "3", "+Inf": "20" });
  });
});
