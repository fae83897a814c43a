// The families the group store takes: one parsed as objects and the same one packed by a parse
// worker must look alike to the store (a group pushed one way, then the other, keeps its
// series), and the store must ask a family for its label sets only when they are new to the
// group and for its metrics only when something reads them: that keeps repeated large pushes cheap.
import { expect } from "chai";
import type { Metric, MetricFamily, MetricType } from "../../plugins/formats/prometheus/model.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";
import { pack } from "../../plugins/inputs/pushgateway/ingest/packed.ts";
import { PackedPushedFamily } from "../../plugins/inputs/pushgateway/ingest/packed-family.ts";
import { shapeOf } from "../../plugins/inputs/pushgateway/store/label-shape.ts";
import { pushedFamily, type MetricBuilder, type PushedFamily } from "../../plugins/inputs/pushgateway/store/pushed-family.ts";
import { Slicer } from "../../plugins/inputs/pushgateway/store/slices.ts";
import { canonicalGrouping, GroupStore, labelsOfKey, storedSeries, type StoredFamily } from "../../plugins/inputs/pushgateway/store/store.ts";

const BODY = `# HELP c A counter.
# TYPE c counter
c{a="1"} 1 1700000000000
c{a="2",b=""} 2
# TYPE s summary
s{quantile="0.5"} 1
s_sum 3
s_count 4
`;

function all(b: MetricBuilder): Metric[] {
  expect(b.more(Infinity)).to.equal(true);
  return b.metrics;
}

const options = { consistency_check: true, reject_timestamps: false, max_groups: 0 };
const grouping = new Map([["job", "j"]]);

/** A pushed family that counts what the store asks of it. */
class Counting implements PushedFamily {
  readonly asked = { labelSets: 0, hasTimestamps: 0, build: 0 };
  readonly name: string;
  readonly help?: string;
  readonly type: MetricType;
  readonly size: number;
  readonly shape: string;
  private readonly inner: PushedFamily;

  constructor(f: MetricFamily) {
    this.inner = pushedFamily(f);
    ({ name: this.name, help: this.help, type: this.type, size: this.size, shape: this.shape } = this.inner);
  }

  labelSets() {
    this.asked.labelSets++;
    return this.inner.labelSets();
  }

  hasTimestamps() {
    this.asked.hasTimestamps++;
    return this.inner.hasTimestamps();
  }

  build(labels: readonly (readonly string[])[]) {
    this.asked.build++;
    return this.inner.build(labels);
  }
}

describe("pushed families", () => {
  it("of parsed objects give their label sets, timestamps and metrics with the store's labels", () => {
    const [c, s] = parseText(Buffer.from(BODY));
    const p = pushedFamily(c);
    expect(p).to.include({ name: "c", help: "A counter.", type: "COUNTER", size: 2, shape: shapeOf(c.metrics) });
    expect(p.labelSets()).to.deep.equal([["a", "1"], ["a", "2", "b", ""]]);
    expect(p.hasTimestamps()).to.equal(true);
    expect(pushedFamily(s).hasTimestamps()).to.equal(false);
    const built = all(p.build([["x", "1"], ["x", "2"]]));
    expect(built.map((m: Metric) => [m.labels, m.value])).to.deep.equal([[["x", "1"], 1], [["x", "2"], 2]]);
    expect(c.metrics[0].labels, "the parsed metrics stay as they were").to.deep.equal(["a", "1"]);
    const other = new PackedPushedFamily(pack(c));
    expect(pushedFamily(other)).to.equal(other);
  });

  it("look alike parsed as objects and packed by a worker", () => {
    for (const f of parseText(Buffer.from(BODY))) {
      const objects = pushedFamily(f);
      const packed = new PackedPushedFamily(pack(f));
      for (const k of ["name", "help", "type", "size", "shape"] as const) expect(packed[k], `${f.name}.${k}`).to.equal(objects[k]);
      expect(packed.labelSets()).to.deep.equal(objects.labelSets());
      expect(packed.hasTimestamps()).to.equal(objects.hasTimestamps());
      const labels = objects.labelSets();
      expect(all(packed.build(labels))).to.deep.equal(all(objects.build(labels)));
    }
  });

  it("keep a group's series whichever way each push came", () => {
    const store = new GroupStore(options);
    store.apply({ replaceAll: true, grouping, families: parseText(Buffer.from(BODY)), timeMs: 1 });
    const before = [...store.all()][0].families.get("c")!;
    store.apply({ replaceAll: true, grouping, families: parseText(Buffer.from(BODY.replace("} 2\n", "} 5\n"))).map((f) => new PackedPushedFamily(pack(f))), timeMs: 2 });
    const after = [...store.all()][0].families.get("c")!;
    expect(after).to.not.equal(before);
    expect(after.keys).to.equal(before.keys);
    expect(after.labels).to.equal(before.labels);
    expect(after.family.metrics[1]).to.include({ value: 5 });
  });

  it("are asked for label sets only when new to the group, and for metrics only when read", () => {
    const store = new GroupStore({ ...options, reject_timestamps: true });
    const push = (body: string, timeMs: number) => {
      const families = parseText(Buffer.from(body)).map((f) => new Counting(f));
      store.apply({ replaceAll: false, grouping, families, timeMs });
      return families;
    };
    const plain = BODY.replace(" 1700000000000", "");
    const [first] = push(plain, 1);
    expect(first.asked).to.include({ labelSets: 1, hasTimestamps: 1 });
    const [again] = push(plain.replace("} 2\n", "} 7\n"), 2);
    expect(again.asked).to.deep.equal({ labelSets: 0, hasTimestamps: 1, build: 0 });
    const stored = [...store.all()][0].families.get("c")!;
    expect(stored.family.metrics[1]).to.include({ value: 7 });
    expect(stored.family).to.equal(stored.family);
    expect(again.asked.build).to.equal(1);
    const [moved] = push(plain.replace('a="2"', 'a="3"'), 3);
    expect(moved.asked.labelSets).to.equal(1);
  });
});

describe("series keys made by a parse worker", () => {
  it("read back into the store's labels, NUL inside values and empty values included", () => {
    const sets: string[][] = [[], ["a", "x\u0000"], ["a", "", "b", "\u0000\u0000y"], ["a", "\u0000"]];
    const canonical = canonicalGrouping(new Map([["job", "j"]]));
    const { labels, keys } = storedSeries("m", sets, canonical, 0);
    expect(keys.map((k) => labelsOfKey(k, 1))).to.deep.equal(labels);
    expect(labels[1]).to.deep.equal(["a", "x\u0000", "instance", "", "job", "j"]);
  });

  it("are taken by the store as they come, and the labels made only when read", () => {
    const [f] = parseText(Buffer.from('m{a="1"} 1\nm{a="2"} 2\n'));
    const canonical = canonicalGrouping(grouping);
    const series = { grouping: canonical.key, keys: storedSeries(f.name, f.metrics.map((m) => m.labels), canonical, 0).keys };
    const store = new GroupStore(options);
    store.apply({ replaceAll: true, grouping, families: [new PackedPushedFamily(pack(f), series)], timeMs: 1 });
    const sf = store.get(canonical.key)!.families.get("m")!;
    expect(sf.labelsMade).to.equal(undefined);
    expect(sf.family.metrics.map((m) => m.labels)).to.deep.equal([
      ["a", "1", "instance", "", "job", "j"],
      ["a", "2", "instance", "", "job", "j"],
    ]);
    // The same series pushed to another group that would serve them too is still refused.
    const other = pack(f);
    expect(() => store.apply({ replaceAll: true, grouping: new Map([["job", "j"], ["instance", ""]]), families: [new PackedPushedFamily(other)], timeMs: 2 })).to.throw(/collected before with the same name and label values/);
  });
});

describe("a stored family's metrics made in parts", () => {
  const N = 5000;
  const rows = (f: (i: number) => string) => Array.from({ length: N }, (_, i) => f(i)).join("");
  const text =
    `# TYPE g gauge\n${rows((i) => `g{a="${i}",b="x"} ${i} ${1700000000000 + i}\n`)}` +
    `# TYPE h histogram\n${rows((i) => `h_bucket{a="${i}",le="1"} ${i}\nh_bucket{a="${i}",le="+Inf"} ${i + 1}\nh_sum{a="${i}"} ${i / 2}\nh_count{a="${i}"} ${i + 1}\n`)}`;
  const canonical = canonicalGrouping(grouping);

  /** Family `name` as a group holds it when a worker sent it (keys only), and when pushed as objects. */
  function stored(name: string): { packed: StoredFamily; objects: StoredFamily } {
    const families = parseText(Buffer.from(text));
    const packed = families.map((f) => new PackedPushedFamily(pack(f), { grouping: canonical.key, keys: storedSeries(f.name, f.metrics.map((m) => m.labels), canonical, 0).keys }));
    const a = new GroupStore(options);
    a.apply({ replaceAll: true, grouping, families: packed, timeMs: 1 });
    const b = new GroupStore(options);
    b.apply({ replaceAll: true, grouping, families: parseText(Buffer.from(text)), timeMs: 1 });
    return { packed: a.get(canonical.key)!.families.get(name)!, objects: b.get(canonical.key)!.families.get(name)! };
  }

  /** A slicer whose every slice is over at once, and that counts its pauses. */
  function pausing(): { slicer: Slicer; pauses: () => number } {
    const slicer = new Slicer(undefined, 0);
    let pauses = 0;
    const pause = slicer.pause.bind(slicer);
    slicer.pause = () => {
      pauses++;
      return pause();
    };
    return { slicer, pauses: () => pauses };
  }

  it("are the metrics made at once, whether made in slices or in parts", async () => {
    for (const name of ["g", "h"]) {
      const whole = stored(name).objects.family;
      for (const [how, sf] of Object.entries(stored(name))) {
        const { slicer, pauses } = pausing();
        const family = await sf.familyIn(slicer);
        expect(family, `${name} ${how}`).to.deep.equal(whole);
        expect(pauses(), `${name} ${how}: the event loop turned while they were made`).to.be.greaterThan(N / 1024);
        expect(sf.family, `${name} ${how}`).to.equal(family);
      }
      const { packed } = stored(name);
      expect(packed.metricsUpTo(10).length, name).to.be.at.least(10).and.below(N);
      expect(packed.metricsUpTo(3000).slice(0, 3000), name).to.deep.equal(whole.metrics.slice(0, 3000));
      expect(packed.family, name).to.deep.equal(whole);
      expect(packed.labels, name).to.deep.equal(whole.metrics.map((m) => m.labels));
    }
    const { packed } = stored("g");
    expect(packed.labelsMade, "labels are made only when read").to.equal(undefined);
    packed.metricsUpTo(10);
    expect(packed.labelsMade, "labels are whole only when every metric's are made").to.equal(undefined);
  });

  it("are made once when two readers meet halfway, one in slices, one at once", async () => {
    const { packed } = stored("g");
    const { slicer } = pausing();
    const slow = packed.familyIn(slicer);
    await new Promise((r) => setImmediate(r));
    expect(packed.familyMade, "the reader in slices is not done after one turn").to.equal(undefined);
    expect(packed.metricsUpTo(0).length).to.be.above(0);
    const fast = packed.family;
    expect(await slow).to.equal(fast);
    expect(fast.metrics.map((m) => m.labels[1])).to.deep.equal(Array.from({ length: N }, (_, i) => String(i)));
  });
});
