// The delivery stage: batching, retries with backoff, dead letters (of a batch refused in
// part, only the points refused), back-pressure, and the disk queue (durability across a
// reopen, a corrupt segment, segments deleted once delivered).
import { expect } from "chai";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { PointBatch } from "../../core/batch.ts";
import { DeadLetters } from "../../core/dead-letter.ts";
import { Delivery, SinkQueue, type QueueOptions } from "../../core/delivery.ts";
import { DiskQueue } from "../../core/disk-queue.ts";
import { BackpressureError, SinkWriteError } from "../../core/errors.ts";
import type { Sink } from "../../core/plugin.ts";
import { MemoryStore, type QueueStore } from "../../core/queue-store.ts";
import { halves, MAX_PART_WRITES, writeParts } from "../../core/split-write.ts";

const log = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A sink that records what it is given, and fails with `failWith` while it is set. */
class RecordingSink implements Sink {
  batches: string[][] = [];
  failWith: Error | undefined;
  writes = 0;
  inFlight = 0;
  maxInFlight = 0;
  delayMs = 0;
  async write(batch: PointBatch): Promise<void> {
    this.writes++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs) await sleep(this.delayMs);
      if (this.failWith) throw this.failWith;
      this.batches.push(batch.points().map((p) => p.measurement));
    } finally {
      this.inFlight--;
    }
  }
  async close(): Promise<void> {}
}

function batch(...names: string[]): PointBatch {
  return PointBatch.fromPoints(names.map((measurement, i) => ({ measurement, tags: {}, fields: { v: i }, time: 1n })));
}

const base: QueueOptions = {
  batch_points: 1000,
  batch_bytes: 1 << 20,
  flush_interval: 60_000,
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
  const d = mkdtempSync(path.join(tmpdir(), "pushkit-delivery-"));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function queue(sink: Sink, o: Partial<QueueOptions> = {}, store?: QueueStore, name = "rec"): SinkQueue {
  const opts = { ...base, ...o };
  return new SinkQueue(name, opts, {
    sink,
    store: store ?? new MemoryStore(opts.max_queue_points, opts.max_queue_bytes),
    deadLetters: new DeadLetters(path.join(tempDir(), "dead.lp")),
    log,
  });
}

async function emitAll(d: Delivery, ...batches: PointBatch[]): Promise<void> {
  for (const b of batches) await d.emit(b);
}

describe("delivery", () => {
  it("writes whole pushes in batches of up to batch_points, in order", async () => {
    const sink = new RecordingSink();
    const q = queue(sink, { batch_points: 3 });
    await emitAll(new Delivery([q]), batch("a"), batch("b", "c"), batch("d", "e"), batch("f", "g", "h", "i"));
    await q.flush(Date.now() + 1000);
    // A push is never split; one larger than batch_points goes alone.
    expect(sink.batches).to.deep.equal([["a", "b", "c"], ["d", "e"], ["f", "g", "h", "i"]]);
    expect(q.depth).to.equal(0);
    expect(q.written).to.equal(9);
  });

  it("batches by bytes too", async () => {
    const sink = new RecordingSink();
    const q = queue(sink, { batch_bytes: 30, flush_interval: 10 });
    await emitAll(new Delivery([q]), batch("aaaaaaaaaa"), batch("bbbbbbbbbb"), batch("cccccccccc"));
    await q.flush(Date.now() + 1000);
    // Each line is "xxxxxxxxxx v=0 1\n", 17 bytes: only one fits under 30.
    expect(sink.batches).to.deep.equal([["aaaaaaaaaa"], ["bbbbbbbbbb"], ["cccccccccc"]]);
  });

  it("writes on its own once flush_interval has passed", async () => {
    const sink = new RecordingSink();
    const q = queue(sink, { batch_points: 100, flush_interval: 20 });
    await new Delivery([q]).emit(batch("a"));
    expect(sink.batches).to.deep.equal([]);
    await sleep(150);
    expect(sink.batches).to.deep.equal([["a"]]);
  });

  it("keeps a failed batch, retries it with backoff and writes it first once the sink is back", async () => {
    const sink = new RecordingSink();
    sink.failWith = new SinkWriteError("backend down", true);
    const q = queue(sink, { batch_points: 2, flush_interval: 10 });
    const d = new Delivery([q]);
    await d.emit(batch("a", "b"));
    await sleep(150);
    expect(sink.writes).to.be.at.least(3);
    await d.emit(batch("c"));
    expect(q.depth).to.equal(3);
    sink.failWith = undefined;
    await q.flush(Date.now() + 3000);
    expect(sink.batches).to.deep.equal([["a", "b"], ["c"]]);
    expect(q.failures).to.be.at.least(3);
  });

  it("waits at least a backend's Retry-After", async () => {
    const sink = new RecordingSink();
    sink.failWith = new SinkWriteError("busy", true, { status: 429, retryAfterMs: 300 });
    const q = queue(sink, { batch_points: 1 });
    await new Delivery([q]).emit(batch("a"));
    await sleep(30);
    expect(sink.writes).to.equal(1);
    sink.failWith = undefined;
    await sleep(150);
    expect(sink.writes).to.equal(1);
    await q.flush(Date.now() + 2000);
    expect(sink.writes).to.equal(2);
  });

  it("sets a batch the backend refuses for good aside in the dead-letter file, with its answer, and goes on", async () => {
    const sink = new RecordingSink();
    const dir = tempDir();
    const opts = { ...base, batch_points: 2 };
    const q = new SinkQueue("rec", opts, { sink, store: new MemoryStore(1000, 1 << 20), deadLetters: new DeadLetters(path.join(dir, "dl", "rec.lp")), log });
    // The backend says it refused both points: the batch is set aside as it is, not split.
    sink.failWith = new SinkWriteError("HTTP 400 from http://db/write", false, { status: 400, response: '{"error":"field type conflict"}', refused: 2 });
    const d = new Delivery([q]);
    await d.emit(batch("bad1", "bad2"));
    await q.flush(Date.now() + 1000);
    sink.failWith = undefined;
    await d.emit(batch("good"));
    await q.flush(Date.now() + 1000);
    expect(sink.writes).to.equal(2);
    expect(sink.batches).to.deep.equal([["good"]]);
    expect(q.deadLettered).to.equal(2);
    const text = readFileSync(path.join(dir, "dl", "rec.lp"), "utf8").split("\n");
    expect(text[0]).to.match(/^# \d{4}-\d\d-\d\dT.*Z 2 points refused: HTTP 400 from http:\/\/db\/write; answer: \{"error":"field type conflict"\}$/);
    expect(text.slice(1)).to.deep.equal(["bad1 v=0 1", "bad2 v=1 1", ""]);
  });

  it("writes up to max_in_flight batches at once", async () => {
    const sink = new RecordingSink();
    sink.delayMs = 30;
    const q = queue(sink, { batch_points: 1, max_in_flight: 3 });
    await emitAll(new Delivery([q]), ...["a", "b", "c", "d", "e", "f"].map((n) => batch(n)));
    await q.flush(Date.now() + 2000);
    expect(sink.maxInFlight).to.equal(3);
    expect(sink.batches.flat().sort()).to.deep.equal(["a", "b", "c", "d", "e", "f"]);
  });

  it("refuses a push (503, Retry-After) that any sink has no room for, and then accepts it nowhere", async () => {
    const roomy = queue(new RecordingSink(), { max_queue_points: 100 }, undefined, "roomy");
    const tight = queue(new RecordingSink(), { max_queue_points: 3 }, undefined, "tight");
    const d = new Delivery([roomy, tight]);
    await d.emit(batch("a", "b"));
    let err: unknown;
    try {
      await d.emit(batch("c", "d"));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(BackpressureError);
    expect((err as BackpressureError).status).to.equal(503);
    expect((err as BackpressureError).headers["Retry-After"]).to.equal("5");
    expect((err as Error).message).to.match(/^sink "tight" is behind: 2 points, \d+ bytes queued in memory \(max_queue_points 3, max_queue_bytes \d+\); nothing of this push was accepted, retry later$/);
    expect(roomy.depth).to.equal(2);
    expect(tight.depth).to.equal(2);
  });

  it("counts pushes still being queued against the limit", async () => {
    const q = queue(new RecordingSink(), { max_queue_points: 3 });
    const d = new Delivery([q]);
    const first = d.emit(batch("a", "b"));
    // Not yet kept, but reserved: a second push does not fit beside it.
    await d.emit(batch("c", "d")).then(
      () => expect.fail("expected a 503"),
      (e) => expect(e).to.be.instanceOf(BackpressureError),
    );
    await first;
    expect(q.depth).to.equal(2);
  });

  it("takes a push larger than max_queue_points when the queue is empty", async () => {
    const q = queue(new RecordingSink(), { max_queue_points: 2 });
    const d = new Delivery([q]);
    await d.emit(batch("a", "b", "c", "d", "e"));
    expect(q.depth).to.equal(5);
    await d.emit(batch("f")).then(
      () => expect.fail("expected a 503"),
      (e) => expect(e).to.be.instanceOf(BackpressureError),
    );
  });

  it("gives every sink every point; a dead one holds up only itself, until its own queue is full", async () => {
    const dead = new RecordingSink();
    dead.failWith = new SinkWriteError("down", true);
    const live = new RecordingSink();
    const qDead = queue(dead, { batch_points: 1, max_queue_points: 5 }, undefined, "dead");
    const qLive = queue(live, { batch_points: 1, flush_interval: 10 }, undefined, "live");
    const d = new Delivery([qDead, qLive]);
    for (let i = 0; i < 5; i++) await d.emit(batch(`m${i}`));
    await sleep(100);
    expect(live.batches.flat()).to.deep.equal(["m0", "m1", "m2", "m3", "m4"]);
    expect(qDead.depth).to.equal(5);
    await d.emit(batch("m5")).then(
      () => expect.fail("expected a 503 once the dead sink is full"),
      (e) => expect((e as Error).message).to.match(/^sink "dead" is behind/),
    );
    expect(live.batches.flat()).to.have.length(5);
    dead.failWith = undefined;
    await qDead.flush(Date.now() + 2000);
    expect(dead.batches.flat()).to.deep.equal(["m0", "m1", "m2", "m3", "m4"]);
  });

  it("flushes everything on close", async () => {
    const sink = new RecordingSink();
    const q = queue(sink, { batch_points: 1000 });
    const d = new Delivery([q]);
    for (let i = 0; i < 5000; i++) await d.emit(batch(`m${i}`));
    expect(await d.close(Date.now() + 5000)).to.equal(0);
    expect(sink.batches.flat()).to.have.length(5000);
    expect(sink.batches.every((b) => b.length <= 1000)).to.equal(true);
    expect(sink.batches.flat()[4999]).to.equal("m4999");
  });

  it("reports the points of a memory queue it could not deliver by the deadline as lost", async () => {
    const sink = new RecordingSink();
    sink.failWith = new Error("down");
    const d = new Delivery([queue(sink)]);
    await d.emit(batch("a", "b"));
    expect(await d.close(Date.now() + 100)).to.equal(2);
  });
});

describe("delivery of a batch refused in part", () => {
  /**
   * A backend that refuses a write holding any point whose measurement starts with "bad".
   * `partial`: it stores the other points of a refused write all the same and says how many it
   * refused (InfluxDB 1.x's "partial write ... dropped=N"); otherwise it stores nothing of a
   * refused write and does not say (Prometheus' remote-write receiver). `stored` counts what
   * it holds per point; `sizes` the points of every write it got.
   */
  class PartlyRefusingSink implements Sink {
    stored = new Map<string, number>();
    sizes: number[] = [];
    status = 400;
    /** Fails this many writes after the first with a failure worth retrying. */
    outageAfterFirst = 0;
    constructor(private readonly partial: boolean) {}
    async write(b: PointBatch): Promise<void> {
      this.sizes.push(b.size);
      if (this.sizes.length > 1 && this.outageAfterFirst > 0) {
        this.outageAfterFirst--;
        throw new SinkWriteError("HTTP 503", true, { status: 503 });
      }
      const names = b.points().map((p) => p.measurement);
      const bad = names.filter((n) => n.startsWith("bad"));
      const keep = (list: string[]) => list.forEach((n) => this.stored.set(n, (this.stored.get(n) ?? 0) + 1));
      if (bad.length === 0) return keep(names);
      if (this.partial) keep(names.filter((n) => !n.startsWith("bad")));
      throw new SinkWriteError(`HTTP ${this.status}: refused ${bad.join(",")}`, false, { status: this.status, response: `no: ${bad.join(",")}`, ...(this.partial ? { refused: bad.length } : {}) });
    }
    async close(): Promise<void> {}
  }

  function partialQueue(sink: Sink): { q: SinkQueue; deadFile: string; d: Delivery } {
    const deadFile = path.join(tempDir(), "dl", "rec.lp");
    const q = new SinkQueue("rec", { ...base, batch_points: 100 }, { sink, store: new MemoryStore(100_000, 1 << 30), deadLetters: new DeadLetters(deadFile), log });
    return { q, deadFile, d: new Delivery([q]) };
  }

  /** The dead-letter file: each entry's comment and its lines. */
  function entries(file: string): { note: string; lines: string[] }[] {
    const out: { note: string; lines: string[] }[] = [];
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (line.startsWith("# ")) out.push({ note: line, lines: [] });
      else if (line !== "") out.at(-1)!.lines.push(line);
    }
    return out;
  }

  const GOOD = Array.from({ length: 30 }, (_, i) => `good${i}`);

  it("sets aside only the points refused, each with its own answer, and writes the rest once when the backend stored nothing of a refused write", async () => {
    const sink = new PartlyRefusingSink(false);
    const { q, d, deadFile } = partialQueue(sink);
    // Three pushes of other jobs around two bad points, taken as one batch.
    await emitAll(d, batch(...GOOD.slice(0, 10)), batch("bad_a", ...GOOD.slice(10, 20), "bad_b"), batch(...GOOD.slice(20)));
    await q.flush(Date.now() + 2000);
    expect([...sink.stored.keys()].sort()).to.deep.equal([...GOOD].sort());
    expect([...sink.stored.values()].every((n) => n === 1), "each good point stored once").to.equal(true);
    expect(q.written).to.equal(30);
    expect(q.deadLettered).to.equal(2);
    const dead = entries(deadFile);
    expect(dead.map((e) => e.lines)).to.deep.equal([["bad_a v=0 1"], ["bad_b v=11 1"]]);
    expect(dead[0].note).to.match(/ 1 points refused: HTTP 400: refused bad_a; answer: no: bad_a$/);
    expect(dead[1].note).to.match(/ 1 points refused: HTTP 400: refused bad_b; answer: no: bad_b$/);
    // Halving: about 2 log2(32) writes per bad point, not one per point.
    expect(sink.sizes.length).to.be.at.most(1 + 2 * 2 * Math.ceil(Math.log2(32)));
  });

  it("never sets aside a point a backend that stores the rest of a refused write stored, and stops splitting a part refused whole", async () => {
    const sink = new PartlyRefusingSink(true);
    const { q, d, deadFile } = partialQueue(sink);
    await emitAll(d, batch(...GOOD.slice(0, 15)), batch("bad_1", "bad_2", "bad_3", "bad_4"), batch(...GOOD.slice(15)));
    await q.flush(Date.now() + 2000);
    expect([...sink.stored.keys()].sort()).to.deep.equal([...GOOD].sort());
    const dead = entries(deadFile).flatMap((e) => e.lines.map((l) => l.split(" ")[0]));
    expect(dead.sort()).to.deep.equal(["bad_1", "bad_2", "bad_3", "bad_4"]);
    expect(q.written).to.equal(30);
    expect(q.deadLettered).to.equal(4);
    // Parts the backend said it refused whole are not split into single points.
    expect(sink.sizes.filter((n) => n === 1)).to.have.length.below(4);
  });

  it("does not split a refusal that is not about points (403): the batch is set aside whole after one write", async () => {
    const sink = new PartlyRefusingSink(false);
    sink.status = 403;
    const { q, d, deadFile } = partialQueue(sink);
    await emitAll(d, batch("good_a", "bad_x", "good_b"));
    await q.flush(Date.now() + 2000);
    expect(sink.sizes).to.deep.equal([3]);
    expect(entries(deadFile).map((e) => e.lines.length)).to.deep.equal([3]);
  });

  it("splits a batch refused as too large (413) until its parts are taken, and sets nothing aside", async () => {
    const sink: Sink & { sizes: number[]; got: string[] } = {
      sizes: [],
      got: [],
      async write(b) {
        this.sizes.push(b.size);
        if (b.size > 8) throw new SinkWriteError("HTTP 413", false, { status: 413 });
        this.got.push(...b.points().map((p) => p.measurement));
      },
      async close() {},
    };
    const { q, d } = partialQueue(sink);
    await emitAll(d, batch(...GOOD));
    await q.flush(Date.now() + 2000);
    expect(sink.got).to.deep.equal(GOOD);
    expect(q.written).to.equal(30);
    expect(q.deadLettered).to.equal(0);
    expect(sink.sizes).to.deep.equal([30, 15, 7, 8, 15, 7, 8]);
  });

  it("retries the whole batch after a failure worth retrying in the middle of splitting; sets nothing aside twice", async () => {
    const sink = new PartlyRefusingSink(false);
    sink.outageAfterFirst = 1;
    const { q, d, deadFile } = partialQueue(sink);
    await emitAll(d, batch(...GOOD.slice(0, 5), "bad_z", ...GOOD.slice(5, 10)));
    await q.flush(Date.now() + 3000);
    expect([...sink.stored.keys()].sort()).to.deep.equal(GOOD.slice(0, 10).sort());
    expect(entries(deadFile).map((e) => e.lines)).to.deep.equal([["bad_z v=5 1"]]);
    expect(q.failures).to.equal(1);
    expect(q.deadLettered).to.equal(1);
  });

  it("stops splitting once a batch took its share of writes, and sets the parts still refused aside as they are", async () => {
    const refuseAll = async (b: PointBatch) => {
      throw new SinkWriteError("HTTP 400", false, { status: 400, response: String(b.size) });
    };
    const whole = batch(...Array.from({ length: 64 }, (_, i) => `bad${i}`));
    const out = await writeParts(refuseAll, whole, new SinkWriteError("HTTP 400", false, { status: 400 }), 10);
    expect(out.exhausted).to.equal(true);
    expect(out.writes).to.be.within(10, 10 + 2 * Math.log2(64));
    expect(out.refused.reduce((n, r) => n + r.batch.size, 0), "every point is in a refused part").to.equal(64);
    expect(Buffer.concat(out.refused.flatMap((r) => r.batch.lineProtocol())).toString()).to.equal(Buffer.concat(whole.lineProtocol()).toString());
    expect(MAX_PART_WRITES).to.be.at.least(2 * 16 * Math.log2(5000));
  });

  it("halves a batch by its encoded lines, keeping removals removals", () => {
    const [a, b] = halves(PointBatch.fromLineProtocol([Buffer.from("m1 v=1 1\nm2 v=2 2\n"), Buffer.from("m3 v=3 3\n")], 3, true))!;
    expect([a.size, b.size, a.removal, b.removal]).to.deep.equal([1, 2, true, true]);
    expect(Buffer.concat(a.lineProtocol()).toString()).to.equal("m1 v=1 1\n");
    expect(Buffer.concat(b.lineProtocol()).toString()).to.equal("m2 v=2 2\nm3 v=3 3\n");
    expect(halves(batch("only"))).to.equal(undefined);
  });
});

describe("disk queue", () => {
  const opts = { segmentBytes: 1 << 20, maxBytes: 1 << 30 };

  function segments(dir: string): string[] {
    return readdirSync(dir).filter((f) => f.endsWith(".seg"));
  }

  it("keeps appended batches across a reopen and delivers them then", async () => {
    const dir = tempDir();
    const first = DiskQueue.open(dir, opts, log);
    const sink = new RecordingSink();
    sink.failWith = new Error("down");
    const q = queue(sink, { durable: true }, first);
    const d = new Delivery([q]);
    await d.emit(batch("a", "b"));
    await d.emit(batch("c"));
    expect(await d.close(Date.now() + 50)).to.equal(0); // durable: nothing is lost
    const again = DiskQueue.open(dir, opts, log);
    expect(again.points).to.equal(3);
    const ok = new RecordingSink();
    const q2 = queue(ok, { durable: true, flush_interval: 10 }, again);
    q2.resume();
    await q2.flush(Date.now() + 2000);
    expect(ok.batches).to.deep.equal([["a", "b", "c"]]);
    await q2.close(Date.now() + 100);
    // Everything delivered: no segment left, and a reopen finds nothing.
    expect(segments(dir)).to.deep.equal([]);
    expect(DiskQueue.open(dir, opts, log).points).to.equal(0);
  });

  it("writes appends made back to back, each as soon as the one before resolved", async () => {
    // The caller resumes before the writer has ended: an append then must start a new one.
    const dir = tempDir();
    const store = DiskQueue.open(dir, opts, log);
    for (const name of ["a", "b", "c"]) await store.append(batch(name));
    expect(store.points).to.equal(3);
    await store.close();
    expect(DiskQueue.open(dir, opts, log).points).to.equal(3);
  });

  it("starts a new segment past segment_bytes and deletes each once it was delivered", async () => {
    const dir = tempDir();
    const store = DiskQueue.open(dir, { segmentBytes: 4096, maxBytes: 1 << 30 }, log);
    const sink = new RecordingSink();
    sink.failWith = new Error("down");
    const q = queue(sink, { durable: true, batch_points: 50 }, store);
    const d = new Delivery([q]);
    for (let i = 0; i < 300; i++) await d.emit(batch(`point_number_${i}`));
    expect(segments(dir).length).to.be.at.least(2);
    for (const f of segments(dir)) expect(statSync(path.join(dir, f)).size).to.be.at.most(4096);
    sink.failWith = undefined;
    await q.flush(Date.now() + 5000);
    expect(sink.batches.flat()).to.have.length(300);
    await sleep(150);
    expect(segments(dir)).to.deep.equal([]);
    expect(store.diskBytes).to.equal(0);
    await q.close(Date.now() + 100);
  });

  it("remembers what was delivered: a reopen does not send it again", async () => {
    const dir = tempDir();
    const store = DiskQueue.open(dir, opts, log);
    const sink = new RecordingSink();
    const q = queue(sink, { durable: true, batch_points: 2 }, store);
    const d = new Delivery([q]);
    await d.emit(batch("a", "b"));
    await q.flush(Date.now() + 1000);
    sink.failWith = new Error("down");
    await d.emit(batch("c"));
    await q.close(Date.now() + 50);
    const again = DiskQueue.open(dir, opts, log);
    expect(again.points).to.equal(1);
    expect((await again.read(again.take(10, 1 << 20))).points().map((p) => p.measurement)).to.deep.equal(["c"]);
    await again.close();
  });

  it("refuses pushes with 503 once max_disk_bytes is reached, and takes them again once delivered", async () => {
    const dir = tempDir();
    const store = DiskQueue.open(dir, { segmentBytes: 4096, maxBytes: 200 }, log);
    const sink = new RecordingSink();
    sink.failWith = new Error("down");
    const q = queue(sink, { durable: true }, store);
    const d = new Delivery([q]);
    await d.emit(batch("a_fairly_long_measurement_name_1"));
    await d.emit(batch("a_fairly_long_measurement_name_2"));
    let refused: unknown;
    for (let i = 3; i < 10 && !refused; i++) await d.emit(batch(`a_fairly_long_measurement_name_${i}`)).catch((e) => (refused = e));
    expect(refused).to.be.instanceOf(BackpressureError);
    expect((refused as Error).message).to.match(/its disk queue holds \d+ bytes \(max_disk_bytes 200\)/);
    sink.failWith = undefined;
    await q.flush(Date.now() + 2000);
    await sleep(50);
    await d.emit(batch("after"));
    await q.close(Date.now() + 1000);
    expect(sink.batches.flat()).to.include("after");
  });

  it("keeps the good records of a corrupt segment, sets the rest aside, and starts", async () => {
    const dir = tempDir();
    const store = DiskQueue.open(dir, opts, log);
    const sink = new RecordingSink();
    sink.failWith = new Error("down");
    const q = queue(sink, { durable: true }, store);
    const d = new Delivery([q]);
    await d.emit(batch("good1"));
    await d.emit(batch("good2"));
    await d.emit(batch("damaged"));
    await q.close(Date.now() + 50);
    const [seg] = segments(dir);
    const file = path.join(dir, seg);
    const bytes = readFileSync(file);
    bytes[bytes.length - 3] ^= 0xff; // inside the last record's line protocol
    writeFileSync(file, bytes);
    appendFileSync(file, Buffer.from([1, 2, 3])); // and a torn header after it
    const again = DiskQueue.open(dir, opts, log);
    expect(again.points).to.equal(2);
    expect((await again.read(again.take(10, 1 << 20))).points().map((p) => p.measurement)).to.deep.equal(["good1", "good2"]);
    await again.close();
    const aside = readdirSync(dir).filter((f) => f.includes(".corrupt-"));
    expect(aside).to.have.length(1);
    expect(existsSync(file)).to.equal(true);
    expect(statSync(file).size + statSync(path.join(dir, aside[0])).size).to.equal(bytes.length + 3);
  });
});
