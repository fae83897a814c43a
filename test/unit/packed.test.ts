// Families packed by a parse worker (label sets as one string, numbers in one array) must
// come back exactly as parsed, and two packed families must have equal shapes exactly when
// their label sets are equal: the store reuses a family's series on that equality.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Metric, MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { narrowBody, pack, packedHasTimestamps, ShapeCache, PackedMetrics } from "../../plugins/inputs/pushgateway/ingest/packed.ts";
import { PackedPushedFamily } from "../../plugins/inputs/pushgateway/ingest/packed-family.ts";
import { labelsOfShape, shapeOf } from "../../plugins/inputs/pushgateway/store/label-shape.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";
import { parseProtobuf } from "../../plugins/formats/prometheus/parse-protobuf.ts";
import { GroupStore } from "../../plugins/inputs/pushgateway/store/store.ts";
import { render } from "../../plugins/formats/prometheus/write.ts";
import { gather } from "../../plugins/inputs/pushgateway/store/gather.ts";
import { encodeFamilies } from "../support/protobuf.ts";
import { conformanceDir } from "../support/conformance.ts";

const corpus = JSON.parse(readFileSync(path.join(conformanceDir, "text-valid.json"), "utf8")) as { cases?: { input: string }[] } | { input: string }[];
const cases = Array.isArray(corpus) ? corpus : corpus.cases ?? [];

/** Metrics with undefined-valued keys dropped, so that absent and undefined compare equal. */
function plain(metrics: readonly Metric[]): unknown {
  return JSON.parse(JSON.stringify(metrics, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : Object.is(v, -0) ? "-0" : v)));
}

function roundTrip(f: MetricFamily): Metric[] {
  const p = pack(f);
  const made = new PackedMetrics(p.numbers, labelsOfShape(p.shape, p.size));
  made.more(Infinity);
  return made.metrics;
}

const EVERY_TYPE = `# TYPE c counter
c{a="1"} 1 1700000000000
c{a="2",b=""} -0
# TYPE g gauge
g NaN
g{x="+Inf"} +Inf
# TYPE s summary
s{quantile="0.5"} 1
s{quantile="0.9"} NaN
s_sum 3
s_count 4
s{l="only quantiles",quantile="0.1"} 7
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="+Inf"} 2.5
h_sum -1e300
h_count 2.5
h{l="no buckets"} 0
h_count{l="count only"} 9
# TYPE u untyped
u{v="a\\"b\\\\c\\nd",w="ünï"} 5e-324
`;

describe("packed families", () => {
  it("give back every metric of every type as parsed, values bit for bit", () => {
    for (const f of parseText(Buffer.from(EVERY_TYPE))) {
      expect(plain(roundTrip(f)), f.name).to.deep.equal(plain(f.metrics));
      const back = roundTrip(f);
      f.metrics.forEach((m, i) => {
        if (m.value !== undefined) expect(Object.is(back[i].value, m.value), `${f.name}[${i}] value`).to.equal(true);
      });
    }
  });

  it("give back every valid family of the upstream conformance corpus", () => {
    let families = 0;
    for (const c of cases) {
      let parsed: MetricFamily[];
      try {
        parsed = parseText(Buffer.from(c.input));
      } catch {
        continue; // valid upstream but refused under legacy name validation
      }
      for (const f of parsed) {
        families++;
        expect(plain(roundTrip(f)), JSON.stringify(c.input)).to.deep.equal(plain(f.metrics));
      }
    }
    expect(families).to.be.greaterThan(10);
  });

  it("have equal shapes exactly when the label sets are equal", () => {
    const m = (...labels: string[][]): Metric[] => labels.map((l) => ({ labels: l, value: 1 }));
    expect(shapeOf(m(["a", "1"], ["a", "2"]))).to.equal(shapeOf([{ labels: ["a", "1"], value: 9 }, { labels: ["a", "2"] }]));
    const distinct = [m(), m([]), m([], []), m(["a", ""]), m(["a", "", "b", ""]), m(["a", "1", "b", "2"]), m(["a", "1"], ["b", "2"]), m(["a", "1b"]), m(["a1", "b"]), m(["a", "1"], [])];
    const shapes = distinct.map((ms) => `${ms.length}:${shapeOf(ms)}`);
    expect(new Set(shapes).size, shapes.join(" | ")).to.equal(distinct.length);
    for (const ms of distinct) expect(labelsOfShape(shapeOf(ms), ms.length)).to.deep.equal(ms.map((x) => x.labels));
    // Labels that hold the one-byte separators are joined with others.
    const odd = m(["a", "x\u0000y", "b", "\u0001"], ["a", ""]);
    expect(labelsOfShape(shapeOf(odd), 2)).to.deep.equal(odd.map((x) => x.labels));
    expect(shapeOf(odd)).to.not.equal(shapeOf(m(["a", "x", "y", "b"], ["\u0001", "a", ""])));
    expect(shapeOf(m(["a", "1"]))).to.not.equal(shapeOf(m(["a", "1"]), false), "a shape says how it was joined");
    expect(narrowBody(Buffer.from('m{a="x"} 1\n'), "text")).to.equal(true);
    expect(narrowBody(Buffer.from('m{a="x\u0000"} 1\n'), "text")).to.equal(false);
  });

  it("reuse the last push's shape of a family only when its label sets are the same", () => {
    const cache = new ShapeCache(10, 2);
    const body = (v: string) => parseText(Buffer.from(`m{a="1"} ${v}\nm{a="2"} ${v}\nm{a="3"} ${v}\n`))[0];
    const first = cache.shapeOf("g", body("1"), true);
    expect(first).to.equal(shapeOf(body("1").metrics, true));
    expect(cache.shapeOf("g", body("2"), true)).to.equal(first);
    const changed = parseText(Buffer.from('m{a="1"} 1\nm{a="2"} 1\nm{a="4"} 1\n'))[0];
    expect(cache.shapeOf("g", changed, true)).to.equal(shapeOf(changed.metrics, true));
    const fewer = parseText(Buffer.from('m{a="1"} 1\nm{a="2"} 1\n'))[0];
    expect(cache.shapeOf("g", fewer, true)).to.equal(shapeOf(fewer.metrics, true));
    const odd = parseText(Buffer.from('m{a="1"} 1\nm{a="2",b="x"} 1\n'))[0];
    expect(cache.shapeOf("g", odd, true)).to.equal(shapeOf(odd.metrics, true));
    // More label sets than it may keep: the oldest go, and every answer stays right.
    for (let i = 0; i < 8; i++) {
      const f = parseText(Buffer.from(`m{g="${i}",a="1"} 1\nm{g="${i}",a="2"} 1\nm{g="${i}",a="3"} 1\n`))[0];
      expect(cache.shapeOf(`g${i}`, f, true)).to.equal(shapeOf(f.metrics, true));
      expect(cache.shapeOf(`g${i}`, f, true)).to.equal(shapeOf(f.metrics, true));
    }
    expect((cache as unknown as { metrics: number }).metrics).to.be.at.most(10);
  });

  it("tell whether any metric carries a timestamp", () => {
    const [c, g, s, h] = parseText(Buffer.from("# TYPE c counter\nc 1\nc{a=\"x\"} 2 17\n# TYPE g gauge\ng 1\n# TYPE s summary\ns{quantile=\"0.5\"} 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1 5\n"));
    expect([c, g, s, h].map((f) => pack(f)).map((p) => packedHasTimestamps(p.numbers, p.size))).to.deep.equal([true, false, false, true]);
  });

  it("are refused when damaged rather than read wrongly", () => {
    const p = pack(parseText(Buffer.from('m{a="1"} 1\nm{a="2"} 2\n'))[0]);
    expect(() => labelsOfShape(p.shape, 3)).to.throw(/2 label sets for 3 metrics/);
    expect(() => new PackedMetrics(p.numbers, [["a", "1"]]).more(Infinity)).to.throw(/left over/);
  });

  it("are stored and served like the same families as objects, and reuse a group's series when pushed again", () => {
    const body = Buffer.from(EVERY_TYPE);
    const o = { consistency_check: true, reject_timestamps: false, max_groups: 0 };
    const objects = new GroupStore(o);
    const packed = new GroupStore(o);
    const grouping = new Map([["job", "j"], ["instance", "i"]]);
    objects.apply({ replaceAll: true, grouping, families: parseText(body), timeMs: 1000 });
    packed.apply({ replaceAll: true, grouping, families: parseText(body).map((f) => new PackedPushedFamily(pack(f))), timeMs: 1000 });
    const served = (s: GroupStore) => render(gather(s.all(), []), "text").toString();
    expect(served(packed)).to.equal(served(objects));

    // New values for the same series: the stored keys and labels are the previous push's.
    const before = [...packed.all()][0].families.get("c")!;
    packed.apply({ replaceAll: true, grouping, families: parseText(Buffer.from(EVERY_TYPE.replace("c{a=\"1\"} 1 ", "c{a=\"1\"} 42 "))).map((f) => new PackedPushedFamily(pack(f))), timeMs: 2000 });
    const after = [...packed.all()][0].families.get("c")!;
    expect(after.keys).to.equal(before.keys);
    expect(after.labels).to.equal(before.labels);
    expect(after.family.metrics[0]).to.include({ value: 42 });
    expect(after.family.metrics[0].labels).to.deep.equal(["a", "1", "instance", "i", "job", "j"]);
  });

  it("of protobuf bodies (native histograms included) come back as parsed", () => {
    const families = parseProtobuf(
      encodeFamilies(
        { name: "p", type: 0, metric: [{ label: [{ name: "a", value: "b" }], counter: { value: 3 }, timestamp_ms: 12 }] },
        { name: "q", type: 2, metric: [{ summary: { sample_count: 2, sample_sum: 1, quantile: [{ quantile: 0.5, value: 1 }] } }] },
        { name: "n", type: 4, metric: [{ histogram: { sample_count: 3, sample_sum: 2, schema: 0, zero_threshold: 0.001, zero_count: 1, positive_span: [{ offset: 0, length: 2 }], positive_delta: [1, 0] } }] },
      ),
    );
    expect(families.map((f) => f.metrics.length)).to.deep.equal([1, 1, 1]);
    for (const f of families) expect(plain(roundTrip(f))).to.deep.equal(plain(f.metrics));
  });
});
