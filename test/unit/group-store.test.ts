// The group store (store.ts) against pushgateway-protocol.md §6 and the reference behaviour of
// notes/reference-store.md §3-§6: PUT/POST/DELETE semantics, sanitising, the consistency
// checks (with the reference's defect fixed: a refused push cannot poison the store; a refused
// first push leaves its group empty with the failure time, as the reference does), undo, what a change removed, expiry selection and restore.
import { expect } from "chai";
import { gather } from "../../plugins/inputs/pushgateway/store/gather.ts";
import type { Metric, MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { MetricFamilyMessage } from "../../plugins/formats/prometheus/metrics-proto.ts";
import { parseProtobuf } from "../../plugins/formats/prometheus/parse-protobuf.ts";
import {
  GroupFullError,
  GroupStore,
  InconsistentPushError,
  groupKey,
  sanitize,
  sortedGrouping,
  type Group,
  type Removed,
  type StoreOptions,
  type SavedFamily,
} from "../../plugins/inputs/pushgateway/store/store.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";

// ---- Helpers ---------------------------------------------------------------------------------

const PREFIX = "pushed metrics are invalid or inconsistent with existing metrics: ";

type Labels = Record<string, string>;

function text(body: string): MetricFamily[] {
  return parseText(Buffer.from(body, "utf8"));
}

/** A delimited protobuf body of these MetricFamily objects (field names as in metrics.proto), parsed. */
function proto(...families: object[]): MetricFamily[] {
  const chunks = families.map((f) => MetricFamilyMessage.encodeDelimited(MetricFamilyMessage.fromObject(f)).finish());
  return parseProtobuf(Buffer.concat(chunks));
}

function newStore(o: Partial<StoreOptions> = {}, reserved: string[] = []): GroupStore {
  return new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0, ...o }, () => new Set(reserved));
}

const grouping = (labels: Labels) => new Map(Object.entries(labels));
const keyOf = (labels: Labels) => groupKey(sortedGrouping(grouping(labels)));

function put(store: GroupStore, labels: Labels, body: string | MetricFamily[], timeMs = 1000) {
  return store.apply({ replaceAll: true, grouping: grouping(labels), families: typeof body === "string" ? text(body) : body, timeMs });
}

function post(store: GroupStore, labels: Labels, body: string | MetricFamily[], timeMs = 1000) {
  return store.apply({ replaceAll: false, grouping: grouping(labels), families: typeof body === "string" ? text(body) : body, timeMs });
}

function groupOf(store: GroupStore, labels: Labels): Group {
  const g = store.get(keyOf(labels));
  expect(g, `group ${JSON.stringify(labels)}`).not.to.equal(undefined);
  return g!;
}

function labelText(labels: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < labels.length; i += 2) parts.push(`${labels[i]}=${JSON.stringify(labels[i + 1])}`);
  return `{${parts.join(",")}}`;
}

/** One line per metric: name{labels} and its value(s). */
function metricLine(f: MetricFamily, m: Metric): string {
  if (m.summary) return `${f.name}${labelText(m.labels)} summary count=${m.summary.count} sum=${m.summary.sum} q=${m.summary.quantiles.map((q) => `${q.quantile}:${q.value}`).join(",")}`;
  if (m.histogram) return `${f.name}${labelText(m.labels)} histogram count=${m.histogram.count} sum=${m.histogram.sum} b=${m.histogram.buckets.map((b) => `${b.upperBound}:${b.count}`).join(",")}`;
  return `${f.name}${labelText(m.labels)} ${m.value}`;
}

/** A group's metrics, one line each, sorted. */
function lines(g: Group): string[] {
  const out: string[] = [];
  for (const { family } of g.families.values()) for (const m of family.metrics) out.push(metricLine(family, m));
  return out.sort();
}

/** Every group's metrics, sorted. */
function allLines(store: GroupStore): string[] {
  return [...store.all()].flatMap(lines).sort();
}

/** What a change removed, one line per metric, sorted. */
function removedLines(r: Removed | undefined): string[] {
  if (!r) return [];
  return r.families.flatMap((f) => f.metrics.map((m) => metricLine(f, m))).sort();
}

/** A deep copy of everything the store holds, groups in key order, families in stored order. */
function snapshot(store: GroupStore) {
  return [...store.all()]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((g) => ({
      key: g.key,
      labels: structuredClone(g.labels),
      pushTimeMs: g.pushTimeMs,
      failureTimeMs: g.failureTimeMs,
      families: [...g.families].map(([name, sf]) => ({ name, timeMs: sf.timeMs, family: structuredClone(sf.family) })),
    }));
}

/** Groups that hold pushed metrics (a refused first push leaves an empty group behind). */
function heldGroups(store: GroupStore): number {
  return [...store.all()].filter((g) => g.families.size > 0).length;
}

/** The trace a refused first push leaves: its group, empty, with the failure time and no push time. */
function refusedTrace(store: GroupStore, labels: Labels, timeMs = 1000): void {
  const g = groupOf(store, labels);
  expect(g.families.size).to.equal(0);
  expect(g.failureTimeMs).to.equal(timeMs);
  expect(g.pushTimeMs).to.equal(0);
  expect(g.lastPushSuccessful).to.equal(false);
}

/** Runs a write expected to be refused; returns the message after the reference's prefix. */
function refusal(fn: () => unknown): string {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, "the write was refused").to.be.instanceOf(InconsistentPushError);
  const message = (err as Error).message;
  expect(message.startsWith(PREFIX), message).to.equal(true);
  return message.slice(PREFIX.length);
}

// ---- Tests -----------------------------------------------------------------------------------

describe("group store", () => {
  describe("PUT, POST and DELETE (§6)", () => {
    it("POST replaces the pushed families by name, wholesale, and leaves the others", () => {
      const store = newStore();
      put(store, { job: "j" }, 'a 1\nb{l="1"} 1\nb{l="2"} 2\n', 1000);
      const { removed } = post(store, { job: "j" }, 'b{l="3"} 3\n', 2000);
      expect(lines(groupOf(store, { job: "j" }))).to.deep.equal(['a{instance="",job="j"} 1', 'b{instance="",job="j",l="3"} 3']);
      expect(removedLines(removed)).to.deep.equal(['b{instance="",job="j",l="1"} 1', 'b{instance="",job="j",l="2"} 2']);
      const g = groupOf(store, { job: "j" });
      expect(g.pushTimeMs).to.equal(2000);
      // a keeps the time it was pushed, b gets the POST's
      expect(g.families.get("a")!.timeMs).to.equal(1000);
      expect(g.families.get("b")!.timeMs).to.equal(2000);
    });

    it("PUT replaces the whole group", () => {
      const store = newStore();
      put(store, { job: "j" }, "a 1\nb 2\n", 1000);
      const { removed } = put(store, { job: "j" }, "c 3\n", 2000);
      expect(lines(groupOf(store, { job: "j" }))).to.deep.equal(['c{instance="",job="j"} 3']);
      expect([...groupOf(store, { job: "j" }).families.keys()]).to.deep.equal(["c"]);
      expect(removedLines(removed)).to.deep.equal(['a{instance="",job="j"} 1', 'b{instance="",job="j"} 2']);
    });

    it("an empty PUT empties the group, which stays with its new push time and its failure time", () => {
      const store = newStore();
      put(store, { job: "other" }, "# TYPE x counter\nx 1\n", 500);
      put(store, { job: "j" }, "a 1\n", 1000);
      refusal(() => post(store, { job: "j" }, "# TYPE x gauge\nx 1\n", 1500));
      const { removed } = put(store, { job: "j" }, "", 2000);
      const g = groupOf(store, { job: "j" });
      expect(g.families.size).to.equal(0);
      expect(g.pushTimeMs).to.equal(2000);
      expect(g.failureTimeMs).to.equal(1500);
      expect(removedLines(removed)).to.deep.equal(['a{instance="",job="j"} 1']);
    });

    it("an empty POST changes no metric and only bumps the push time", () => {
      const store = newStore();
      put(store, { job: "j" }, "a 1\nb 2\n", 1000);
      const before = lines(groupOf(store, { job: "j" }));
      const { removed } = post(store, { job: "j" }, "", 3000);
      expect(removed).to.equal(undefined);
      expect(lines(groupOf(store, { job: "j" }))).to.deep.equal(before);
      expect(groupOf(store, { job: "j" }).pushTimeMs).to.equal(3000);
    });

    it("an empty PUT or POST to a new group creates it with no families", () => {
      const store = newStore();
      put(store, { job: "p" }, "", 1000);
      post(store, { job: "q" }, "", 2000);
      expect(store.size).to.equal(2);
      expect(groupOf(store, { job: "p" }).families.size).to.equal(0);
      expect(groupOf(store, { job: "p" }).pushTimeMs).to.equal(1000);
      expect(groupOf(store, { job: "q" }).families.size).to.equal(0);
      expect(groupOf(store, { job: "q" }).pushTimeMs).to.equal(2000);
    });

    it("DELETE removes exactly the group with that key: {job=x} leaves {job=x,instance=y}", () => {
      const store = newStore();
      put(store, { job: "x" }, "a 1\n");
      put(store, { job: "x", instance: "y" }, "a 2\n");
      put(store, { job: "xx" }, "b 3\n");
      const removed = store.delete(grouping({ job: "x" }));
      expect(removed).not.to.equal(undefined);
      expect(removed!.group.labels).to.deep.equal([["job", "x"]]);
      expect(removedLines(removed)).to.deep.equal(['a{instance="",job="x"} 1']);
      expect(store.size).to.equal(2);
      expect(store.get(keyOf({ job: "x" }))).to.equal(undefined);
      expect(lines(groupOf(store, { job: "x", instance: "y" }))).to.deep.equal(['a{instance="y",job="x"} 2']);
      expect(lines(groupOf(store, { job: "xx" }))).to.deep.equal(['b{instance="",job="xx"} 3']);
    });

    it("DELETE finds the group whatever the order of the grouping labels, and a missing group is no error", () => {
      const store = newStore();
      put(store, { job: "x", instance: "y", zone: "z" }, "a 1\n");
      expect(store.delete(new Map([["zone", "z"], ["instance", "y"]]))).to.equal(undefined);
      expect(store.delete(new Map([["zone", "z"], ["job", "x"], ["instance", "y"]]))).not.to.equal(undefined);
      expect(store.size).to.equal(0);
      expect(store.delete(grouping({ job: "x", instance: "y", zone: "z" }))).to.equal(undefined);
    });

    it("wipe removes every group and reports each", () => {
      const store = newStore();
      put(store, { job: "a" }, "m 1\n");
      put(store, { job: "b" }, "m 2\nn 3\n");
      put(store, { job: "c" }, "");
      const removed = store.wipe();
      expect(store.size).to.equal(0);
      expect(removed.map((r) => r.group.labels[0][1]).sort()).to.deep.equal(["a", "b", "c"]);
      expect(removed.flatMap((r) => removedLines(r)).sort()).to.deep.equal(['m{instance="",job="a"} 1', 'm{instance="",job="b"} 2', 'n{instance="",job="b"} 3']);
      // nothing of the wiped groups stands in the way of new pushes
      put(store, { job: "d" }, '# TYPE m gauge\nm{instance="",job="a"} 1\n');
    });
  });

  describe("sanitising (§3)", () => {
    it("grouping labels override body labels, instance=\"\" is added, labels are sorted", () => {
      const store = newStore();
      put(store, { job: "j", zone: "grp" }, 'm{job="other",instance="bodyinst",foo="bar",zone="z"} 1\nm2{job="other"} 2\nm3{exported_job="e"} 3\n');
      expect(lines(groupOf(store, { job: "j", zone: "grp" }))).to.deep.equal([
        'm2{instance="",job="j",zone="grp"} 2',
        'm3{exported_job="e",instance="",job="j",zone="grp"} 3',
        'm{foo="bar",instance="bodyinst",job="j",zone="grp"} 1',
      ]);
      const m = groupOf(store, { job: "j", zone: "grp" }).families.get("m")!.family.metrics[0];
      expect(m.labels).to.deep.equal(["foo", "bar", "instance", "bodyinst", "job", "j", "zone", "grp"]);
    });

    it("a grouping instance overrides the body's", () => {
      const store = newStore();
      put(store, { job: "j", instance: "gi2" }, 'm5{instance="x"} 1\n');
      expect(lines(groupOf(store, { job: "j", instance: "gi2" }))).to.deep.equal(['m5{instance="gi2",job="j"} 1']);
    });

    it("the group's own labels are the grouping key only (no instance added), sorted", () => {
      const store = newStore();
      put(store, { zone: "z", job: "j", aaa: "1" }, "m 1\n");
      expect(groupOf(store, { job: "j", zone: "z", aaa: "1" }).labels).to.deep.equal([
        ["aaa", "1"],
        ["job", "j"],
        ["zone", "z"],
      ]);
    });

    it("sanitize() and apply() leave the pushed families as they were", () => {
      const families = text('m{b="2",a="1",job="other"} 1\n');
      const copy = structuredClone(families);
      const store = newStore();
      put(store, { job: "j" }, families);
      expect(families).to.deep.equal(copy);
      const m = sanitize(families[0].metrics[0], [["job", "j"]], new Set(["job"]));
      expect(m.labels).to.deep.equal(["a", "1", "b", "2", "instance", "", "job", "j"]);
      expect(families).to.deep.equal(copy);
    });
  });

  describe("consistency (§6, reference §5)", () => {
    it("refuses a name with another type than in other groups", () => {
      const store = newStore();
      put(store, { job: "a" }, "# TYPE x counter\nx 1\n");
      const detail = refusal(() => put(store, { job: "b" }, "# TYPE x gauge\nx 1\n"));
      expect(detail).to.contain('"x"');
      expect(detail).to.match(/is not a COUNTER$/);
      refusal(() => post(store, { job: "b" }, "# TYPE x gauge\nx 1\n"));
      refusal(() => post(store, { job: "b" }, "x 1\n")); // untyped is a type too
      post(store, { job: "b" }, "# TYPE x counter\nx 2\n");
    });

    it("refuses the same series in two groups (after sanitising)", () => {
      const store = newStore();
      put(store, { job: "a", instance: "x" }, "z 1\n");
      const detail = refusal(() => put(store, { job: "a" }, 'z{instance="x"} 2\n'));
      expect(detail).to.contain('"z"');
      expect(detail).to.match(/was collected before with the same name and label values$/);
      refusedTrace(store, { job: "a" });
    });

    it("finds the same series in two groups when groups of another name set come later, and after they went", () => {
      const store = newStore();
      // Groups keyed alike cannot share a series: no index is kept while all are keyed {instance, job}.
      for (let i = 0; i < 50; i++) put(store, { job: "a", instance: `i${i}` }, `z 1\nw{k="${i}"} 1\n`);
      // The first group keyed {job} alone: its series would be i7's.
      const detail = refusal(() => put(store, { job: "a" }, 'z{instance="i7"} 2\n'));
      expect(detail).to.match(/"z" \{instance="i7",job="a"\} was collected before with the same name and label values$/);
      put(store, { job: "a" }, 'z{instance="i99"} 2\n');
      // Now both ways round, and after the pushes that made the index.
      refusal(() => put(store, { job: "a", instance: "i99" }, "z 3\n"));
      put(store, { job: "a", instance: "i50" }, "z 3\n");
      store.delete(grouping({ job: "a" }));
      put(store, { job: "a", instance: "i99" }, "z 3\n");
      put(store, { job: "a" }, 'z{instance="i98"} 2\n');
      refusal(() => put(store, { job: "a", instance: "i98" }, "z 3\n"));
    });

    it("refuses the same series twice in one push", () => {
      const store = newStore();
      const detail = refusal(() => put(store, { job: "a" }, "x 1\nx 2\n"));
      expect(detail).to.match(/was collected before with the same name and label values$/);
      // also when sanitising makes them equal
      refusal(() => put(store, { job: "a" }, 'x{job="p"} 1\nx{job="q"} 2\n'));
      expect(heldGroups(store)).to.equal(0);
    });

    describe("suffix collisions", () => {
      const cases: [string, string, string, string][] = [
        // existing body, pushed body, message when the second comes after the first
        ["# TYPE x summary\nx_sum 1\nx_count 1\n", "# TYPE x_count gauge\nx_count 1\n", 'collected metric named "x_count" collides with previously collected summary named "x"', "summary x, then gauge x_count"],
        ["# TYPE x summary\nx_sum 1\nx_count 1\n", "# TYPE x_sum gauge\nx_sum 1\n", 'collected metric named "x_sum" collides with previously collected summary named "x"', "summary x, then gauge x_sum"],
        ["# TYPE s_count gauge\ns_count 1\n", "# TYPE s summary\ns_sum 1\ns_count 1\n", 'collected histogram or summary named "s" collides with previously collected metric named "s_count"', "gauge s_count, then summary s"],
        ["# TYPE s_count gauge\ns_count 1\n", '# TYPE s histogram\ns_bucket{le="+Inf"} 1\ns_sum 1\ns_count 1\n', 'collected histogram or summary named "s" collides with previously collected metric named "s_count"', "gauge s_count, then histogram s"],
        ['# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', "# TYPE h_bucket gauge\nh_bucket 1\n", 'collected metric named "h_bucket" collides with previously collected histogram named "h"', "histogram h, then gauge h_bucket"],
        ['# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', "# TYPE h_sum gauge\nh_sum 1\n", 'collected metric named "h_sum" collides with previously collected histogram named "h"', "histogram h, then gauge h_sum"],
        ['# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', "# TYPE h_count gauge\nh_count 1\n", 'collected metric named "h_count" collides with previously collected histogram named "h"', "histogram h, then gauge h_count"],
        ["# TYPE h_bucket gauge\nh_bucket 1\n", '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', 'collected histogram named "h" collides with previously collected metric named "h_bucket"', "gauge h_bucket, then histogram h"],
        ["# TYPE h_sum gauge\nh_sum 1\n", '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', 'collected histogram or summary named "h" collides with previously collected metric named "h_sum"', "gauge h_sum, then histogram h"],
      ];
      for (const [first, second, message, title] of cases) {
        it(`refuses ${title}, across groups`, () => {
          const store = newStore();
          put(store, { job: "a" }, first);
          expect(refusal(() => put(store, { job: "b" }, second))).to.equal(message);
          expect(heldGroups(store)).to.equal(1);
        });
      }

      it("allows summary s beside gauge s_bucket, in both orders", () => {
        const summary = "# TYPE s summary\ns_sum 1\ns_count 1\n";
        const bucket = "# TYPE s_bucket gauge\ns_bucket 1\n";
        const one = newStore();
        put(one, { job: "a" }, summary);
        put(one, { job: "b" }, bucket);
        const two = newStore();
        put(two, { job: "a" }, bucket);
        put(two, { job: "b" }, summary);
        expect(one.size).to.equal(2);
        expect(two.size).to.equal(2);
      });

      // Text 0.0.4 has no gauge histogram: it is exposed as a histogram, with _bucket, _sum
      // and _count series, so it collides exactly like one.
      const gaugeHistogram = '# TYPE g gaugehistogram\ng_bucket{le="+Inf"} 1\ng_sum 1\ng_count 1\n';
      it("refuses gauge histogram g, then gauge g_bucket, g_sum or g_count", () => {
        for (const suffix of ["_bucket", "_sum", "_count"]) {
          const store = newStore();
          put(store, { job: "a" }, gaugeHistogram);
          expect(store.get(keyOf({ job: "a" }))!.families.get("g")!.family.type).to.equal("GAUGE_HISTOGRAM");
          refusal(() => put(store, { job: "b" }, `# TYPE g${suffix} gauge\ng${suffix} 1\n`));
          expect(heldGroups(store), suffix).to.equal(1);
        }
      });

      it("refuses gauge g_bucket, g_sum or g_count, then gauge histogram g", () => {
        for (const suffix of ["_bucket", "_sum", "_count"]) {
          const store = newStore();
          put(store, { job: "a" }, `# TYPE g${suffix} gauge\ng${suffix} 1\n`);
          refusal(() => put(store, { job: "b" }, gaugeHistogram));
          expect(heldGroups(store), suffix).to.equal(1);
        }
      });

      it("refuses a collision within one push", () => {
        const store = newStore();
        const detail = refusal(() => put(store, { job: "c" }, '# TYPE y_count gauge\ny_count 1\n# TYPE y summary\ny{quantile="0.5"} 1\ny_sum 2\n'));
        expect(detail).to.match(/named "y(_count)?" collides with previously collected/);
        expect(heldGroups(store)).to.equal(0);
      });

      it("refuses a collision with a family of the same group that a POST keeps", () => {
        const store = newStore();
        put(store, { job: "a" }, "# TYPE x summary\nx_sum 1\nx_count 1\n");
        expect(refusal(() => post(store, { job: "a" }, "# TYPE x_count gauge\nx_count 1\n"))).to.equal('collected metric named "x_count" collides with previously collected summary named "x"');
        // a PUT drops the summary, so the same body is fine
        put(store, { job: "a" }, "# TYPE x_count gauge\nx_count 1\n");
        expect(lines(groupOf(store, { job: "a" }))).to.deep.equal(['x_count{instance="",job="a"} 1']);
      });
    });

    it("refuses a summary with a quantile label, from the body or the grouping key", () => {
      const store = newStore();
      const body = proto({ name: "sq", type: "SUMMARY", metric: [{ label: [{ name: "quantile", value: "0.5" }], summary: { sample_count: 1, sample_sum: 2, quantile: [{ quantile: 0.5, value: 1 }] } }] });
      expect(refusal(() => put(store, { job: "q" }, body))).to.match(/^collected metric "sq" .* must not have an explicit "quantile" label$/);
      expect(refusal(() => put(store, { job: "q", quantile: "0.5" }, "# TYPE s summary\ns_sum 1\ns_count 1\n"))).to.match(/must not have an explicit "quantile" label$/);
      // a gauge may have one
      put(store, { job: "q", quantile: "0.5" }, "# TYPE g gauge\ng 1\n");
      expect(heldGroups(store)).to.equal(1);
    });

    it("refuses a histogram with an le label", () => {
      const store = newStore();
      const body = proto({ name: "hq", type: "HISTOGRAM", metric: [{ label: [{ name: "le", value: "1" }], histogram: { sample_count: 1, sample_sum: 2, bucket: [{ upper_bound: 1, cumulative_count: 1 }] } }] });
      expect(refusal(() => put(store, { job: "q2" }, body))).to.match(/^collected metric "hq" .* must not have an explicit "le" label$/);
      refusal(() => put(store, { job: "q2", le: "1" }, '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'));
      expect(heldGroups(store)).to.equal(0);
    });

    it("refuses pushes of push_time_seconds and push_failure_time_seconds, whatever their type", () => {
      const store = newStore();
      for (const body of ["push_time_seconds 1\n", "# TYPE push_time_seconds gauge\npush_time_seconds 1\n", "# TYPE push_failure_time_seconds gauge\npush_failure_time_seconds 5\n", "push_failure_time_seconds 8\n"]) {
        refusal(() => put(store, { job: "p" }, body));
      }
      expect(heldGroups(store)).to.equal(0);
      put(store, { job: "p" }, "");
      // also into an existing group (the reference stores push_failure_time_seconds verbatim there)
      refusal(() => post(store, { job: "p" }, '# TYPE push_failure_time_seconds gauge\npush_failure_time_seconds{a="b"} 5\n'));
      expect(groupOf(store, { job: "p" }).families.size).to.equal(0);
    });

    it("never serves a pushed push_time_seconds beside the store's own, even with consistency_check false", () => {
      const store = newStore({ consistency_check: false });
      let stored = true;
      try {
        put(store, { job: "p" }, "push_time_seconds 5\n", 7000);
      } catch (e) {
        expect(e).to.be.instanceOf(InconsistentPushError);
        stored = false;
      }
      if (stored) {
        // kept: then the scrape must still show one push_time_seconds series for the group
        const family = gather(store.all()).find((f) => f.name === "push_time_seconds")!;
        expect(family.metrics.map((m) => metricLine(family, m))).to.deep.equal(['push_time_seconds{instance="",job="p"} 7']);
      }
    });

    it("refuses the agent's own metric names", () => {
      const store = newStore({}, ["pushkit_points_total", "go_goroutines"]);
      refusal(() => put(store, { job: "p" }, "# TYPE go_goroutines gauge\ngo_goroutines 5\n"));
      refusal(() => put(store, { job: "p" }, "pushkit_points_total 5\n"));
      put(store, { job: "p" }, "go_goroutines_x 5\n");
    });

    describe("store poisoning (reference §5h, sequence A)", () => {
      it("refuses {job=x,instance=\"\"} beside {job=x} without creating the group", () => {
        const store = newStore();
        put(store, { job: "x" }, "", 1000);
        const detail = refusal(() => put(store, { job: "x", instance: "" }, "a 1\n", 2000));
        expect(detail).to.contain("push_time_seconds");
        expect(store.size).to.equal(1);
        expect(store.get(keyOf({ job: "x", instance: "" }))).to.equal(undefined);
      });

      it("later pushes are not affected", () => {
        const store = newStore();
        put(store, { job: "x" }, "", 1000);
        refusal(() => put(store, { job: "x", instance: "" }, "a 1\n", 2000));
        refusal(() => post(store, { job: "x", instance: "" }, "", 2500));
        put(store, { job: "x" }, "a 1\n", 3000);
        post(store, { job: "y" }, "b 1\n", 3000);
        put(store, { job: "x", instance: "i" }, "c 1\n", 3000);
        expect(allLines(store)).to.deep.equal(['a{instance="",job="x"} 1', 'b{instance="",job="y"} 1', 'c{instance="i",job="x"} 1']);
      });

      it("refuses {job=x} beside {job=x,instance=\"\"} too, and allows it once the other is deleted", () => {
        const store = newStore();
        put(store, { job: "x", instance: "" }, "a 1\n");
        refusal(() => put(store, { job: "x" }, ""));
        store.delete(grouping({ job: "x", instance: "" }));
        put(store, { job: "x" }, "");
        expect(store.size).to.equal(1);
      });
    });

    it("a refused push changes nothing but the failure time of its existing group", () => {
      const store = newStore();
      put(store, { job: "a" }, "# TYPE x counter\nx 1\n", 1000);
      put(store, { job: "b" }, "# TYPE y gauge\ny 1\nz 3\n", 1100);
      const before = snapshot(store);
      const changes = store.changes;
      refusal(() => put(store, { job: "b" }, "# TYPE x gauge\nx 2\n", 5000));
      const after = snapshot(store);
      expect(after[1].failureTimeMs).to.equal(5000);
      after[1].failureTimeMs = before[1].failureTimeMs;
      expect(after).to.deep.equal(before);
      expect(store.changes).to.be.greaterThan(changes);
      // push time untouched: still 1100
      expect(groupOf(store, { job: "b" }).pushTimeMs).to.equal(1100);
      expect(groupOf(store, { job: "a" }).failureTimeMs).to.equal(0);
    });

    it("a refused first push leaves its group empty with the failure time, as the reference does", () => {
      const store = newStore();
      put(store, { job: "a" }, "# TYPE x counter\nx 1\n", 1000);
      const before = snapshot(store);
      refusal(() => put(store, { job: "new" }, "# TYPE x gauge\nx 2\n", 5000));
      refusedTrace(store, { job: "new" }, 5000);
      refusal(() => post(store, { job: "new" }, "# TYPE x gauge\nx 2\n", 6000));
      refusedTrace(store, { job: "new" }, 6000);
      expect(snapshot(store).filter((g) => g.key !== keyOf({ job: "new" }))).to.deep.equal(before);
      // served as the reference serves it: push_time_seconds 0, push_failure_time_seconds set
      const own = gather(store.all(), []).filter((f) => f.name.startsWith("push_"));
      const values = Object.fromEntries(own.map((f) => [f.name, f.metrics.find((m) => m.labels.includes("new"))!.value]));
      expect(values).to.deep.equal({ push_time_seconds: 0, push_failure_time_seconds: 6 });
      // a later good push makes it an ordinary group that keeps its failure time
      put(store, { job: "new" }, "# TYPE x counter\nx 3\n", 7000);
      expect(groupOf(store, { job: "new" }).pushTimeMs).to.equal(7000);
      expect(groupOf(store, { job: "new" }).failureTimeMs).to.equal(6000);
    });

    it("a refused first push leaves no group where max_groups is reached, or where its own gauges would be another group's", () => {
      const full = newStore({ max_groups: 1 });
      put(full, { job: "a" }, "# TYPE x counter\nx 1\n");
      expect(() => put(full, { job: "b" }, "# TYPE x gauge\nx 1\n")).to.throw(GroupFullError);
      expect(full.size).to.equal(1);
      const store = newStore();
      put(store, { job: "px" }, "");
      refusal(() => put(store, { job: "px", instance: "" }, "pa 1\n"));
      expect(store.size).to.equal(1);
    });

    it("a later successful push keeps the failure time", () => {
      const store = newStore();
      put(store, { job: "a" }, "# TYPE x counter\nx 1\n", 1000);
      put(store, { job: "b" }, "", 1000);
      refusal(() => put(store, { job: "b" }, "# TYPE x gauge\nx 2\n", 2000));
      put(store, { job: "b" }, "y 1\n", 3000);
      expect(groupOf(store, { job: "b" }).failureTimeMs).to.equal(2000);
      expect(groupOf(store, { job: "b" }).pushTimeMs).to.equal(3000);
    });

    it("reject_timestamps: true refuses timestamps (before any other check), false keeps them", () => {
      const strict = newStore({ reject_timestamps: true });
      put(strict, { job: "a" }, "# TYPE x counter\nx 1\n");
      expect(refusal(() => put(strict, { job: "b" }, "a 1 1700000000000\n"))).to.equal("pushed metrics must not have timestamps");
      // the type clash would be refused too, but the timestamp is reported
      expect(refusal(() => put(strict, { job: "b" }, "# TYPE x gauge\nx 1 1700000000000\n"))).to.equal("pushed metrics must not have timestamps");
      expect(heldGroups(strict)).to.equal(1);
      // reject_timestamps applies without consistency_check too
      const unchecked = newStore({ reject_timestamps: true, consistency_check: false });
      expect(refusal(() => put(unchecked, { job: "b" }, "a 1 1700000000000\n"))).to.equal("pushed metrics must not have timestamps");

      const lax = newStore({ reject_timestamps: false });
      put(lax, { job: "b" }, "a 1 1700000000000\n");
      expect(groupOf(lax, { job: "b" }).families.get("a")!.family.metrics[0].timestampMs).to.equal(1700000000000);
    });

    it("consistency_check: false lets inconsistent pushes in", () => {
      const store = newStore({ consistency_check: false });
      put(store, { job: "a" }, "# TYPE x counter\nx 1\n# TYPE s summary\ns_sum 1\ns_count 1\n");
      put(store, { job: "b" }, "# TYPE x gauge\nx 1\n");
      put(store, { job: "c", instance: "" }, "# TYPE s_count gauge\ns_count 1\n");
      put(store, { job: "d" }, 'y{instance="i"} 1\ny{instance="i"} 2\n');
      expect(store.size).to.equal(4);
      expect(groupOf(store, { job: "b" }).families.get("x")!.family.type).to.equal("GAUGE");
    });

    it("max_groups refuses a new group beyond the limit, not a push to an existing one", () => {
      const store = newStore({ max_groups: 2 });
      put(store, { job: "a" }, "x 1\n");
      put(store, { job: "b" }, "x 2\n");
      expect(() => put(store, { job: "c" }, "x 3\n")).to.throw(GroupFullError);
      expect(store.size).to.equal(2);
      expect(store.get(keyOf({ job: "c" }))).to.equal(undefined);
      post(store, { job: "a" }, "y 1\n");
      store.delete(grouping({ job: "b" }));
      put(store, { job: "c" }, "x 3\n");
      expect(store.size).to.equal(2);
      // 0 is no limit
      const unlimited = newStore({ max_groups: 0 });
      for (let i = 0; i < 50; i++) put(unlimited, { job: `j${i}` }, "");
      expect(unlimited.size).to.equal(50);
    });

    it("a family without metrics does not leave a stale type behind", () => {
      // Only protobuf bodies carry families without metrics. B's empty gauge family x is
      // either refused or stored; if stored, once A (the only counter x) is gone, x is a gauge.
      const store = newStore();
      put(store, { job: "a" }, "# TYPE x counter\nx 1\n");
      let stored = true;
      try {
        put(store, { job: "b" }, proto({ name: "x", type: "GAUGE", metric: [] }));
      } catch (e) {
        expect(e).to.be.instanceOf(InconsistentPushError);
        stored = false;
      }
      store.delete(grouping({ job: "a" }));
      if (stored) {
        put(store, { job: "c" }, "# TYPE x gauge\nx 1\n");
        refusal(() => put(store, { job: "d" }, "# TYPE x counter\nx 1\n"));
      } else {
        put(store, { job: "c" }, "# TYPE x gauge\nx 1\n");
      }
    });

    describe("replacements within one group that must be allowed", () => {
      it("PUT of a group changing the type of a name only that group holds", () => {
        const store = newStore();
        put(store, { job: "g" }, "# TYPE x counter\nx 1\n");
        put(store, { job: "g" }, "# TYPE x gauge\nx 2\n");
        expect(groupOf(store, { job: "g" }).families.get("x")!.family.type).to.equal("GAUGE");
        // the new type is the one the store checks against now
        refusal(() => put(store, { job: "h" }, "# TYPE x counter\nx 1\n"));
        put(store, { job: "h" }, '# TYPE x gauge\nx{h="1"} 1\n');
      });

      it("POST of a group changing the type of a name only that group holds", () => {
        const store = newStore();
        put(store, { job: "g" }, "# TYPE x counter\nx 1\ny 1\n");
        post(store, { job: "g" }, "# TYPE x gauge\nx 2\n");
        expect(groupOf(store, { job: "g" }).families.get("x")!.family.type).to.equal("GAUGE");
      });

      it("but not when another group holds the name too", () => {
        const store = newStore();
        put(store, { job: "g" }, "# TYPE x counter\nx 1\n");
        put(store, { job: "h" }, "# TYPE x counter\nx 1\n");
        refusal(() => put(store, { job: "g" }, "# TYPE x gauge\nx 2\n"));
        refusal(() => post(store, { job: "g" }, "# TYPE x gauge\nx 2\n"));
      });

      it("POST or PUT replacing a family whose series stay the same", () => {
        const store = newStore();
        put(store, { job: "g" }, 'x{a="1"} 1\nx{a="2"} 1\n');
        const r1 = post(store, { job: "g" }, 'x{a="1"} 2\nx{a="2"} 2\n');
        expect(r1.removed).to.equal(undefined);
        const r2 = put(store, { job: "g" }, 'x{a="1"} 3\nx{a="2"} 3\n');
        expect(r2.removed).to.equal(undefined);
        expect(lines(groupOf(store, { job: "g" }))).to.deep.equal(['x{a="1",instance="",job="g"} 3', 'x{a="2",instance="",job="g"} 3']);
      });
    });
  });

  describe("undo", () => {
    it("restores exactly the previous state of an existing group", () => {
      const store = newStore();
      put(store, { job: "a" }, "# TYPE x counter\nx 1\ny 2\n", 1000);
      put(store, { job: "b" }, "z 1\n", 1000);
      const before = snapshot(store);
      const { undo } = put(store, { job: "a" }, "# TYPE x gauge\nx 5\nw 1\n", 2000);
      store.undo(undo);
      expect(snapshot(store)).to.deep.equal(before);
      const again = post(store, { job: "a" }, "y 7\n", 3000);
      store.undo(again.undo);
      expect(snapshot(store)).to.deep.equal(before);
    });

    it("removes a group the undone push created", () => {
      const store = newStore();
      put(store, { job: "a" }, "m 1\n", 1000);
      const before = snapshot(store);
      const { undo } = put(store, { job: "new" }, "n 1\n", 2000);
      expect(store.size).to.equal(2);
      store.undo(undo);
      expect(snapshot(store)).to.deep.equal(before);
      expect(store.get(keyOf({ job: "new" }))).to.equal(undefined);
    });

    it("restores the indexes: a push that clashed only with the undone one passes", () => {
      const store = newStore();
      const first = put(store, { job: "a" }, '# TYPE x counter\nx 1\ns{instance="i"} 1\n# TYPE t summary\nt_sum 1\nt_count 1\n');
      store.undo(first.undo);
      // type, series, suffix and own-gauge indexes are all free again
      put(store, { job: "b" }, "# TYPE x gauge\nx 1\n");
      put(store, { job: "a", instance: "i" }, "s 1\n");
      put(store, { job: "c" }, "# TYPE t_count gauge\nt_count 1\n");
      put(store, { job: "a", instance: "" }, "");
      expect(store.size).to.equal(4);
    });

    it("restores the indexes of what the undone push replaced", () => {
      const store = newStore();
      put(store, { job: "a" }, '# TYPE x counter\nx 1\ns{instance="i"} 1\n');
      const { undo } = put(store, { job: "a" }, "# TYPE x gauge\nx 1\n");
      // while applied, the old series and type are free
      store.undo(undo);
      refusal(() => put(store, { job: "b" }, "# TYPE x gauge\nx 1\n"));
      refusal(() => put(store, { job: "a", instance: "i" }, "s 1\n"));
      put(store, { job: "b" }, "# TYPE x counter\nx 1\n");
      // and the group can still replace its own families
      put(store, { job: "a" }, '# TYPE x counter\nx 9\ns{instance="i"} 9\n');
    });
  });

  describe("what a change removed", () => {
    it("a PUT reports the series it dropped, not the ones it kept", () => {
      const store = newStore();
      put(store, { job: "j" }, 'a{l="1"} 1\na{l="2"} 2\nb 1\n');
      const { removed } = put(store, { job: "j" }, 'a{l="1"} 5\n');
      expect(removed!.group).to.equal(groupOf(store, { job: "j" }));
      expect(removedLines(removed)).to.deep.equal(['a{instance="",job="j",l="2"} 2', 'b{instance="",job="j"} 1']);
    });

    it("a POST replacing a family with fewer series reports the missing ones", () => {
      const store = newStore();
      put(store, { job: "j" }, 'a{l="1"} 1\na{l="2"} 2\nb 1\n');
      const { removed } = post(store, { job: "j" }, 'a{l="1"} 1\n');
      expect(removedLines(removed)).to.deep.equal(['a{instance="",job="j",l="2"} 2']);
      expect(removed!.families.map((f) => f.name)).to.deep.equal(["a"]);
    });

    it("reports summaries and histograms whole", () => {
      const store = newStore();
      put(store, { job: "j" }, '# TYPE s summary\ns{k="1",quantile="0.5"} 1\ns_sum{k="1"} 2\ns_count{k="1"} 3\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n');
      const { removed } = put(store, { job: "j" }, "");
      expect(removedLines(removed)).to.deep.equal(['h{instance="",job="j"} histogram count=1 sum=1 b=Infinity:1', 's{instance="",job="j",k="1"} summary count=3 sum=2 q=0.5:1']);
      expect(removed!.families.map((f) => f.type).sort()).to.deep.equal(["HISTOGRAM", "SUMMARY"]);
    });

    it("nothing when nothing disappeared", () => {
      const store = newStore();
      // (What a change removed is worked out when read: "nothing" may be an empty list.)
      expect(removedLines(put(store, { job: "j" }, "a 1\n").removed)).to.deep.equal([]);
      expect(removedLines(post(store, { job: "j" }, "b 1\n").removed)).to.deep.equal([]);
      expect(removedLines(post(store, { job: "j" }, 'a 2\na{x="1"} 2\n').removed)).to.deep.equal([]);
    });

    it("delete reports everything the group held", () => {
      const store = newStore();
      put(store, { job: "j", instance: "i" }, 'a{l="1"} 1\nb 2\n');
      expect(removedLines(store.delete(grouping({ job: "j", instance: "i" })))).to.deep.equal(['a{instance="i",job="j",l="1"} 1', 'b{instance="i",job="j"} 2']);
    });
  });

  describe("olderThan", () => {
    it("gives the groups whose last successful push is older than the cutoff", () => {
      const store = newStore();
      put(store, { job: "a" }, "", 1000);
      put(store, { job: "b" }, "", 2000);
      put(store, { job: "c" }, "", 3000);
      put(store, { job: "d" }, "# TYPE x counter\nx 1\n", 3000);
      // a refused push does not make b younger
      refusal(() => put(store, { job: "b" }, "# TYPE x gauge\nx 1\n", 9000));
      const older = (cutoff: number) => [...store.olderThan(cutoff)].map((g) => g.labels[0][1]).sort();
      expect(older(2500)).to.deep.equal(["a", "b"]);
      expect(older(2000)).to.deep.equal(["a"]);
      expect(older(1000)).to.deep.equal([]);
      expect(older(10_000)).to.deep.equal(["a", "b", "c", "d"]);
    });
  });

  describe("restore", () => {
    const fams = (body: string, timeMs = 500): SavedFamily[] => text(body).map((family) => ({ family, timeMs }));

    it("puts a group back with its families, times and sorted labels", () => {
      const store = newStore();
      const families = fams('# TYPE x counter\nx{instance="",job="j",zone="z"} 1\n', 700);
      store.restore([["zone", "z"], ["job", "j"]], families, 1000, 2000);
      const g = groupOf(store, { job: "j", zone: "z" });
      expect(g.labels).to.deep.equal([["job", "j"], ["zone", "z"]]);
      expect(g.pushTimeMs).to.equal(1000);
      expect(g.failureTimeMs).to.equal(2000);
      const { family, timeMs } = g.families.get("x")!;
      expect({ family, timeMs }).to.deep.equal(families[0]);
      // indexed like a push
      refusal(() => put(store, { job: "k" }, "# TYPE x gauge\nx 1\n"));
      refusal(() => put(store, { job: "j" }, 'x{zone="z"} 1\n'));
    });

    it("refuses a group that appears twice, or does not fit the groups restored before", () => {
      const store = newStore();
      store.restore([["job", "a"]], fams('# TYPE x counter\nx{instance="",job="a"} 1\n'), 1000, 0);
      expect(refusal(() => store.restore([["job", "a"]], [], 1000, 0))).to.match(/appears twice/);
      refusal(() => store.restore([["job", "b"]], fams('# TYPE x gauge\nx{instance="",job="b"} 1\n'), 1000, 0));
      refusal(() => store.restore([["job", "c"]], fams('x{instance="",job="a"} 1\n'), 1000, 0));
      refusal(() => store.restore([["job", "a"], ["instance", ""]], [], 1000, 0));
      expect(store.size).to.equal(1);
    });
  });

  describe("scaling", () => {
    /**
     * The same writes against a store that holds `fillers` extra groups: what each write does
     * must not depend on how many unrelated groups there are.
     */
    function scenario(fillers: number) {
      const store = newStore();
      const shards = Array.from({ length: 7 }, (_, s) => text(`# TYPE fill_total counter\nfill_total 1\n# TYPE fill_gauge gauge\nfill_gauge{shard="${s}"} 2\n`));
      for (let i = 0; i < fillers; i++) put(store, { job: "fill", instance: `i${i}` }, shards[i % 7], 1);
      put(store, { job: "a" }, "# TYPE x counter\nx 1\n# TYPE s summary\ns_sum 1\ns_count 1\n", 2);
      const outcomes: unknown[] = [];
      const attempt = (what: string, fn: () => { removed: Removed | undefined }) => {
        try {
          outcomes.push([what, "applied", removedLines(fn().removed)]);
        } catch (e) {
          outcomes.push([what, (e as Error).name, (e as Error).message]);
        }
      };
      attempt("type clash", () => put(store, { job: "b" }, "# TYPE x gauge\nx 1\n", 3));
      attempt("type clash with the fillers", () => put(store, { job: "b" }, "# TYPE fill_total gauge\nfill_total 1\n", 3));
      attempt("duplicate of a filler's series", () => put(store, { job: "fill" }, '# TYPE fill_total counter\nfill_total{instance="i3"} 5\n', 4));
      attempt("suffix collision", () => put(store, { job: "c" }, "# TYPE s_count gauge\ns_count 1\n", 4));
      attempt("own gauges of a group", () => put(store, { job: "a", instance: "" }, "", 5));
      attempt("accepted POST", () => post(store, { job: "a" }, "# TYPE x counter\nx 5\n", 6));
      attempt("accepted PUT", () => put(store, { job: "a" }, '# TYPE fill_total counter\nfill_total{a="1"} 1\n', 7));
      attempt("accepted new group", () => put(store, { job: "d" }, "# TYPE x gauge\nx 1\n", 8));
      const a = groupOf(store, { job: "a" });
      const d = groupOf(store, { job: "d" });
      return { outcomes, a: [lines(a), a.pushTimeMs, a.failureTimeMs], d: [lines(d), d.pushTimeMs], filler3: lines(groupOf(store, { job: "fill", instance: "i3" })) };
    }

    it("a write to a store of 10,000 groups does what it does in a store of 10", () => {
      const small = scenario(10);
      const large = scenario(10_000);
      expect(large).to.deep.equal(small);
      // and the outcomes are the expected ones, not merely equal
      expect(small.outcomes.map((o) => (o as string[])[1])).to.deep.equal([
        "InconsistentPushError",
        "InconsistentPushError",
        "InconsistentPushError",
        "InconsistentPushError",
        "InconsistentPushError",
        "applied",
        "applied",
        "applied",
      ]);
    });
  });

  describe("a push with the same series as the family it replaces", () => {
    it("keeps the index right: the series stay held, and are free again once the group is gone", () => {
      const store = newStore();
      put(store, { job: "a" }, 'x{l="1"} 1\nx{l="2"} 2\n', 1000);
      put(store, { job: "a" }, 'x{l="1"} 5\nx{l="2"} 6\n', 2000);
      const g = groupOf(store, { job: "a" });
      expect(g.families.get("x")!.family.metrics.map((m) => m.value)).to.deep.equal([5, 6]);
      expect(g.families.get("x")!.family.metrics[0].labels).to.deep.equal(["instance", "", "job", "a", "l", "1"]);
      // Still held by {job="a"}: the same series from another group is a duplicate.
      expect(refusal(() => put(store, { job: "a", l: "1" }, "x 1\n"))).to.include("was collected before");
      // The type is still held: a gauge x elsewhere clashes with the untyped x.
      expect(refusal(() => put(store, { job: "b" }, "# TYPE x gauge\nx 1\n"))).to.include("is not a UNTYPED");
      store.delete(grouping({ job: "a" }));
      put(store, { job: "b" }, "# TYPE x gauge\nx 1\n", 3000);
      put(store, { job: "a", l: "1" }, "# TYPE x gauge\nx 1\n", 3000);
    });

    it("is checked in full when its type changes, even with the same label sets", () => {
      const store = newStore();
      put(store, { job: "a" }, "x 1\n");
      put(store, { job: "b" }, "x 1\n");
      expect(refusal(() => put(store, { job: "a" }, "# TYPE x gauge\nx 1\n"))).to.include("is not a UNTYPED");
    });

    it("is undone like any other", () => {
      const store = newStore();
      put(store, { job: "a" }, 'x{l="1"} 1\n', 1000);
      const { undo } = put(store, { job: "a" }, 'x{l="1"} 2\n', 2000);
      store.undo(undo);
      expect(groupOf(store, { job: "a" }).families.get("x")!.family.metrics[0].value).to.equal(1);
      expect(refusal(() => put(store, { job: "a", l: "1" }, "x 1\n"))).to.include("was collected before");
    });
  });
});
