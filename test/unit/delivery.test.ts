import { expect } from "chai";
import { pino } from "pino";
import { PointBatch } from "../../core/batch.ts";
import { Delivery, SinkQueue } from "../../core/delivery.ts";
import { BackpressureError } from "../../core/errors.ts";
import type { Sink } from "../../core/plugin.ts";

const log = pino({ level: "silent" });

/** A sink that records what it is given, and fails while `failing` is set. */
class RecordingSink implements Sink {
  batches: string[][] = [];
  failing = false;
  writes = 0;
  async write(batch: PointBatch): Promise<void> {
    this.writes++;
    if (this.failing) throw new Error("backend down");
    this.batches.push(batch.points().map((p) => p.measurement));
  }
  async close(): Promise<void> {}
}

function batch(...names: string[]): PointBatch {
  return PointBatch.fromPoints(names.map((measurement, i) => ({ measurement, tags: {}, fields: { v: i }, time: 1n })));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("delivery", () => {
  it("writes whole pushes in batches of up to batch_points, in order, after flush_interval", async () => {
    const sink = new RecordingSink();
    const q = new SinkQueue("rec", sink, { batch_points: 3, flush_interval: 30, max_queue_points: 100 }, log);
    q.enqueue(batch("a"));
    q.enqueue(batch("b", "c"));
    q.enqueue(batch("d", "e"));
    q.enqueue(batch("f", "g", "h", "i"));
    expect(sink.batches).to.deep.equal([]);
    await q.flush(Date.now() + 1000);
    // A push is never split; one larger than batch_points goes alone.
    expect(sink.batches).to.deep.equal([["a", "b", "c"], ["d", "e"], ["f", "g", "h", "i"]]);
    expect(q.depth).to.equal(0);
    expect(q.written).to.equal(9);
  });

  it("writes on its own once flush_interval has passed", async () => {
    const sink = new RecordingSink();
    const q = new SinkQueue("rec", sink, { batch_points: 100, flush_interval: 20, max_queue_points: 100 }, log);
    q.enqueue(batch("a"));
    await sleep(120);
    expect(sink.batches).to.deep.equal([["a"]]);
  });

  it("keeps a failed batch and writes it first once the sink is back", async () => {
    const sink = new RecordingSink();
    sink.failing = true;
    const q = new SinkQueue("rec", sink, { batch_points: 2, flush_interval: 10, max_queue_points: 100 }, log);
    q.enqueue(batch("a", "b"));
    await sleep(50);
    expect(sink.writes).to.be.at.least(1);
    q.enqueue(batch("c"));
    expect(q.depth).to.equal(3);
    sink.failing = false;
    await q.flush(Date.now() + 3000);
    expect(sink.batches).to.deep.equal([["a", "b"], ["c"]]);
    expect(q.failures).to.be.at.least(1);
  });

  it("refuses a push (503, Retry-After) that any sink has no room for, and then accepts it nowhere", () => {
    const roomy = new SinkQueue("roomy", new RecordingSink(), { batch_points: 10, flush_interval: 10_000, max_queue_points: 100 }, log);
    const tight = new SinkQueue("tight", new RecordingSink(), { batch_points: 10, flush_interval: 10_000, max_queue_points: 3 }, log);
    const d = new Delivery([roomy, tight]);
    d.emit(batch("a", "b"));
    let err: unknown;
    try {
      d.emit(batch("c", "d"));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(BackpressureError);
    expect((err as BackpressureError).status).to.equal(503);
    expect((err as BackpressureError).headers["Retry-After"]).to.equal("5");
    expect((err as Error).message).to.match(/sink "tight" is behind: 2 points queued/);
    expect(roomy.depth).to.equal(2);
    expect(tight.depth).to.equal(2);
  });

  it("takes a push larger than max_queue_points when the queue is empty", () => {
    const q = new SinkQueue("q", new RecordingSink(), { batch_points: 10, flush_interval: 10_000, max_queue_points: 2 }, log);
    expect(q.hasRoomFor(5)).to.equal(true);
    q.enqueue(batch("a", "b", "c", "d", "e"));
    expect(q.hasRoomFor(1)).to.equal(false);
  });

  it("flushes everything on close", async () => {
    const sink = new RecordingSink();
    const q = new SinkQueue("rec", sink, { batch_points: 1000, flush_interval: 60_000, max_queue_points: 100_000 }, log);
    for (let i = 0; i < 20_000; i++) q.enqueue(batch(`m${i}`));
    await new Delivery([q]).close(Date.now() + 5000);
    expect(sink.batches.flat()).to.have.length(20_000);
    expect(sink.batches.every((b) => b.length <= 1000)).to.equal(true);
    expect(sink.batches.flat()[19_999]).to.equal("m19999");
  });
});
