// The aggregating mode's pieces: globs, rules read from TOML and the environment, and the merge
// of a push into a stored group, type by type.
import { expect } from "chai";
import { ConfigError } from "../../core/options.ts";
import { mergePush, MergeError } from "../../plugins/inputs/pushgateway/aggregate/merge.ts";
import { aggregatedGrouping, aggregateOption, AggregateRules, globToRegExp, type RuleOptions } from "../../plugins/inputs/pushgateway/aggregate/rules.ts";
import type { MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { parseBody } from "../../plugins/formats/prometheus/parse.ts";
import { parseProtobuf } from "../../plugins/formats/prometheus/parse-protobuf.ts";
import { canonicalGrouping, GroupStore } from "../../plugins/inputs/pushgateway/store/store.ts";
import { gather } from "../../plugins/inputs/pushgateway/store/gather.ts";
import { encodeFamilies } from "../support/protobuf.ts";
import { PackedMetrics, packNumbers } from "../../plugins/inputs/pushgateway/ingest/packed.ts";
import { deserialize, serialize } from "../../plugins/inputs/pushgateway/store/persistence.ts";

function rule(o: Partial<RuleOptions> = {}): AggregateRules {
  return new AggregateRules([{ jobs: ["fn-*"], drop_labels: ["instance", "invocation_id"], gauges: "last", honor_timestamps: false, ...o }]);
}

function text(body: string): MetricFamily[] {
  return parseBody(Buffer.from(body), "text");
}

/** Merges pushes one after another through a real store, as the route does; returns the group's families by name. */
function mergeAll(rules: AggregateRules, job: string, pushes: { labels?: Record<string, string>; body: string }[]): Map<string, MetricFamily> {
  const store = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
  const r = rules.ruleFor(job)!;
  let grouping = new Map<string, string>();
  for (const p of pushes) {
    grouping = aggregatedGrouping(new Map([["job", job], ...Object.entries(p.labels ?? {})]), r);
    const canonical = canonicalGrouping(grouping);
    const merged = mergePush(store.get(canonical.key)?.families, text(p.body), r, canonical);
    store.apply({ replaceAll: false, grouping, families: merged, timeMs: 1 });
  }
  const g = store.get(canonicalGrouping(grouping).key)!;
  return new Map([...g.families].map(([n, sf]) => [n, sf.family]));
}

describe("aggregate: globs and rules", () => {
  it("matches shell-style globs on the whole job name", () => {
    const cases: [string, string[], string[]][] = [
      ["lambda-*", ["lambda-", "lambda-a/b", "lambda-x.y"], ["xlambda-a", "lambda"]],
      ["ci-build", ["ci-build"], ["ci-builds", "ci-buil"]],
      ["job-?", ["job-1"], ["job-12", "job-"]],
      ["w[0-9]", ["w5"], ["wx", "w10"]],
      ["w[!0-9]", ["wx"], ["w5"]],
      ["a.b", ["a.b"], ["axb"]],
      ["\\*", ["*"], ["x"]],
    ];
    for (const [glob, yes, no] of cases) {
      const re = globToRegExp(glob);
      for (const j of yes) expect(re.test(j), `${glob} ~ ${j}`).to.equal(true);
      for (const j of no) expect(re.test(j), `${glob} !~ ${j}`).to.equal(false);
    }
  });

  it("refuses bad globs", () => {
    expect(() => globToRegExp("a[b")).to.throw('has a "[" without its "]"');
    expect(() => globToRegExp("")).to.throw("matches no job");
    expect(() => globToRegExp("a\\")).to.throw('lone "\\"');
  });

  it("reads rules from TOML tables and from a TOML array in the environment; the first matching rule applies", () => {
    const rules = aggregateOption.fromToml([{ jobs: ["fn-*"], drop_labels: ["instance"] }, { jobs: ["fn-special", "batch"], gauges: "sum", honor_timestamps: true }]);
    expect(rules).to.deep.equal([
      { jobs: ["fn-*"], drop_labels: ["instance"], gauges: "last", honor_timestamps: false },
      { jobs: ["fn-special", "batch"], drop_labels: [], gauges: "sum", honor_timestamps: true },
    ]);
    const compiled = new AggregateRules(rules);
    expect(compiled.ruleFor("fn-special")?.id).to.equal("1");
    expect(compiled.ruleFor("batch")?.id).to.equal("2");
    expect(compiled.ruleFor("other")).to.equal(undefined);
    expect(aggregateOption.fromEnv('[{ jobs = ["x-*"], gauges = "max" }]')).to.deep.equal([{ jobs: ["x-*"], drop_labels: [], gauges: "max", honor_timestamps: false }]);
    expect(aggregateOption.fromToml(aggregateOption.fromEnv(aggregateOption.toToml(rules)))).to.deep.equal(rules);
  });

  it("refuses a rule with an unknown key, a bad glob, no jobs, the job dropped or a bad gauges mode, naming the rule", () => {
    const refusal = (v: unknown) => {
      try {
        aggregateOption.fromToml(v);
      } catch (e) {
        expect(e).to.be.instanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error("accepted");
    };
    expect(refusal([{ jobs: ["a"] }, { job: ["b"] }])).to.equal('aggregate rule #2: unknown key "job" (known: jobs, drop_labels, gauges, honor_timestamps)');
    expect(refusal([{ jobs: ["a[b"] }])).to.equal('aggregate rule #1 key "jobs": glob "a[b" has a "[" without its "]"');
    expect(refusal([{ gauges: "sum" }])).to.equal('aggregate rule #1: "jobs" is required');
    expect(refusal([{ jobs: [] }])).to.equal('aggregate rule #1 key "jobs": needs at least one glob');
    expect(refusal([{ jobs: ["a"], drop_labels: ["job"] }])).to.contain("the job cannot be dropped");
    expect(refusal([{ jobs: ["a"], gauges: "avg" }])).to.contain('must be one of "last", "sum", "min", "max"');
    expect(refusal({ jobs: ["a"] })).to.contain("expected an array of tables");
    expect(() => aggregateOption.fromEnv("[{ jobs = ")).to.throw(ConfigError, "expected a TOML array of inline tables");
  });

  it("drops the rule's labels from the grouping key, never the job", () => {
    const r = rule().ruleFor("fn-a")!;
    expect([...aggregatedGrouping(new Map([["job", "fn-a"], ["instance", "i-1"], ["region", "eu"]]), r)]).to.deep.equal([["job", "fn-a"], ["region", "eu"]]);
  });
});

describe("aggregate: merging a push into its group", () => {
  it("adds counters across instances and across invocation ids dropped from the body", () => {
    const f = mergeAll(rule(), "fn-a", [
      { labels: { instance: "i1" }, body: '# TYPE calls_total counter\ncalls_total{invocation_id="a",route="/"} 2\ncalls_total{invocation_id="b",route="/"} 3\n' },
      { labels: { instance: "i2" }, body: '# TYPE calls_total counter\ncalls_total{invocation_id="c",route="/"} 5\ncalls_total{invocation_id="d",route="/x"} 1\n' },
    ]);
    expect(f.get("calls_total")!.metrics.map((m) => [m.labels, m.value])).to.deep.equal([
      [["instance", "", "job", "fn-a", "route", "/"], 10],
      [["instance", "", "job", "fn-a", "route", "/x"], 1],
    ]);
  });

  it("combines gauges and untyped as the rule says", () => {
    const pushes = [5, 2, 9, 4].map((v) => ({ body: `# TYPE g gauge\ng ${v}\nu ${v}\n` }));
    for (const [mode, want] of [["last", 4], ["sum", 20], ["min", 2], ["max", 9]] as const) {
      const f = mergeAll(rule({ gauges: mode }), "fn-a", pushes);
      expect(f.get("g")!.metrics[0].value, mode).to.equal(want);
      expect(f.get("u")!.metrics[0].value, `untyped ${mode}`).to.equal(want);
    }
  });

  it("adds histogram buckets, count and sum; adds summary count and sum and keeps the last quantiles", () => {
    const hist = (a: number, b: number, sum: number) => `# TYPE h histogram\nh_bucket{le="0.5"} ${a}\nh_bucket{le="+Inf"} ${b}\nh_sum ${sum}\nh_count ${b}\n`;
    const summ = (q: number, n: number, sum: number) => `# TYPE s summary\ns{quantile="0.9"} ${q}\ns_sum ${sum}\ns_count ${n}\n`;
    const f = mergeAll(rule(), "fn-a", [{ body: hist(1, 2, 1.25) + summ(0.7, 3, 2) }, { body: hist(3, 4, 2.5) + summ(0.2, 1, 0.5) }]);
    expect(f.get("h")!.metrics[0].histogram).to.deep.equal({ count: 6, sum: 3.75, buckets: [{ upperBound: 0.5, count: 4 }, { upperBound: Infinity, count: 6 }], floatCounts: false });
    expect(f.get("s")!.metrics[0].summary).to.deep.equal({ count: 4, sum: 2.5, quantiles: [{ quantile: 0.9, value: 0.2 }] });
  });

  it("refuses other bucket boundaries, another type and timestamps, naming the family", () => {
    const store = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
    const r = rule().ruleFor("fn-a")!;
    const grouping = canonicalGrouping(new Map([["job", "fn-a"]]));
    const first = mergePush(undefined, text('# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n# TYPE c counter\nc 1\n'), r, grouping);
    store.apply({ replaceAll: false, grouping: new Map([["job", "fn-a"]]), families: first, timeMs: 1 });
    const stored = store.get(grouping.key)!.families;
    const refusal = (body: string) => {
      try {
        mergePush(stored, text(body), r, grouping);
      } catch (e) {
        expect(e).to.be.instanceOf(MergeError);
        return (e as Error).message;
      }
      throw new Error("merged");
    };
    expect(refusal('# TYPE h histogram\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n')).to.equal('histogram "h" {instance="",job="fn-a"}: bucket boundaries [2, +Inf] differ from the aggregated group\'s [1, +Inf]');
    expect(refusal("# TYPE c gauge\nc 1\n")).to.equal('"c" is a COUNTER in the aggregated group and cannot be added to as a GAUGE');
    expect(refusal("# TYPE c counter\nc 1 1700000000000\n")).to.contain('"c" has timestamps, which an aggregating group refuses (aggregate rule #1)');
  });

  it("with honor_timestamps keeps the latest timestamp", () => {
    const f = mergeAll(rule({ honor_timestamps: true }), "fn-a", [{ body: "# TYPE c counter\nc 1 2000\n" }, { body: "# TYPE c counter\nc 1 1000\n" }, { body: "# TYPE c counter\nc 1\n" }]);
    expect(f.get("c")!.metrics[0]).to.deep.include({ value: 3, timestampMs: 2000 });
    // A gauge's "last" is the value of the latest timestamp, not of the latest push.
    const g = mergeAll(rule({ honor_timestamps: true }), "fn-a", [{ body: "# TYPE g gauge\ng 5 2000\n" }, { body: "# TYPE g gauge\ng 7 1000\n" }]);
    expect(g.get("g")!.metrics[0]).to.deep.include({ value: 5, timestampMs: 2000 });
  });

  it("leaves families the push does not name as they are, and returns only those it names", () => {
    const store = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
    const r = rule().ruleFor("fn-a")!;
    const grouping = canonicalGrouping(new Map([["job", "fn-a"]]));
    store.apply({ replaceAll: false, grouping: new Map([["job", "fn-a"]]), families: mergePush(undefined, text("# TYPE a counter\na 1\n# TYPE b counter\nb 1\n"), r, grouping), timeMs: 1 });
    const merged = mergePush(store.get(grouping.key)!.families, text("# TYPE b counter\nb 2\n"), r, grouping);
    expect(merged.map((f) => [f.name, f.metrics[0].value])).to.deep.equal([["b", 3]]);
  });
});

describe("aggregate: native histograms", () => {
  const r = rule().ruleFor("fn-a")!;
  const grouping = canonicalGrouping(new Map([["job", "fn-a"]]));
  const native = (schema: number, zeroThreshold: number, offset: number, deltas: number[], count: number) =>
    parseProtobuf(encodeFamilies({ name: "lat", type: 4, metric: [{ histogram: { sample_count: count, sample_sum: count, schema, zero_threshold: zeroThreshold, positive_span: [{ offset, length: deltas.length }], positive_delta: deltas } }] }));

  function stored(families: MetricFamily[]) {
    const store = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
    store.apply({ replaceAll: false, grouping: new Map([["job", "fn-a"]]), families: mergePush(undefined, families, r, grouping), timeMs: 1 });
    return store.get(grouping.key)!.families;
  }

  it("add bucket by bucket on one grid, whatever buckets each has populated", () => {
    // schema 0: bucket 1 is (1, 2], bucket 2 (2, 4], bucket 3 (4, 8].
    const merged = mergePush(stored(native(0, 0.001, 1, [2], 2)), native(0, 0.001, 2, [1, 2], 4), r, grouping);
    const h = merged[0].metrics[0].histogram!;
    expect(h.buckets).to.deep.equal([
      { upperBound: 2, count: 2 },
      { upperBound: 4, count: 3 },
      { upperBound: 8, count: 6 },
      { upperBound: Infinity, count: 6 },
    ]);
    expect(h).to.deep.include({ count: 6, sum: 6, native: { schema: 0, zeroThreshold: 0.001 } });
  });

  it("refuse another schema or zero threshold", () => {
    expect(() => mergePush(stored(native(0, 0.001, 1, [2], 2)), native(1, 0.001, 1, [2], 2), r, grouping)).to.throw(MergeError, 'native histogram "lat" {instance="",job="fn-a"}: schema 1, zero threshold 0.001 differs from the aggregated group\'s schema 0, zero threshold 0.001');
    expect(() => mergePush(stored(native(0, 0.001, 1, [2], 2)), native(0, 0.01, 1, [2], 2), r, grouping)).to.throw(MergeError, "zero threshold 0.01 differs");
  });

  it("keep their grid through the workers' packed form and the persistence file", () => {
    const [f] = native(3, 1e-9, 4, [1, 1], 3);
    const grid = { schema: 3, zeroThreshold: 1e-9 };
    expect(f.metrics[0].histogram!.native).to.deep.equal(grid);
    const unpacked = new PackedMetrics(packNumbers(f.metrics), [f.metrics[0].labels]);
    unpacked.more(Infinity);
    expect(unpacked.metrics[0].histogram!.native).to.deep.equal(grid);
    const store = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
    store.apply({ replaceAll: false, grouping: new Map([["job", "fn-a"]]), families: [f], timeMs: 1 });
    const restored = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
    deserialize(serialize(store), restored);
    expect(restored.get(grouping.key)!.families.get("lat")!.family.metrics[0].histogram!.native).to.deep.equal(grid);
  });
});

describe("aggregate: the scrape marks aggregated groups", () => {
  it("serves pushkit_pushgateway_aggregated_group with the group's labels and its rule, for aggregated groups only", () => {
    const store = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
    store.apply({ replaceAll: false, grouping: new Map([["job", "fn-a"]]), families: text("# TYPE c counter\nc 1\n"), timeMs: 1 });
    store.apply({ replaceAll: false, grouping: new Map([["job", "other"], ["aggregate_rule", "x"]]), families: text("# TYPE d counter\nd 1\n"), timeMs: 1 });
    const rules = rule();
    const families = gather(store.all(), [], (g) => rules.ruleForGroup(g.labels)?.id);
    const marker = families.find((f) => f.name === "pushkit_pushgateway_aggregated_group")!;
    expect(marker.metrics).to.deep.equal([{ labels: ["aggregate_rule", "1", "instance", "", "job", "fn-a"], value: 1 }]);
    expect(gather(store.all()).some((f) => f.name === "pushkit_pushgateway_aggregated_group")).to.equal(false);
  });

  it("refuses a push of the marker's name", () => {
    const store = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
    expect(() => store.apply({ replaceAll: false, grouping: new Map([["job", "x"]]), families: text("pushkit_pushgateway_aggregated_group 1\n"), timeMs: 1 })).to.throw("is kept by the store itself for aggregated groups");
  });
});
