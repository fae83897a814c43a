// Reading the reference Pushgateway's persistence file (plugins/inputs/pushgateway/store/
// reference-file.ts) and importing it at start-up (Persistence.load). The fixture
// test/fixtures/pushgateway-1.5.1/ was written by Debian's prometheus-pushgateway 1.5.1 (see
// test/support/reference-persistence.ts), with the reference's own answers for the same groups:
// what pushkit shows after reading the file must be what the reference showed. Hand-made files
// cover what the reference did not write there: groups pushkit cannot take, and damage.
import { expect } from "chai";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { renderText } from "../../plugins/formats/prometheus/write.ts";
import { goJson, jsonGroup } from "../../plugins/inputs/pushgateway/http/api.ts";
import { gather } from "../../plugins/inputs/pushgateway/store/gather.ts";
import { Persistence } from "../../plugins/inputs/pushgateway/store/persistence.ts";
import { isReferenceFile, msServedAs, readReferenceFile, ReferenceFileError, type ReferenceFile } from "../../plugins/inputs/pushgateway/store/reference-file.ts";
import { GroupStore, type StoreOptions } from "../../plugins/inputs/pushgateway/store/store.ts";
import { bytes, gobEncoderType, i, mapType, msg, structType, u } from "../support/gob-writer.ts";
import { capturedLogger as capture } from "../support/logs.ts";
import { encodeFamilies, type FamilyObject } from "../support/protobuf.ts";
import { apiDifferences, expositionDifferences, FIXTURE_DIR, ulpsApart } from "../support/reference-persistence.ts";
import { normaliseApi, referenceOwn, TIME_GAUGES, type ApiGroupRaw } from "../support/store-sequences.ts";

const GOB = readFileSync(path.join(FIXTURE_DIR, "groups.gob"));
const REFERENCE_API = (JSON.parse(readFileSync(path.join(FIXTURE_DIR, "api.json"), "utf8")) as { data: ApiGroupRaw[] }).data;
const REFERENCE_METRICS = readFileSync(path.join(FIXTURE_DIR, "metrics.txt"), "utf8");

function newStore(o: Partial<StoreOptions> = {}): GroupStore {
  return new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0, ...o });
}

function restored(file: ReferenceFile): GroupStore {
  const store = newStore();
  for (const g of file.groups) store.restore(g.labels, g.families, g.pushTimeMs, g.failureTimeMs, g.lastPushSuccessful);
  return store;
}

/** GET /api/v1/metrics's data as pushkit answers it for this store. */
function pushkitApi(store: GroupStore): ApiGroupRaw[] {
  return JSON.parse(goJson([...store.all()].map((g) => jsonGroup(g)))) as ApiGroupRaw[];
}

// ---- Writing reference files by hand, with the reference's layout ---------------------------

/** The type definitions of the reference's layout (ids as in the fixture; the unused ones left out). */
const TYPES = [
  mapType(71, 6, 65),
  structType(65, ["Labels", 66], ["Metrics", 70]),
  mapType(66, 6, 6),
  mapType(70, 6, 67),
  structType(67, ["Timestamp", 68], ["GobbableMetricFamily", 69]),
  gobEncoderType(68),
  gobEncoderType(69),
].flat();

/** time.Time's MarshalBinary form (UTC). */
function goTime(ms: number): Buffer {
  const b = Buffer.alloc(15);
  b[0] = 1;
  b.writeBigInt64BE(BigInt(Math.floor(ms / 1000)) + 62_135_596_800n, 1);
  b.writeInt32BE((ms % 1000) * 1e6, 9);
  b.writeInt16BE(-1, 13);
  return b;
}

/** One MetricFamily message (not delimited). */
function family(f: FamilyObject): Buffer {
  const d = encodeFamilies(f);
  let at = 0;
  while (d[at] & 0x80) at++;
  return d.subarray(at + 1);
}

const gauge = (name: string, value: number, labels: [string, string][]): FamilyObject => ({
  name,
  type: 1,
  help: "h",
  metric: [{ label: labels.map(([n, v]) => ({ name: n, value: v })), gauge: { value } }],
});

interface HandGroup {
  labels: [string | Buffer, string][];
  /** name -> [time ms or undefined (left out), message bytes or undefined (nil)] */
  families: [string, number | undefined, Buffer | undefined][];
}

function referenceFile(...groups: HandGroup[]): Buffer {
  const value = [
    ...u(groups.length),
    ...groups.flatMap((g) => [
      ...bytes(g.labels.map(([n, v]) => `${n}\u00ff${v}`).join("\u00ff")),
      1,
      ...u(g.labels.length),
      ...g.labels.flatMap(([n, v]) => [...bytes(n), ...bytes(v)]),
      1,
      ...u(g.families.length),
      ...g.families.flatMap(([name, time, pb]) => [...bytes(name), ...(time === undefined ? [] : [1, ...bytes(goTime(time))]), ...(pb === undefined ? [] : [time === undefined ? 2 : 1, ...bytes(pb)]), 0]),
      0,
    ]),
  ];
  return Buffer.from([...TYPES, ...msg(i(71), [0], value)]);
}

/** A group as the reference keeps it: the pushed gauge and both push-time gauges. */
function handGroup(job: string, metric: string, value: number, pushMs: number, failureMs = 0): HandGroup {
  const labels: [string, string][] = [["instance", ""], ["job", job]];
  return {
    labels: [["job", job]],
    families: [
      [metric, pushMs, family(gauge(metric, value, labels))],
      ["push_time_seconds", pushMs, family(gauge("push_time_seconds", pushMs / 1000, labels))],
      ["push_failure_time_seconds", pushMs, family(gauge("push_failure_time_seconds", failureMs / 1000, labels))],
    ],
  };
}

const flush = () => new Promise((r) => setImmediate(r));

// ---- Tests ---------------------------------------------------------------------------------

describe("the reference Pushgateway's persistence file", () => {
  describe("a file written by prometheus-pushgateway 1.5.1", () => {
    let file: ReferenceFile;
    let store: GroupStore;
    let api: ApiGroupRaw[];

    before(() => {
      file = readReferenceFile(GOB);
      store = restored(file);
      api = pushkitApi(store);
    });

    it("is told from pushkit's JSON file", () => {
      expect(isReferenceFile(GOB)).to.equal(true);
      expect(isReferenceFile(readFileSync(path.join(FIXTURE_DIR, "api.json")))).to.equal(false);
      expect(isReferenceFile(Buffer.from('{"format":"pushkit-pushgateway-groups","version":1,"groups":[]}'))).to.equal(false);
    });

    it("holds every group the reference showed, and pushkit takes each of them", () => {
      expect(file.unreadable).to.deep.equal([]);
      expect(file.groups.map((g) => Object.fromEntries(g.labels))).to.deep.equal(normaliseApi(REFERENCE_API).map((g) => g.labels));
      expect(store.size).to.equal(REFERENCE_API.length);
    });

    it("is shown by pushkit's /api/v1/metrics as the reference showed it: families, types, help, labels, values, times, last_push_successful", () => {
      expect(apiDifferences(api, REFERENCE_API)).to.deep.equal([]);
      // the cases the fixture was made for are in it
      const byJob = Object.fromEntries(normaliseApi(api).map((g) => [g.labels.job, g]));
      expect(byJob["/var/lib/db"].labels.path).to.equal("/etc/cron.d/x");
      expect(byJob["empty-instance"].labels).to.deep.equal({ instance: "", job: "empty-instance" });
      expect(byJob.flaky.last_push_successful).to.equal(false);
      expect(byJob.never.last_push_successful).to.equal(false);
      expect(Object.keys(byJob.never.families)).to.deep.equal([...TIME_GAUGES].sort());
      expect(byJob.gone).to.equal(undefined);
      expect(Object.values(byJob.backup.families).map((f) => f.type)).to.include.members(["SUMMARY", "HISTOGRAM", "COUNTER", "GAUGE", "UNTYPED"]);
    });

    it("is served on /metrics as the reference served it", () => {
      expect(expositionDifferences(renderText(gather(store.all())), () => false, REFERENCE_METRICS, referenceOwn)).to.deep.equal([]);
    });
  });

  describe("what pushkit cannot take, or can take differently", () => {
    it("leaves out a group whose family its parser refuses, or whose label is not UTF-8, or whose family is nil, and reads the others", () => {
      const good = handGroup("good", "g", 1, 1_700_000_000_000);
      const refused = handGroup("bad", "b", 1, 1_700_000_000_000);
      refused.families[0][2] = Buffer.from([0x0a, 0x05, 0x62]); // a name of 5 bytes, 1 there
      const notUtf8: HandGroup = { labels: [["job", "x"], ["zone", Buffer.from([0x7a, 0xff]) as unknown as string]], families: [] };
      const nil = handGroup("nil", "n", 1, 1_700_000_000_000);
      nil.families[0][2] = undefined;
      const read = readReferenceFile(referenceFile(good, refused, notUtf8, nil));
      expect(read.groups.map((g) => g.labels)).to.deep.equal([[["job", "good"]]]);
      expect(read.unreadable).to.have.length(3);
      expect(read.unreadable.find((r) => r.labels[0]?.[1] === "bad")!.reason).to.match(/^family "b": protobuf parsing error at byte 0: invalid MetricFamily message/);
      expect(read.unreadable.find((r) => r.labels[0]?.[1] === "nil")!.reason).to.equal('family "n" is nil');
      expect(read.unreadable.find((r) => r.labels.length === 0)!.reason).to.match(/grouping label value "z.*" is not valid UTF-8/);
    });

    it("without push-time gauges: the latest family time is the push time, and the last push counts as successful", () => {
      const read = readReferenceFile(referenceFile({ labels: [["job", "old"]], families: [["a", 1_000_000, family(gauge("a", 1, [["job", "old"]]))], ["b", undefined, family(gauge("b", 2, [["job", "old"]]))]] }));
      const g = read.groups[0];
      expect([g.pushTimeMs, g.failureTimeMs, g.lastPushSuccessful]).to.deep.equal([1_000_000, 0, true]);
      expect(g.families.map((f) => [f.family.name, f.timeMs])).to.deep.equal([["a", 1_000_000], ["b", 1_000_000]]);
    });

    it("gives push times whose ms / 1000 is the reference's seconds, or one unit in the last place off", () => {
      let state = 12345;
      const random = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
      let exact = 0;
      const n = 20_000;
      for (let k = 0; k < n; k++) {
        const seconds = Number(BigInt(1_600_000_000_000_000_000n + BigInt(Math.floor(random() * 4e17)))) / 1e9;
        const ms = msServedAs(seconds);
        expect(ulpsApart(ms / 1000, seconds), String(seconds)).to.be.at.most(1);
        if (ms / 1000 === seconds) exact++;
      }
      expect(exact / n).to.be.greaterThan(0.95);
      expect(msServedAs(0)).to.equal(0);
    });
  });

  describe("damage", () => {
    function refusedWith(b: Uint8Array, pattern: RegExp): void {
      expect(() => readReferenceFile(b)).to.throw(ReferenceFileError, pattern);
    }

    it("a file that is a gob stream of something else", () => {
      refusedWith(readFileSync(path.join(FIXTURE_DIR, "../gob/values.gob")), /^not a readable Pushgateway persistence file: the file's value is not a map$/);
      const other = Buffer.from([
        ...mapType(65, 6, 66),
        ...structType(66, ["Labels", 6]),
        ...msg(i(65), [0], [1, ...bytes("k"), 1, ...bytes("v"), 0]),
      ]);
      refusedWith(other, /a group has the fields Labels, expected Labels, Metrics/);
    });

    it("garbage, empty input, every truncation of the real file", () => {
      refusedWith(Buffer.alloc(0), /gob stream: empty input/);
      refusedWith(Buffer.from("garbage"), /gob stream: /);
      for (let n = 0; n < GOB.length; n++) expect(() => readReferenceFile(GOB.subarray(0, n)), `first ${n} bytes`).to.throw(ReferenceFileError);
    });

    it("every byte of the real file changed: read or refused with ReferenceFileError, never another error", function () {
      this.timeout(30_000);
      const flips = [0x01, 0x80, 0xff];
      for (let at = 0; at < GOB.length; at++) {
        const x = flips[at % flips.length];
        const bad = Buffer.from(GOB);
        bad[at] ^= x;
        try {
          readReferenceFile(bad);
        } catch (e) {
          if (!(e instanceof ReferenceFileError)) throw new Error(`byte ${at} ^ ${x}: ${(e as Error).stack}`);
        }
      }
    });
  });

  describe("Persistence.load", () => {
    let dir: string;
    let file: string;

    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), "pushkit-reference-file-"));
      file = path.join(dir, "pushgateway.db");
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("imports the reference's file, keeps it beside untouched, writes pushkit's file at once, and does not import twice", async () => {
      writeFileSync(file, GOB);
      const store = newStore();
      const { log, records } = capture();
      const before = Date.now();
      await new Persistence(file, 60_000, store, log).load();
      expect(pushkitApi(store)).to.deep.equal(pushkitApi(restored(readReferenceFile(GOB))));
      const aside = readdirSync(dir).filter((f) => f !== "pushgateway.db");
      expect(aside).to.have.length(1);
      const m = /^pushgateway\.db\.pushgateway-(\d+)$/.exec(aside[0]);
      expect(m, aside[0]).not.to.equal(null);
      expect(Number(m![1])).to.be.within(before, Date.now());
      expect(readFileSync(path.join(dir, aside[0]))).to.deep.equal(GOB);
      expect(JSON.parse(readFileSync(file, "utf8"))).to.include({ format: "pushkit-pushgateway-groups" });
      await flush();
      const info = records.find((r) => r.level === 30 && String(r.msg).startsWith("groups imported from the reference Pushgateway's persistence file"));
      expect(info, JSON.stringify(records)).to.include({ file, movedTo: path.join(dir, aside[0]), groups: REFERENCE_API.length, notImported: 0 });

      // the next start reads pushkit's file
      const again = newStore();
      const second = capture();
      await new Persistence(file, 60_000, again, second.log).load();
      expect(pushkitApi(again)).to.deep.equal(pushkitApi(store));
      expect(readdirSync(dir).sort()).to.deep.equal(["pushgateway.db", aside[0]].sort());
      await flush();
      expect(second.records.map((r) => r.msg)).to.include("groups restored from the persistence file");
    });

    it("logs each group the store refuses and imports the others", async () => {
      const a = handGroup("a", "x", 1, 1_700_000_000_000);
      const b = handGroup("b", "x", 2, 1_700_000_000_500, 1_700_000_001_000);
      // x is a counter in group b, a gauge in group a
      b.families[0][2] = family({ ...gauge("x", 2, [["instance", ""], ["job", "b"]]), type: 0, metric: [{ label: [{ name: "instance", value: "" }, { name: "job", value: "b" }], counter: { value: 2 } }] });
      writeFileSync(file, referenceFile(a, b));
      const store = newStore();
      const { log, records } = capture();
      await new Persistence(file, 60_000, store, log).load();
      expect([...store.all()].map((g) => g.labels)).to.deep.equal([[["job", "a"]]]);
      await flush();
      const error = records.find((r) => r.level === 50);
      expect(error).to.deep.include({ msg: "a group of the reference Pushgateway's persistence file is not imported", group: { job: "b" } });
      expect(String(error!.reason)).to.match(/is not a GAUGE/);
      expect(records.find((r) => r.level === 30)).to.include({ groups: 1, notImported: 1 });
    });

    it("moves a damaged reference file aside as corrupt, logs why, and starts empty", async () => {
      const damaged = GOB.subarray(0, GOB.length - 10);
      writeFileSync(file, damaged);
      const store = newStore();
      const { log, records } = capture();
      await new Persistence(file, 60_000, store, log).load();
      expect(store.size).to.equal(0);
      expect(existsSync(file)).to.equal(false);
      const files = readdirSync(dir);
      expect(files).to.have.length(1);
      expect(files[0]).to.match(/^pushgateway\.db\.corrupt-\d+$/);
      expect(readFileSync(path.join(dir, files[0]))).to.deep.equal(damaged);
      await flush();
      const error = records.find((r) => r.level === 50)!;
      expect(error.msg).to.equal("persistence file is damaged; moved aside, starting with no groups");
      expect(error.reason).to.match(/^not a readable Pushgateway persistence file: gob stream: .* \(at byte \d+\)$/);
    });
  });
});
