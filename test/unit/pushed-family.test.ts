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
import { pushedFamily, type PushedFamily } from "../../plugins/inputs/pushgateway/store/pushed-family.ts";
import { canonicalGrouping, GroupStore, labelsOfKey, storedSeries } from "../../plugins/inputs/pushgateway/store/store.ts";

const BODY = `# HELP c A counter.
# TYPE c counter
c{a="1"} 1 1700000000000
c{a="2",b=""} 2
# TYPE s summary
s{quantile="0.5"} 1
s_sum 3
s_count 4
`;

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
    const built = p.build([["x", "1"], ["x", "2"]]);
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
      expect(packed.build(labels)).to.deep.equal(objects.build(labels));
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
