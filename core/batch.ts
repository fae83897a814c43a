// A batch of points as it travels from an input to the sinks. It can hold the points as
// objects, as line protocol, or both, and gives either on demand: line-protocol sinks write
// an encoded batch as is (e.g. one a parse worker encoded off the main thread), other sinks
// get the points back.
import { LineEncoder, decodeLineProtocol } from "./lineprotocol.ts";
import type { Point } from "./point.ts";

export class PointBatch {
  private constructor(
    /** Number of points. */
    readonly size: number,
    private pts: readonly Point[] | undefined,
    private lp: readonly Buffer[] | undefined,
  ) {}

  static fromPoints(points: readonly Point[]): PointBatch {
    return new PointBatch(points.length, points, undefined);
  }

  /** Line protocol in chunks of whole lines; `size` is the number of lines. */
  static fromLineProtocol(chunks: readonly Buffer[], size: number): PointBatch {
    return new PointBatch(size, undefined, chunks);
  }

  static concat(batches: readonly PointBatch[]): PointBatch {
    if (batches.length === 1) return batches[0];
    const size = batches.reduce((n, b) => n + b.size, 0);
    if (batches.every((b) => b.lp)) return new PointBatch(size, undefined, batches.flatMap((b) => b.lp!));
    return new PointBatch(size, batches.flatMap((b) => b.points()), undefined);
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
