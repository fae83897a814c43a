// A batch of points as it travels from an input to the sinks. It can hold the points as
// objects, as line protocol, or both, and gives either on demand: line-protocol sinks write
// an encoded batch as is (e.g. one a parse worker encoded off the main thread), other sinks
// get the points back.
//
// A batch is of one of two kinds. Ordinary batches carry values. A removal batch says that
// series ended: each point names a series (measurement, tags, field keys; the values mean
// nothing and are 0 by convention) and its time is when the series ended. It travels like
// any batch (queues, disk, retries) but only to sinks that accept removals, so the host can
// carry "these series are gone" without knowing what a sink makes of it.
import { LineEncoder, decodeLineProtocol } from "./lineprotocol.ts";
import type { Point } from "./point.ts";

export class PointBatch {
  private constructor(
    /** Number of points. */
    readonly size: number,
    private pts: readonly Point[] | undefined,
    private lp: readonly Buffer[] | undefined,
    /** Whether the points name series that ended (see above) rather than carry values. */
    readonly removal: boolean,
  ) {}

  static fromPoints(points: readonly Point[]): PointBatch {
    return new PointBatch(points.length, points, undefined, false);
  }

  /** A removal batch: each point names series that ended at the point's time (field values are ignored, use 0). */
  static removals(points: readonly Point[]): PointBatch {
    return new PointBatch(points.length, points, undefined, true);
  }

  /** Line protocol in chunks of whole lines; `size` is the number of lines. */
  static fromLineProtocol(chunks: readonly Buffer[], size: number, removal = false): PointBatch {
    return new PointBatch(size, undefined, chunks, removal);
  }

  /** One batch of several of the same kind; throws if asked to mix values and removals. */
  static concat(batches: readonly PointBatch[]): PointBatch {
    if (batches.length === 1) return batches[0];
    const removal = batches.length > 0 && batches[0].removal;
    if (batches.some((b) => b.removal !== removal)) throw new Error("cannot concatenate removal batches with ordinary batches");
    const size = batches.reduce((n, b) => n + b.size, 0);
    if (batches.every((b) => b.lp)) return new PointBatch(size, undefined, batches.flatMap((b) => b.lp!), removal);
    return new PointBatch(size, batches.flatMap((b) => b.points()), undefined, removal);
  }

  points(): readonly Point[] {
    return (this.pts ??= decodeLineProtocol(Buffer.concat(this.lp!).toString("utf8")));
  }

  /** Line protocol, each line ending in "\n", in chunks of whole lines. */
  lineProtocol(): readonly Buffer[] {
    return (this.lp ??= new LineEncoder().encodeChunks(this.pts!));
  }

  private bytes: number | undefined;

  /** Bytes of the batch's line protocol (encoding it if it is not yet). */
  byteLength(): number {
    return (this.bytes ??= this.lineProtocol().reduce((n, c) => n + c.length, 0));
  }
}
