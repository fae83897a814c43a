// Groups (groups.ts): writes to one group in arrival order, a push stored and handed on all or
// nothing (undone when the sinks refuse it), removed series handed on as removals, and expiry.
// The host is a fake here: an object with emit/retract/removalsWanted that records its calls.
import { expect } from "chai";
import { capturedLogger } from "../support/logs.ts";
import { PointBatch } from "../../core/batch.ts";
import { nowNs, type Point } from "../../core/point.ts";
import { Converter } from "../../plugins/formats/prometheus/convert.ts";
import type { MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { Groups, type GroupsHooks } from "../../plugins/inputs/pushgateway/store/groups.ts";
import { groupKey, GroupStore, InconsistentPushError, sortedGrouping } from "../../plugins/inputs/pushgateway/store/store.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";
import { Slicer } from "../../plugins/inputs/pushgateway/store/slices.ts";

// ---- Helpers ---------------------------------------------------------------------------------

type Labels = Record<string, string>;

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run. */
const settle = () => new Promise((r) => setImmediate(r));

/** Stands in for the host: records what it is given; each call's answer can be set. */
class FakeInput {
  emitted: PointBatch[] = [];
  retracted: PointBatch[] = [];
  wantRemovals = true;
  onEmit: (batch: PointBatch) => Promise<void> = () => Promise.resolve();
  onRetract: (batch: PointBatch) => Promise<void> = () => Promise.resolve();

  emit(batch: PointBatch): Promise<void> {
    this.emitted.push(batch);
    return this.onEmit(batch);
  }

  retract(batch: PointBatch): Promise<void> {
    this.retracted.push(batch);
    return this.onRetract(batch);
  }

  removalsWanted(): boolean {
    return this.wantRemovals;
  }
}

const converter = new Converter({ measurement_name: "", job_as_measurement: false, keep_exist_metric_name: false, honor_timestamps: true, tags: {} });

interface Setup {
  store: GroupStore;
  input: FakeInput;
  groups: Groups;
  hooks: { changed: number; expired: number[] };
  records: Record<string, unknown>[];
}

function setup(): Setup {
  const store = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
  const input = new FakeInput();
  const counts = { changed: 0, expired: [] as number[] };
  const hooks: GroupsHooks = { changed: () => counts.changed++, expired: (n) => counts.expired.push(n) };
  const { log, records } = capturedLogger();
  return { store, input, groups: new Groups(store, input, converter, log, hooks), hooks: counts, records };
}

const grouping = (labels: Labels) => new Map(Object.entries(labels));

/** What the push routes do: parse, convert to the batch to hand on, and push. */
function push(s: Setup, method: "PUT" | "POST", labels: Labels, body: string): Promise<void> {
  const families: MetricFamily[] = parseText(Buffer.from(body, "utf8"));
  const batch = PointBatch.fromPoints(converter.convert(families, grouping(labels), nowNs()));
  return s.groups.push(method === "PUT", grouping(labels), families, batch);
}

/** A series as a sink identifies it: measurement, tags with a value, field keys. */
function seriesOf(p: Point): string {
  const tags = Object.entries(p.tags)
    .filter(([, v]) => v !== "")
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return `${p.measurement}{${tags}} ${Object.keys(p.fields).sort().join(",")}`;
}

/** The series of every batch given, sorted. */
function seriesIn(batches: readonly PointBatch[]): string[] {
  return batches.flatMap((b) => b.points().map(seriesOf)).sort();
}

/** Everything the store holds as a reader sees it, deep-copied (not how it holds it: metrics are built when first read). */
function snapshot(store: GroupStore) {
  return [...store.all()]
    .sort((a, b) => (a.key < b.key ? -1 : 1))
    .map((g) => ({
      key: g.key,
      pushTimeMs: g.pushTimeMs,
      failureTimeMs: g.failureTimeMs,
      families: structuredClone([...g.families].map(([name, sf]) => [name, sf.timeMs, sf.keys, sf.family])),
    }));
}

function metricNames(s: Setup, labels: Labels): string[] {
  const g = s.store.get(groupKey(sortedGrouping(grouping(labels))));
  return g ? [...g.families.keys()].sort() : [];
}

// ---- Tests -----------------------------------------------------------------------------------

describe("groups", () => {
  describe("order of writes to one group", () => {
    it("turns complete in the order they were taken, even when the later one is awaited first", async () => {
      const s = setup();
      const gate = deferred();
      s.input.onEmit = (b) => (b.points().some((p) => p.measurement === "first") ? gate.promise : Promise.resolve());
      const order: string[] = [];
      const tA = s.groups.turn(grouping({ job: "a" }));
      const tB = s.groups.turn(grouping({ job: "a" }));
      const b = (async () => {
        await tB.ready;
        order.push("B start");
        try {
          await push(s, "PUT", { job: "a" }, "second_m 2\n");
          order.push("B end");
        } finally {
          tB.done();
        }
      })();
      await settle();
      expect(order, "B waits for A's turn").to.deep.equal([]);
      const a = (async () => {
        await tA.ready;
        order.push("A start");
        try {
          await push(s, "PUT", { job: "a" }, "first_m 1\n");
          order.push("A end");
        } finally {
          tA.done();
        }
      })();
      await settle();
      expect(order, "A runs; B still waits while A's points are handed on").to.deep.equal(["A start"]);
      gate.resolve();
      await Promise.all([a, b]);
      expect(order).to.deep.equal(["A start", "A end", "B start", "B end"]);
      // B's PUT came last: the group is what B pushed
      expect(metricNames(s, { job: "a" })).to.deep.equal(["second_m"]);
    });

    it("a turn whose write failed still lets the next one go", async () => {
      const s = setup();
      s.input.onEmit = () => Promise.reject(new Error("sinks full"));
      const tA = s.groups.turn(grouping({ job: "a" }));
      const tB = s.groups.turn(grouping({ job: "a" }));
      const a = (async () => {
        await tA.ready;
        try {
          await push(s, "PUT", { job: "a" }, "m 1\n");
        } finally {
          tA.done();
        }
      })();
      let failed: unknown;
      await a.catch((e) => (failed = e));
      expect((failed as Error).message).to.equal("sinks full");
      s.input.onEmit = () => Promise.resolve();
      await tB.ready;
      await push(s, "PUT", { job: "a" }, "n 1\n");
      tB.done();
      expect(metricNames(s, { job: "a" })).to.deep.equal(["n"]);
    });

    it("a turn ended before it came (its request failed early) is passed over, and the line goes on", async () => {
      const s = setup();
      const tA = s.groups.turn(grouping({ job: "a" }));
      const tB = s.groups.turn(grouping({ job: "a" }));
      const tC = s.groups.turn(grouping({ job: "a" }));
      expect([tA.waits, tB.waits, tC.waits]).to.deep.equal([false, true, true]);
      const started: string[] = [];
      void tB.ready.then(() => started.push("B"));
      void tC.ready.then(() => started.push("C"));
      tB.done();
      await settle();
      expect(started, "B's end does not let C overtake A").to.deep.equal([]);
      tA.done();
      await settle();
      expect(started).to.deep.equal(["C"]);
      tC.done();
      const tD = s.groups.turn(grouping({ job: "a" }));
      expect(tD.waits, "the line is empty again").to.equal(false);
      tD.done();
    });

    it("the same grouping key in another label order shares the line; other groups do not wait", async () => {
      const s = setup();
      const t1 = s.groups.turn(new Map([["job", "a"], ["instance", "i"]]));
      const t2 = s.groups.turn(new Map([["instance", "i"], ["job", "a"]]));
      const other = s.groups.turn(grouping({ job: "b" }));
      const state = { second: false, other: false };
      void t2.ready.then(() => (state.second = true));
      void other.ready.then(() => (state.other = true));
      await settle();
      await t1.ready;
      expect(state).to.deep.equal({ second: false, other: true });
      t1.done();
      await settle();
      expect(state.second).to.equal(true);
      t2.done();
      other.done();
    });
  });

  describe("a push is stored and handed on all or nothing", () => {
    it("hands on the batch it was given and stores the families", async () => {
      const s = setup();
      await push(s, "PUT", { job: "a" }, "m_x 1\n");
      expect(s.input.emitted).to.have.length(1);
      expect(seriesIn(s.input.emitted)).to.deep.equal(["m{job=a} x"]);
      expect(metricNames(s, { job: "a" })).to.deep.equal(["m_x"]);
      expect(s.hooks.changed).to.equal(1);
    });

    for (const how of ["throws synchronously", "rejects"]) {
      it(`undoes the push when emit ${how}: a new group`, async () => {
        const s = setup();
        await push(s, "PUT", { job: "other" }, "o 1\n");
        const before = snapshot(s.store);
        const changed = s.hooks.changed;
        const error = new Error("backpressure");
        s.input.onEmit = how === "rejects" ? () => Promise.reject(error) : () => { throw error; };
        let caught: unknown;
        await push(s, "PUT", { job: "a" }, "m 1\n").catch((e) => (caught = e));
        expect(caught).to.equal(error);
        expect(snapshot(s.store)).to.deep.equal(before);
        expect(s.hooks.changed).to.equal(changed);
        expect(s.input.retracted).to.deep.equal([]);
      });

      it(`undoes the push when emit ${how}: an existing group, and its removals are not handed on`, async () => {
        const s = setup();
        await push(s, "PUT", { job: "a" }, '# TYPE x counter\nx{l="1"} 1\nx{l="2"} 2\ny 3\n');
        const before = snapshot(s.store);
        const error = new Error("backpressure");
        s.input.onEmit = how === "rejects" ? () => Promise.reject(error) : () => { throw error; };
        let caught: unknown;
        await push(s, "PUT", { job: "a" }, '# TYPE x gauge\nx{l="1"} 5\n').catch((e) => (caught = e));
        expect(caught).to.equal(error);
        expect(snapshot(s.store)).to.deep.equal(before);
        expect(s.input.retracted).to.deep.equal([]);
        // the store is usable as before: the old type still holds
        s.input.onEmit = () => Promise.resolve();
        let refused: unknown;
        await push(s, "PUT", { job: "b" }, "# TYPE x gauge\nx 1\n").catch((e) => (refused = e));
        expect(refused).to.be.instanceOf(InconsistentPushError);
      });
    }

    it("a push the store refuses is not handed on", async () => {
      const s = setup();
      await push(s, "PUT", { job: "a" }, "# TYPE x counter\nx 1\n");
      let refused: unknown;
      await push(s, "PUT", { job: "b" }, "# TYPE x gauge\nx 1\n").catch((e) => (refused = e));
      expect(refused).to.be.instanceOf(InconsistentPushError);
      expect(s.input.emitted).to.have.length(1);
      expect(s.hooks.changed).to.equal(1);
    });

    it("an undone push cannot leave a name with two types when another group pushed meanwhile", async () => {
      const s = setup();
      await push(s, "PUT", { job: "a" }, "# TYPE x counter\nx 1\n");
      const gate = deferred();
      s.input.onEmit = () => gate.promise;
      // a's PUT makes x a gauge; its points are still on their way when b pushes a gauge x
      const pa = push(s, "PUT", { job: "a" }, "# TYPE x gauge\nx 2\n");
      s.input.onEmit = () => Promise.resolve();
      let bRefused = false;
      await push(s, "PUT", { job: "b" }, '# TYPE x gauge\nx{b="1"} 1\n').catch((e) => {
        expect(e).to.be.instanceOf(InconsistentPushError);
        bRefused = true;
      });
      // then a's points are refused by the sinks: a's PUT is undone
      gate.reject(new Error("backpressure"));
      await pa.catch(() => undefined);
      const types = new Set<string>();
      for (const g of s.store.all()) {
        const f = g.families.get("x");
        if (f) types.add(f.family.type);
      }
      expect([...types], `b ${bRefused ? "refused" : "accepted"}; x held as`).to.have.length(1);
    });
  });

  describe("removed series are handed on as removals", () => {
    it("a PUT that drops series retracts them in one removal batch at one time", async () => {
      const s = setup();
      await push(s, "PUT", { job: "j" }, 'a_x{l="1"} 1\na_x{l="2"} 2\nb_y 1\n# TYPE c_h histogram\nc_h_bucket{le="+Inf"} 1\nc_h_sum 1\nc_h_count 1\n');
      const emittedSeries = seriesIn(s.input.emitted);
      const before = nowNs();
      await push(s, "PUT", { job: "j" }, 'a_x{l="1"} 5\n');
      const after = nowNs();
      expect(s.input.retracted).to.have.length(1);
      const batch = s.input.retracted[0];
      expect(batch.removal).to.equal(true);
      const points = batch.points();
      expect(new Set(points.map((p) => p.time)).size, "one timestamp").to.equal(1);
      expect(points[0].time >= before && points[0].time <= after).to.equal(true);
      const removed = points.map(seriesOf).sort();
      expect(removed).to.deep.equal(["a{job=j,l=2} x", "b{job=j} y", "c{job=j,le=+Inf} h_bucket", "c{job=j} h_count,h_sum"]);
      // each names a series that was handed on before
      for (const r of removed) expect(emittedSeries, r).to.include(r);
      expect(s.hooks.changed).to.equal(2);
    });

    it("a POST replacing a family with fewer series retracts only the missing ones", async () => {
      const s = setup();
      await push(s, "PUT", { job: "j" }, 'a_x{l="1"} 1\na_x{l="2"} 2\nb_y 1\n');
      await push(s, "POST", { job: "j" }, 'a_x{l="2"} 1\n');
      expect(seriesIn(s.input.retracted)).to.deep.equal(["a{job=j,l=1} x"]);
      expect(s.input.retracted[0].removal).to.equal(true);
    });

    it("nothing is retracted when nothing disappeared", async () => {
      const s = setup();
      await push(s, "PUT", { job: "j" }, "a_x 1\n");
      await push(s, "POST", { job: "j" }, "b_y 1\n");
      await push(s, "PUT", { job: "j" }, "a_x 2\nb_y 2\n");
      expect(s.input.retracted).to.deep.equal([]);
    });

    it("delete retracts everything the group held; deleting a missing group does nothing", async () => {
      const s = setup();
      await push(s, "PUT", { job: "j", instance: "i" }, 'a_x{l="1"} 1\nb_y 2\n');
      await push(s, "PUT", { job: "j" }, "c_z 3\n");
      const changed = s.hooks.changed;
      s.groups.delete(grouping({ job: "j", instance: "i" }));
      expect(seriesIn(s.input.retracted)).to.deep.equal(["a{instance=i,job=j,l=1} x", "b{instance=i,job=j} y"]);
      expect(s.hooks.changed).to.equal(changed + 1);
      expect(metricNames(s, { job: "j" })).to.deep.equal(["c_z"]);
      s.groups.delete(grouping({ job: "nope" }));
      expect(s.input.retracted).to.have.length(1);
      expect(s.hooks.changed).to.equal(changed + 1);
    });

    it("wipe retracts every group's series in one batch and says how many groups it removed", async () => {
      const s = setup();
      await push(s, "PUT", { job: "a" }, "m_x 1\n");
      await push(s, "PUT", { job: "b" }, "n_y 1\n");
      await push(s, "PUT", { job: "c" }, "");
      expect(s.groups.wipe()).to.equal(3);
      expect(s.store.size).to.equal(0);
      expect(s.input.retracted).to.have.length(1);
      expect(s.input.retracted[0].removal).to.equal(true);
      expect(seriesIn(s.input.retracted)).to.deep.equal(["m{job=a} x", "n{job=b} y"]);
      const changed = s.hooks.changed;
      expect(s.groups.wipe()).to.equal(0);
      expect(s.input.retracted).to.have.length(1);
      expect(s.hooks.changed).to.equal(changed);
    });

    it("nothing is retracted when no sink wants removals", async () => {
      const s = setup();
      s.input.wantRemovals = false;
      await push(s, "PUT", { job: "a" }, 'm_x{l="1"} 1\nm_x{l="2"} 1\n');
      await push(s, "PUT", { job: "a" }, 'm_x{l="1"} 1\n');
      await push(s, "PUT", { job: "b" }, "n_y 1\n");
      await push(s, "PUT", { job: "c" }, "o_z 1\n");
      s.groups.delete(grouping({ job: "a" }));
      s.groups.expire(1, Date.now() + 60_000);
      expect(s.store.size).to.equal(0);
      await push(s, "PUT", { job: "d" }, "p_q 1\n");
      s.groups.wipe();
      expect(s.input.retracted).to.deep.equal([]);
    });

    it("a removal batch the sinks refuse fails nothing and is logged", async () => {
      const s = setup();
      s.input.onRetract = () => Promise.reject(new Error("removal queue full"));
      const unhandled: unknown[] = [];
      const listener = (e: unknown) => unhandled.push(e);
      process.on("unhandledRejection", listener);
      try {
        await push(s, "PUT", { job: "a" }, 'm_x{l="1"} 1\nm_x{l="2"} 1\n');
        await push(s, "PUT", { job: "a" }, 'm_x{l="1"} 1\n');
        s.groups.delete(grouping({ job: "a" }));
        await settle();
        await settle();
      } finally {
        process.off("unhandledRejection", listener);
      }
      expect(unhandled).to.deep.equal([]);
      expect(s.input.retracted).to.have.length(2);
      expect(s.records.filter((r) => r.level === 40)).to.have.length(2);
    });
  });

  describe("expire", () => {
    function stored(s: Setup, labels: Labels, body: string, timeMs: number) {
      s.store.apply({ replaceAll: true, grouping: grouping(labels), families: parseText(Buffer.from(body)), timeMs });
    }

    it("removes only the groups not pushed for ttl, and tells the expired hook", () => {
      const s = setup();
      stored(s, { job: "a" }, "a_x 1\n", 1000);
      stored(s, { job: "b" }, "b_x 1\n", 5000);
      stored(s, { job: "c" }, "c_x 1\n", 3999);
      stored(s, { job: "d" }, "d_x 1\n", 4000);
      expect(s.groups.expire(2000, 6000)).to.equal(2);
      expect([...s.store.all()].map((g) => g.labels[0][1]).sort()).to.deep.equal(["b", "d"]);
      expect(s.hooks.expired).to.deep.equal([2]);
      expect(s.hooks.changed).to.equal(1);
      expect(seriesIn(s.input.retracted)).to.deep.equal(["a{job=a} x", "c{job=c} x"]);
      expect(s.input.retracted[0].removal).to.equal(true);
    });

    it("does nothing when no group is old enough", () => {
      const s = setup();
      stored(s, { job: "a" }, "a_x 1\n", 5000);
      expect(s.groups.expire(2000, 6000)).to.equal(0);
      expect(s.store.size).to.equal(1);
      expect(s.hooks.expired).to.deep.equal([]);
      expect(s.hooks.changed).to.equal(0);
      expect(s.input.retracted).to.deep.equal([]);
    });

    it("a refused push does not keep a group from expiring", () => {
      const s = setup();
      stored(s, { job: "t" }, "# TYPE x counter\nx 1\n", 5000);
      stored(s, { job: "a" }, "y 1\n", 1000);
      expect(() => stored(s, { job: "a" }, "# TYPE x gauge\nx 1\n", 5900)).to.throw(InconsistentPushError);
      expect(s.groups.expire(2000, 6000)).to.equal(1);
      expect(metricNames(s, { job: "a" })).to.deep.equal([]);
    });
  });
});

describe("a push of many families, applied in slices", () => {
  const N = 5000;
  const body = (v: number) => Array.from({ length: N }, (_, i) => `wide_${i} ${v}\n`).join("");
  const families = (v: number) => parseText(Buffer.from(body(v)));
  const names = (s: Setup, labels: Labels) => [...(s.store.get(groupKey(sortedGrouping(grouping(labels))))?.families.keys() ?? [])];

  it("stores what apply() stores, and readers see the group as it was until the last slice", async () => {
    const s = setup();
    await s.groups.push(true, grouping({ job: "w" }), parseText(Buffer.from("before 1\n")), PointBatch.fromLineProtocol([], 0));
    const group = s.store.get(groupKey(sortedGrouping(grouping({ job: "w" }))))!;
    const versionBefore = group.version;
    // Every slice is over at once; at every pause, a reader looks.
    const slicer = new Slicer(undefined, 0);
    const pause = slicer.pause.bind(slicer);
    let pauses = 0;
    slicer.pause = () => {
      pauses++;
      expect(names(s, { job: "w" }), "a reader between slices").to.deep.equal(["before"]);
      expect(group.version).to.equal(versionBefore);
      return pause();
    };
    await s.store.applyInSlices({ replaceAll: true, grouping: grouping({ job: "w" }), families: families(1), timeMs: 1 }, slicer);
    expect(pauses, "the event loop turned while the push was applied").to.be.greaterThan(N / 100);
    expect(names(s, { job: "w" })).to.have.length(N);
    const whole = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0 });
    whole.apply({ replaceAll: true, grouping: grouping({ job: "w" }), families: families(1), timeMs: 1 });
    const [a] = [...s.store.all()];
    const [b] = [...whole.all()];
    expect([...a.families.values()].map((f) => f.family)).to.deep.equal([...b.families.values()].map((f) => f.family));
    expect(s.store.seriesHeld).to.equal(whole.seriesHeld);
  });

  it("holds every other change of the store until it is done", async () => {
    const s = setup();
    const order: string[] = [];
    const big = s.groups.push(true, grouping({ job: "big" }), families(1), PointBatch.fromLineProtocol([], 0)).then(() => order.push("big"));
    expect(s.groups.settled(), "a slice is under way").to.not.equal(undefined);
    expect(() => s.groups.delete(grouping({ job: "big" }))).to.throw(/await settled/);
    expect(s.groups.expire(1, Date.now() + 60_000), "expiry waits for the next sweep").to.equal(0);
    const small = s.groups.push(true, grouping({ job: "small" }), parseText(Buffer.from("s 1\n")), PointBatch.fromLineProtocol([], 0)).then(() => order.push("small"));
    await Promise.all([big, small]);
    expect(order).to.deep.equal(["big", "small"]);
    expect(s.groups.settled()).to.equal(undefined);
    expect(names(s, { job: "small" })).to.deep.equal(["s"]);
  });

  it("is refused whole, and a refused one leaves the store as it was", async () => {
    const s = setup();
    await s.groups.push(true, grouping({ job: "other" }), parseText(Buffer.from("# TYPE wide_4999 counter\nwide_4999 1\n")), PointBatch.fromLineProtocol([], 0));
    const held = s.store.seriesHeld;
    let error: unknown;
    await s.groups.push(true, grouping({ job: "w" }), families(1), PointBatch.fromLineProtocol([], 0)).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(InconsistentPushError);
    expect((error as Error).message).to.match(/"wide_4999".*is not a COUNTER/);
    expect(s.store.seriesHeld).to.equal(held);
    expect(names(s, { job: "w" }), "only the failure time of a refused first push is kept").to.deep.equal([]);
    await s.groups.push(true, grouping({ job: "w" }), parseText(Buffer.from("ok 1\n")), PointBatch.fromLineProtocol([], 0));
    expect(names(s, { job: "w" })).to.deep.equal(["ok"]);
  });
});
