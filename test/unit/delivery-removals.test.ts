// Removal batches (series that ended) through the delivery stage: the batch kind, queues that
// never mix kinds and keep them in order (in memory and on disk, across a reopen, with old
// segment files), and the fan-out that reaches only sinks accepting removals.
import { expect } from "chai";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { PointBatch } from "../../core/batch.ts";
import { crc32c } from "../../core/crc32c.ts";
import { DeadLetters } from "../../core/dead-letter.ts";
import { Delivery, SinkQueue, type QueueOptions } from "../../core/delivery.ts";
import { DiskQueue } from "../../core/disk-queue.ts";
import { BackpressureError, SinkWriteError } from "../../core/errors.ts";
import type { Sink } from "../../core/plugin.ts";
import type { Point } from "../../core/point.ts";
import { MemoryStore, takeRecords, type QueueStore, type StoredRecord } from "../../core/queue-store.ts";

const log = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pts(...names: string[]): Point[] {
  return names.map((measurement) => ({ measurement, tags: { job: "j" }, fields: { v: 0 }, time: 5_000_000n }));
}
const values = (...names: string[]) => PointBatch.fromPoints(pts(...names));
const removals = (...names: string[]) => PointBatch.removals(pts(...names));

/** What a batch was, e.g. "+a,b" for values and "-a,b" for removals. */
function show(b: PointBatch): string {
  return (b.removal ? "-" : "+") + b.points().map((p) => p.measurement).join(",");
}

/** Records every write as "+names" or "-names"; optionally slow, failing, and accepting removals. */
class Recorder implements Sink {
  readonly acceptsRemovals: boolean;
  written: string[] = [];
  events: string[] = [];
  delayMs = 0;
  failWith: Error | undefined;
  constructor(accepts: boolean) {
    this.acceptsRemovals = accepts;
  }
  async write(batch: PointBatch): Promise<void> {
    const what = show(batch);
    this.events.push(`start ${what}`);
    if (this.delayMs) await sleep(this.delayMs);
    this.events.push(`end ${what}`);
    if (this.failWith) throw this.failWith;
    this.written.push(what);
  }
  async close(): Promise<void> {}
}

const base: QueueOptions = {
  batch_points: 1000,
  batch_bytes: 1 << 20,
  flush_interval: 10,
  max_in_flight: 1,
  max_queue_points: 100_000,
  max_queue_bytes: 1 << 30,
  durable: false,
  max_disk_bytes: 1 << 30,
  segment_bytes: 1 << 20,
  retry_initial: 10,
  retry_max: 40,
};

let dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "pushkit-removals-"));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function queue(sink: Sink, o: Partial<QueueOptions> = {}, store?: QueueStore, name = "rec", deadLetterFile?: string): SinkQueue {
  const opts = { ...base, ...o };
  return new SinkQueue(name, opts, {
    sink,
    store: store ?? new MemoryStore(opts.max_queue_points, opts.max_queue_bytes),
    deadLetters: new DeadLetters(deadLetterFile ?? path.join(tempDir(), "dead.lp")),
    log,
  });
}

/** Takes and reads everything a store holds, batch by batch, acknowledging each. */
async function drain(store: QueueStore): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const taken = store.take(1000, 1 << 20);
    if (taken.length === 0) return out;
    out.push(show(await store.read(taken)));
    store.ack(taken);
  }
}

describe("removal batches", () => {
  describe("PointBatch kind", () => {
    it("fromPoints and fromLineProtocol are values unless asked; removals() and fromLineProtocol(..., true) are removals", () => {
      expect(values("a").removal).to.equal(false);
      expect(PointBatch.fromLineProtocol([Buffer.from("a v=0 1\n")], 1).removal).to.equal(false);
      const r = removals("a", "b");
      expect(r.removal).to.equal(true);
      expect(r.size).to.equal(2);
      const lp = PointBatch.fromLineProtocol(r.lineProtocol(), 2, true);
      expect(lp.removal).to.equal(true);
      expect(lp.points()).to.deep.equal(pts("a", "b"));
    });

    it("concat keeps the kind, encoded or not", () => {
      const encoded = PointBatch.concat([PointBatch.fromLineProtocol([Buffer.from("a v=0 1\n")], 1, true), PointBatch.fromLineProtocol([Buffer.from("b v=0 1\n")], 1, true)]);
      expect(encoded.removal).to.equal(true);
      expect(Buffer.concat(encoded.lineProtocol()).toString()).to.equal("a v=0 1\nb v=0 1\n");
      const objects = PointBatch.concat([removals("a"), PointBatch.fromLineProtocol([Buffer.from("b v=0 1\n")], 1, true)]);
      expect(show(objects)).to.equal("-a,b");
      expect(PointBatch.concat([values("a"), values("b")]).removal).to.equal(false);
    });

    it("concat refuses to mix values and removals, in either order", () => {
      expect(() => PointBatch.concat([values("a"), removals("b")])).to.throw(/cannot concatenate removal batches with ordinary batches/);
      expect(() => PointBatch.concat([removals("a"), values("b"), removals("c")])).to.throw(/cannot concatenate/);
    });
  });

  describe("takeRecords", () => {
    const rec = (removal: boolean, points = 1): StoredRecord => ({ points, bytes: 10, removal });

    it("takes only the head's kind and stops at the first record of the other kind", () => {
      const records = [rec(false), rec(false), rec(true), rec(true), rec(false)];
      const busy = new Set<StoredRecord>();
      expect(takeRecords(records, busy, 100, 1000)).to.deep.equal([records[0], records[1]]);
      expect(busy.size).to.equal(2);
    });

    it("takes nothing of another kind while records before it are being written", () => {
      const records = [rec(false), rec(true), rec(false)];
      const busy = new Set<StoredRecord>([records[0]]);
      expect(takeRecords(records, busy, 100, 1000)).to.deep.equal([]);
      // Once the head is gone (written), the removal comes next, alone.
      expect(takeRecords(records.slice(1), busy, 100, 1000)).to.deep.equal([records[1]]);
      expect(takeRecords(records.slice(1), busy, 100, 1000)).to.deep.equal([]);
    });

    it("still skips busy records of the same kind and keeps the limits", () => {
      const records = [rec(true, 2), rec(true, 2), rec(true, 2), rec(false)];
      const busy = new Set<StoredRecord>([records[0]]);
      expect(takeRecords(records, busy, 3, 1000)).to.deep.equal([records[1]]);
      expect(takeRecords(records, busy, 3, 1000)).to.deep.equal([records[2]]);
    });
  });

  describe("MemoryStore", () => {
    it("keeps each record's kind and hands them out in order, never mixed", async () => {
      const store = new MemoryStore(1000, 1 << 20);
      for (const b of [values("a"), values("b"), removals("a"), removals("c"), values("d")]) await store.append(b);
      expect(store.points).to.equal(5);
      expect(await drain(store)).to.deep.equal(["+a,b", "-a,c", "+d"]);
      expect(store.points).to.equal(0);
    });
  });

  describe("DiskQueue", () => {
    const opts = { segmentBytes: 1 << 20, maxBytes: 1 << 30 };

    it("keeps the kind across a reopen, in order, as the count's top bit", async () => {
      const dir = tempDir();
      const q = DiskQueue.open(dir, opts, log);
      for (const b of [values("a"), removals("a", "b"), values("c")]) await q.append(b);
      await q.close();

      const [seg] = readdirSync(dir).filter((f) => f.endsWith(".seg"));
      const data = readFileSync(path.join(dir, seg));
      const counts: number[] = [];
      for (let at = 0; at < data.length; at += 8 + data.readUInt32LE(at)) counts.push(data.readUInt32LE(at + 8));
      expect(counts).to.deep.equal([1, 0x8000_0002, 1]);

      const again = DiskQueue.open(dir, opts, log);
      expect(again.points).to.equal(4);
      expect(await drain(again)).to.deep.equal(["+a", "-a,b", "+c"]);
      await again.close();
    });

    it("gives the kind of batches still cached in memory too", async () => {
      const q = DiskQueue.open(tempDir(), opts, log);
      for (const b of [removals("x"), values("y")]) await q.append(b);
      expect(await drain(q)).to.deep.equal(["-x", "+y"]);
      await q.close();
    });

    it("reads a segment written before removals existed as ordinary batches", async () => {
      const dir = tempDir();
      mkdirSync(dir, { recursive: true });
      // The old record layout, built by hand: length, CRC-32C, then count + line protocol.
      const record = (lp: string, count: number) => {
        const payload = Buffer.concat([Buffer.alloc(4), Buffer.from(lp)]);
        payload.writeUInt32LE(count, 0);
        const head = Buffer.alloc(8);
        head.writeUInt32LE(payload.length, 0);
        head.writeUInt32LE(crc32c(payload), 4);
        return Buffer.concat([head, payload]);
      };
      writeFileSync(path.join(dir, "000000000001.seg"), Buffer.concat([record("old v=1 1\n", 1), record("older v=2 2\nolder v=3 3\n", 2)]));
      const q = DiskQueue.open(dir, opts, log);
      expect(q.points).to.equal(3);
      const taken = q.take(1000, 1 << 20);
      const batch = await q.read(taken);
      expect(batch.removal).to.equal(false);
      expect(batch.points().map((p) => p.fields)).to.deep.equal([{ v: 1 }, { v: 2 }, { v: 3 }]);
      await q.close();
    });
  });

  describe("Delivery.emitRemovals", () => {
    it("reaches only the sinks that accept removals, in order with the points around it", async () => {
      const accepting = new Recorder(true);
      const lineProtocol = new Recorder(false);
      const qa = queue(accepting, {}, undefined, "accepting");
      const ql = queue(lineProtocol, {}, undefined, "lp");
      const d = new Delivery([qa, ql]);
      expect(d.removalsWanted).to.equal(true);
      await d.emit(values("a"));
      await d.emitRemovals(removals("a"));
      await d.emit(values("b"));
      expect(ql.depth).to.equal(2);
      expect(qa.depth).to.equal(3);
      await qa.flush(Date.now() + 2000);
      await ql.flush(Date.now() + 2000);
      expect(accepting.written).to.deep.equal(["+a", "-a", "+b"]);
      expect(lineProtocol.written).to.deep.equal(["+a,b"]);
    });

    it("resolves at once and queues nothing when no sink accepts removals", async () => {
      const sink = new Recorder(false);
      const q = queue(sink);
      const d = new Delivery([q]);
      expect(d.removalsWanted).to.equal(false);
      await d.emitRemovals(removals("a"));
      expect(q.depth).to.equal(0);
      await sleep(50);
      expect(sink.events).to.deep.equal([]);
    });

    it("refuses the wrong kind: emit takes no removals, emitRemovals no values", async () => {
      const d = new Delivery([queue(new Recorder(true))]);
      await d.emit(removals("a")).then(
        () => expect.fail("emit took a removal batch"),
        (e) => expect(e).to.be.instanceOf(TypeError),
      );
      await d.emitRemovals(values("a")).then(
        () => expect.fail("emitRemovals took a value batch"),
        (e) => expect(e).to.be.instanceOf(TypeError),
      );
    });

    it("back-pressure comes from accepting sinks only, all or nothing among them", async () => {
      const other = new Recorder(false);
      other.failWith = new SinkWriteError("down", true);
      const qOther = queue(other, { max_queue_points: 1 }, undefined, "other");
      const roomy = queue(new Recorder(true), { max_queue_points: 100, flush_interval: 60_000 }, undefined, "roomy");
      const tight = queue(new Recorder(true), { max_queue_points: 3, flush_interval: 60_000 }, undefined, "tight");
      const d = new Delivery([qOther, roomy, tight]);
      await d.emit(values("x"));
      // The full line-protocol sink does not stand in the way of removals.
      await d.emitRemovals(removals("a", "b"));
      let err: unknown;
      await d.emitRemovals(removals("c")).catch((e) => (err = e));
      expect(err).to.be.instanceOf(BackpressureError);
      expect((err as Error).message).to.match(/^sink "tight" is behind/);
      expect(roomy.depth).to.equal(3);
      expect(tight.depth).to.equal(3);
      await d.close(Date.now() + 50);
    });

    it("writes a removal only after the writes before it ended, and nothing after it before it ended, with several in flight", async () => {
      const sink = new Recorder(true);
      sink.delayMs = 30;
      const q = queue(sink, { batch_points: 1, max_in_flight: 3 });
      const d = new Delivery([q]);
      await d.emit(values("a"));
      await d.emit(values("b"));
      await d.emitRemovals(removals("r"));
      await d.emit(values("c"));
      await d.emit(values("e"));
      await q.flush(Date.now() + 3000);
      const at = (e: string) => sink.events.indexOf(e);
      expect(at("start -r")).to.be.above(at("end +a")).and.above(at("end +b"));
      expect(at("start +c")).to.be.above(at("end -r"));
      expect(at("start +e")).to.be.above(at("end -r"));
      // Same-kind writes still overlap.
      expect(at("start +b")).to.be.below(at("end +a"));
      expect(sink.written.sort()).to.deep.equal(["+a", "+b", "+c", "+e", "-r"]);
    });

    it("retries a removal batch like any other, and it stays a removal", async () => {
      const sink = new Recorder(true);
      sink.failWith = new SinkWriteError("backend down", true);
      const q = queue(sink);
      await new Delivery([q]).emitRemovals(removals("a"));
      await sleep(80);
      expect(sink.events.filter((e) => e === "end -a").length).to.be.at.least(2);
      sink.failWith = undefined;
      await q.flush(Date.now() + 2000);
      expect(sink.written).to.deep.equal(["-a"]);
    });

    it("sets a refused removal batch aside with its lines commented out", async () => {
      const sink = new Recorder(true);
      // The backend says it refused both: the batch is set aside as it is, not split.
      sink.failWith = new SinkWriteError("HTTP 400", false, { status: 400, response: "out of order sample", refused: 2 });
      const file = path.join(tempDir(), "dl", "rec.lp");
      const q = queue(sink, {}, undefined, "rec", file);
      await new Delivery([q]).emitRemovals(removals("gone1", "gone2"));
      await q.flush(Date.now() + 2000);
      expect(q.deadLettered).to.equal(2);
      const lines = readFileSync(file, "utf8").split("\n");
      expect(lines[0]).to.match(/^# \d{4}-.*Z 2 removals \(series that ended, each line commented out\) refused: HTTP 400; answer: out of order sample$/);
      expect(lines.slice(1)).to.deep.equal(["#removed gone1,job=j v=0 5000000", "#removed gone2,job=j v=0 5000000", ""]);
    });

    it("a durable queue delivers removals kept from an earlier run, in order", async () => {
      const dir = tempDir();
      const opts = { segmentBytes: 1 << 20, maxBytes: 1 << 30 };
      const down = new Recorder(true);
      down.failWith = new Error("down");
      const d = new Delivery([queue(down, { durable: true }, DiskQueue.open(dir, opts, log))]);
      await d.emit(values("a"));
      await d.emitRemovals(removals("a"));
      await d.emit(values("b"));
      expect(await d.close(Date.now() + 50)).to.equal(0);

      const up = new Recorder(true);
      const q = queue(up, { durable: true }, DiskQueue.open(dir, opts, log));
      q.resume();
      await q.flush(Date.now() + 2000);
      await q.close(Date.now() + 100);
      expect(up.written).to.deep.equal(["+a", "-a", "+b"]);
    });
  });
});
