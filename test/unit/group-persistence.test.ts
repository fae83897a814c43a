// The group store on disk (persistence.ts): serialize/deserialize round trips, loading a
// missing, damaged or inconsistent file (moved aside, the agent goes on with no groups), and
// atomic writes only when something changed: on the interval, a burst of changes in one write,
// in slices that hold the state of one instant, never overlapping, abandoned at shutdown.
import { expect } from "chai";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { capturedLogger } from "../support/logs.ts";
import type { MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { deserialize, Persistence, serialize } from "../../plugins/inputs/pushgateway/store/persistence.ts";
import { GroupStore, InconsistentPushError, type StoreOptions } from "../../plugins/inputs/pushgateway/store/store.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";

// ---- Helpers ---------------------------------------------------------------------------------

type Labels = Record<string, string>;

function newStore(o: Partial<StoreOptions> = {}): GroupStore {
  return new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0, ...o });
}

function text(body: string): MetricFamily[] {
  return parseText(Buffer.from(body, "utf8"));
}

function put(store: GroupStore, labels: Labels, body: string, timeMs = 1000) {
  return store.apply({ replaceAll: true, grouping: new Map(Object.entries(labels)), families: text(body), timeMs });
}

/** Everything a store holds, groups in key order (deep-comparable, NaN included). */
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

/** A store with every metric type, NaN and infinities, timestamps, help, push and failure times. */
function richStore(): GroupStore {
  const store = newStore();
  put(
    store,
    { job: "j1", zone: "z/1" },
    `# HELP c A counter.
# TYPE c counter
c{code="200"} 1e+21
c{code="500"} -2.5
# TYPE g gauge
g{v="nan"} NaN
g{v="inf"} +Inf
g{v="minf"} -Inf
g{v="esc",w="a\\\\b \\"q\\" \\nnl Προμηθεύς"} 0.1
u 42 1700000000123
# HELP s A summary.
# TYPE s summary
s{quantile="0.5"} 1.5
s{quantile="0.99"} NaN
s_sum +Inf
s_count 7
# TYPE h histogram
h_bucket{le="-Inf"} 0
h_bucket{le="0.1"} 1
h_bucket{le="1"} 3
h_bucket{le="+Inf"} 4
h_sum 2.5e-07
h_count 4
# TYPE fh histogram
fh_bucket{le="1"} 0.5
fh_bucket{le="+Inf"} 1.5
fh_sum NaN
fh_count 1.5
# TYPE gh gaugehistogram
gh_bucket{le="+Inf"} 3
gh_sum -Inf
gh_count 3
`,
    1_796_224_907_993,
  );
  put(store, { job: "j2" }, "# TYPE c counter\nc 2\n", 1_796_224_900_000);
  // a refused push: j2 gets a failure time
  expect(() => put(store, { job: "j2" }, "# TYPE c gauge\nc 2\n", 1_796_224_999_999)).to.throw(InconsistentPushError);
  // a POST later than the PUT: families of one group with different times
  store.apply({ replaceAll: false, grouping: new Map([["job", "j1"], ["zone", "z/1"]]), families: text("late 1\n"), timeMs: 1_796_225_000_001 });
  put(store, { job: "empty", instance: "" }, "", 5);
  return store;
}

/** Lets pino's stream deliver what was logged. */
const flush = () => new Promise((r) => setImmediate(r));

/** A Persistence of an empty store, loaded and writing on its interval; stop() it. */
async function running(file: string, intervalMs: number) {
  const store = newStore();
  const { log, records } = capturedLogger();
  const p = new Persistence(file, intervalMs, store, log);
  await p.load();
  p.start();
  return { store, p, records };
}

/** Waits until `done()` holds, checking every 10 ms; fails after timeoutMs. */
async function poll(done: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > until) throw new Error(`not done within ${timeoutMs} ms`);
    await sleep(10);
  }
}

// ---- Tests -----------------------------------------------------------------------------------

describe("group persistence", () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "pushkit-groups-"));
    file = path.join(dir, "groups.json");
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe("serialize / deserialize", () => {
    it("round-trips every metric type, NaN and infinities, timestamps, push and failure times", () => {
      const store = richStore();
      const json = serialize(store);
      const back = newStore();
      deserialize(json, back);
      expect(snapshot(back)).to.deep.equal(snapshot(store));
      expect(serialize(back)).to.equal(json);
      // the values that JSON cannot hold as numbers came back as such
      const g = back.get([...store.all()][0].key)!;
      const gauge = g.families.get("g")!.family.metrics;
      expect(Number.isNaN(gauge[0].value)).to.equal(true);
      expect(gauge[1].value).to.equal(Infinity);
      expect(gauge[2].value).to.equal(-Infinity);
      expect(g.families.get("u")!.family.metrics[0].timestampMs).to.equal(1700000000123);
      const j2 = [...back.all()].find((x) => x.labels[0][1] === "j2")!;
      expect(j2.pushTimeMs).to.equal(1_796_224_900_000);
      expect(j2.failureTimeMs).to.equal(1_796_224_999_999);
    });

    it("round-trips an empty store", () => {
      const back = newStore();
      deserialize(serialize(newStore()), back);
      expect(back.size).to.equal(0);
    });

    it("rebuilds the indexes: what clashed before the restart still clashes", () => {
      const back = newStore();
      deserialize(serialize(richStore()), back);
      expect(() => put(back, { job: "x" }, "# TYPE c gauge\nc 1\n")).to.throw(InconsistentPushError);
      expect(() => put(back, { job: "x" }, '# TYPE s_count gauge\ns_count 1\n')).to.throw(InconsistentPushError);
      expect(() => put(back, { job: "j2", instance: "" }, "")).to.throw(InconsistentPushError);
      expect(() => put(back, { job: "x" }, 'c{job="j2",instance=""} 1\n')).to.throw(InconsistentPushError);
      put(back, { job: "x" }, "# TYPE c counter\nc 1\n");
    });

    it("throws on garbage, on another format and on a wrong shape", () => {
      for (const bad of ["", "not json", "[]", "{}", '{"format":"other","version":1,"groups":[]}', '{"format":"pushkit-pushgateway-groups","version":2,"groups":[]}']) {
        expect(() => deserialize(bad, newStore()), bad).to.throw();
      }
      const good = JSON.parse(serialize(richStore()));
      const broken = structuredClone(good);
      broken.groups[0].families[0].metrics[0].labels = ["odd"];
      expect(() => deserialize(JSON.stringify(broken), newStore())).to.throw(/odd number/);
      const badType = structuredClone(good);
      badType.groups[0].families[0].type = "WEIRD";
      expect(() => deserialize(JSON.stringify(badType), newStore())).to.throw(/unknown type/);
      const badNumber = structuredClone(good);
      badNumber.groups[0].push_time_ms = "soon";
      expect(() => deserialize(JSON.stringify(badNumber), newStore())).to.throw(/not a number/);
    });
  });

  describe("Persistence.load", () => {
    it("starts empty when there is no file, and creates none", async () => {
      const store = newStore();
      const p = new Persistence(file, 60_000, store, capturedLogger().log);
      await p.load();
      expect(store.size).to.equal(0);
      expect(readdirSync(dir)).to.deep.equal([]);
    });

    it("restores what stop() wrote", async () => {
      const store = richStore();
      new Persistence(file, 60_000, store, capturedLogger().log).stop();
      const back = newStore();
      const { log, records } = capturedLogger();
      await new Persistence(file, 60_000, back, log).load();
      expect(snapshot(back)).to.deep.equal(snapshot(store));
      await flush();
      expect(records.some((r) => r.msg === "groups restored from the persistence file" && r.groups === store.size)).to.equal(true);
    });

    /** Loads `content` from the file; the store must end up empty and the file moved aside intact. */
    async function expectDamaged(content: string, store: GroupStore = newStore()) {
      writeFileSync(file, content);
      const { log, records } = capturedLogger();
      const before = Date.now();
      await new Persistence(file, 60_000, store, log).load();
      const after = Date.now();
      expect(store.size, "no group restored").to.equal(0);
      expect(existsSync(file), "the damaged file is gone from its place").to.equal(false);
      const files = readdirSync(dir);
      expect(files).to.have.length(1);
      const m = /^groups\.json\.corrupt-(\d+)$/.exec(files[0]);
      expect(m, files[0]).not.to.equal(null);
      const ms = Number(m![1]);
      expect(ms).to.be.within(before, after);
      expect(readFileSync(path.join(dir, files[0]), "utf8")).to.equal(content);
      await flush();
      const error = records.find((r) => r.level === 50);
      expect(error, "an error is logged").not.to.equal(undefined);
      expect(error!.movedTo).to.equal(path.join(dir, files[0]));
      return store;
    }

    it("moves a truncated file aside and starts empty", async () => {
      const json = serialize(richStore());
      await expectDamaged(json.slice(0, Math.floor(json.length / 2)));
    });

    it("moves garbage aside and starts empty", async () => {
      await expectDamaged("\u0000\u0001garbage\n");
      rmSync(dir, { recursive: true, force: true });
      dir = mkdtempSync(path.join(tmpdir(), "pushkit-groups-"));
      file = path.join(dir, "groups.json");
      await expectDamaged('{"format":"something else"}');
    });

    it("treats a file with an inconsistent pair of groups as damaged, keeping nothing of it", async () => {
      // written by an agent that ran with consistency_check = false
      const lax = newStore({ consistency_check: false });
      put(lax, { job: "a" }, "# TYPE x counter\nx 1\n");
      put(lax, { job: "b" }, "# TYPE x gauge\nx 1\n");
      const store = await expectDamaged(serialize(lax));
      // the group restored before the clash was found is gone with its indexes
      put(store, { job: "c" }, "# TYPE x gauge\nx 1\n");
      put(store, { job: "a" }, "# TYPE y untyped\ny 1\n");
    });

    it("treats the poisoning pair {job=x} and {job=x,instance=\"\"} as damaged", async () => {
      const lax = newStore({ consistency_check: false });
      put(lax, { job: "x" }, "");
      put(lax, { job: "x", instance: "" }, "a 1\n");
      expect(lax.size).to.equal(2);
      await expectDamaged(serialize(lax));
    });

    it("goes on with the agent after a damaged file: later saves write a good file", async () => {
      writeFileSync(file, "garbage");
      const store = newStore();
      const p = new Persistence(file, 60_000, store, capturedLogger().log);
      await p.load();
      put(store, { job: "after" }, "m 1\n");
      p.stop();
      const back = newStore();
      await new Persistence(file, 60_000, back, capturedLogger().log).load();
      expect(snapshot(back)).to.deep.equal(snapshot(store));
    });
  });

  describe("writing", () => {
    it("stop() writes atomically: no temporary file is left, and the content loads back", async () => {
      const store = richStore();
      writeFileSync(file, "old content");
      const oldInode = statSync(file).ino;
      new Persistence(file, 60_000, store, capturedLogger().log).stop();
      expectReplacedWith(store, oldInode);
    });

    /** The file holds the store, loads back, and replaced the one of inode `oldInode` by a rename, leaving no temporary file. */
    function expectReplacedWith(store: GroupStore, oldInode: number): void {
      expect(readdirSync(dir)).to.deep.equal(["groups.json"]);
      // replaced by a rename, not rewritten in place: a crash mid-write leaves the old file whole
      expect(statSync(file).ino).not.to.equal(oldInode);
      expect(readFileSync(file, "utf8")).to.equal(serialize(store));
      const back = newStore();
      deserialize(readFileSync(file, "utf8"), back);
      expect(snapshot(back)).to.deep.equal(snapshot(store));
    }

    it("saveIfChanged writes only after changes", async () => {
      const store = newStore();
      const p = new Persistence(file, 60_000, store, capturedLogger().log);
      await p.load();
      p.saveIfChanged();
      expect(existsSync(file), "nothing changed yet").to.equal(false);

      put(store, { job: "a" }, "# TYPE x counter\nx 1\n", 1000);
      p.saveIfChanged();
      expect(existsSync(file), "written after a push").to.equal(true);
      expect(readFileSync(file, "utf8")).to.equal(serialize(store));

      rmSync(file);
      p.saveIfChanged();
      p.stop();
      expect(existsSync(file), "not written again without a change").to.equal(false);

      // a refused push changes the failure time of its group: that is a change too
      expect(() => put(store, { job: "a" }, "x 1 1\nx 2\n", 2000)).to.throw(InconsistentPushError);
      p.saveIfChanged();
      expect(existsSync(file)).to.equal(true);
      expect(JSON.parse(readFileSync(file, "utf8")).groups[0].failure_time_ms).to.equal(2000);

      rmSync(file);
      store.delete(new Map([["job", "a"]]));
      p.stop();
      expect(JSON.parse(readFileSync(file, "utf8")).groups).to.deep.equal([]);
    });

    it("does not rewrite a file it has just loaded", async () => {
      writeFileSync(file, serialize(richStore()));
      const store = newStore();
      const p = new Persistence(file, 60_000, store, capturedLogger().log);
      await p.load();
      expect(store.size).to.be.greaterThan(0);
      rmSync(file);
      p.stop();
      expect(existsSync(file)).to.equal(false);
    });

    it("save() writes in slices the same text serialize() makes, groups and families larger than a piece among small ones, atomically", async () => {
      const store = richStore();
      const many = Array.from({ length: 1300 }, (_, i) => `big{i="${i}",s="v\\"${i}"} ${i / 7}`).join("\n");
      put(store, { job: "big" }, `# TYPE small counter\nsmall 1\n# HELP big Many series.\n# TYPE big gauge\n${many}\n# TYPE after_big untyped\nafter_big 2\n`);
      for (let i = 0; i < 700; i++) put(store, { job: "after", instance: String(i) }, `after_value{i="${i}"} ${i}\n`);
      writeFileSync(file, "old content");
      const oldInode = statSync(file).ino;
      const { log, records } = capturedLogger();
      const p = new Persistence(file, 60_000, store, log);
      await p.save();
      expectReplacedWith(store, oldInode);
      await p.save();
      await flush();
      expect(records.filter((r) => r.msg === "groups persisted"), "nothing changed: no second write").to.have.length(1);
    });

    it("writes the state of the instant the write started, and what changed meanwhile with the next write", async () => {
      const store = newStore();
      for (let i = 0; i < 2000; i++) put(store, { job: `j${i}` }, `# TYPE m${i % 10} gauge\nm${i % 10}{i="${i}"} ${i}\n`);
      put(store, { job: "a" }, "# TYPE x gauge\nx 1\n");
      const p = new Persistence(file, 60_000, store, capturedLogger().log);
      const before = snapshot(store);
      const writing = p.save();
      // Mixed with the write's earlier groups, this state would be a name with two types.
      store.delete(new Map([["job", "a"]]));
      put(store, { job: "zz" }, "# TYPE x counter\nx 1\n");
      await writing;
      const back = newStore();
      deserialize(readFileSync(file, "utf8"), back);
      expect(snapshot(back)).to.deep.equal(before);
      await p.save();
      const again = newStore();
      deserialize(readFileSync(file, "utf8"), again);
      expect(snapshot(again)).to.deep.equal(snapshot(store));
    });

    it("never runs two writes at once: a save during a write waits for it, then writes what changed", async () => {
      const store = newStore();
      for (let i = 0; i < 3000; i++) put(store, { job: `j${i}` }, `m{i="${i}"} ${i}\n`);
      const { log, records } = capturedLogger();
      const p = new Persistence(file, 60_000, store, log);
      const first = p.save();
      put(store, { job: "late" }, "late 1\n");
      const second = p.save();
      const third = p.save();
      await Promise.all([first, second, third]);
      await flush();
      expect(records.filter((r) => r.msg === "groups persisted").map((r) => r.groups)).to.deep.equal([3000, 3001]);
      expect(readFileSync(file, "utf8")).to.equal(serialize(store));
    });

    it("on its interval, writes a burst of changes in one write, and nothing while nothing changes", async () => {
      const { store, p, records } = await running(file, 200);
      try {
        const writes = () => records.filter((r) => r.msg === "groups persisted").length;
        // Three bursts of 300 changes, 100 ms apart: 900 changes in about 300 ms.
        const started = Date.now();
        for (let burst = 0; burst < 3; burst++) {
          for (let i = 0; i < 300; i++) put(store, { job: `b${burst}`, instance: String(i) }, `m_${burst} ${i}\n`);
          await sleep(100);
        }
        // Within the interval plus a write, everything is on disk.
        await sleep(200 + 300);
        const elapsed = Date.now() - started;
        await flush();
        const n = writes();
        expect(n, "at least one write").to.be.greaterThan(0);
        expect(n, `one write per interval at most (${elapsed} ms)`).to.be.at.most(Math.ceil(elapsed / 200) + 1);
        const back = newStore();
        deserialize(readFileSync(file, "utf8"), back);
        expect(back.size).to.equal(900);
        await sleep(500);
        await flush();
        expect(writes(), "no write without a change").to.equal(n);
      } finally {
        p.stop();
      }
    });

    it("stop() during a write writes the final state synchronously; the abandoned write neither replaces it nor leaves its temporary file", async () => {
      const store = newStore();
      for (let i = 0; i < 3000; i++) put(store, { job: `j${i}` }, `m{i="${i}"} ${i}\n`);
      const p = new Persistence(file, 60_000, store, capturedLogger().log);
      const writing = p.save();
      put(store, { job: "final" }, "final 1\n");
      p.stop();
      const final = serialize(store);
      expect(readFileSync(file, "utf8")).to.equal(final);
      await writing;
      expect(readFileSync(file, "utf8")).to.equal(final);
      expect(readdirSync(dir)).to.deep.equal(["groups.json"]);
    });

    it("load() removes temporary files a crash in the middle of a write left, and nothing else", async () => {
      const store = richStore();
      writeFileSync(file, serialize(store));
      for (const name of [".groups.json.1234.7.tmp", ".groups.json.99.tmp", ".other.json.1.2.tmp", "groups.json.1.tmp", ".groups.json.x.tmp"]) writeFileSync(path.join(dir, name), "partial");
      const back = newStore();
      await new Persistence(file, 60_000, back, capturedLogger().log).load();
      expect(readdirSync(dir).sort()).to.deep.equal([".groups.json.x.tmp", ".other.json.1.2.tmp", "groups.json", "groups.json.1.tmp"]);
      expect(snapshot(back)).to.deep.equal(snapshot(store));
    });

    it("on its interval, retries a failed write with a growing wait, and says when writes succeed again", async () => {
      const missing = path.join(dir, "later", "groups.json");
      const { store, p, records } = await running(missing, 50);
      try {
        put(store, { job: "a" }, "m 1\n");
        await sleep(500);
        await flush();
        const errors = records.filter((r) => r.level === 50);
        // Attempts after 50, +100, +200 ms: not one every 50 ms.
        expect(errors.length).to.be.within(1, 4);
        expect(errors.map((r) => r.failuresInRow)).to.deep.equal(errors.map((_, i) => i + 1));
        mkdirSync(path.dirname(missing));
        await poll(() => existsSync(missing), 3000);
        expect(readFileSync(missing, "utf8")).to.equal(serialize(store));
        // The log record follows the rename; on a busy machine, some time after it.
        await poll(() => records.some((r) => r.msg === "persistence file written again"), 3000);
        const failed = records.filter((r) => r.level === 50).length;
        expect(records.find((r) => r.msg === "persistence file written again")!.failedWrites).to.equal(failed);
      } finally {
        p.stop();
      }
    });

    it("logs a failed write and tries again later instead of throwing", async () => {
      const missing = path.join(dir, "no-such-dir", "groups.json");
      const store = newStore();
      const { log, records } = capturedLogger();
      const p = new Persistence(missing, 60_000, store, log);
      await p.load();
      put(store, { job: "a" }, "m 1\n");
      expect(() => p.saveIfChanged()).not.to.throw();
      await flush();
      expect(records.filter((r) => r.level === 50)).to.have.length(1);
      // the change is still pending: once the directory exists, the next save writes it
      mkdirSync(path.dirname(missing));
      p.saveIfChanged();
      expect(readFileSync(missing, "utf8")).to.equal(serialize(store));
    });
  });
});
