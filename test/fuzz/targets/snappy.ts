// Snappy framing (decodeSnappyFramed) as a fuzz target:
//   valid    a framed stream decodes to the concatenated data, or SnappyTooLarge exactly when
//            that data is over the output limit
//   mutated  any mutation of a stream decodes to at most the limit, or is refused with a
//            SnappyFrameError or SnappyTooLarge, in bounded time
import fc from "fast-check";
import { decodeSnappyFramed, SnappyFrameError, SnappyTooLarge } from "../../../core/snappy-framed.ts";
import { frame, stream, type Chunk } from "../gen/snappy-frames.ts";
import { mutated } from "../gen/mutate.ts";
import { probe, SlowInput, timed } from "../probe.ts";
import type { FuzzTarget } from "./target.ts";

function decode(body: Buffer, limit: number): Buffer | Error {
  probe.input(body);
  try {
    return timed(`decoding ${body.length} bytes of framed snappy`, () => decodeSnappyFramed(body, limit));
  } catch (e) {
    if (e instanceof SlowInput) throw e;
    if (e instanceof SnappyTooLarge) return e;
    if (!(e instanceof SnappyFrameError)) throw new Error(`decodeSnappyFramed threw ${(e as Error)?.name}, not a SnappyFrameError: ${(e as Error)?.stack ?? e}`);
    if (e.message.trim() === "") throw new Error("SnappyFrameError without a message");
    return e;
  }
}

function dataOf(chunks: Chunk[]): Buffer {
  return Buffer.concat(chunks.flatMap((c) => (c.kind === "skip" ? [] : [Buffer.from(c.data)])));
}

const limit = fc.oneof(fc.constant(64 * 1024 * 1024), fc.integer({ min: 0, max: 70_000 }));

export const snappyTarget: FuzzTarget = {
  name: "snappy",
  description: "snappy framing of push bodies (decodeSnappyFramed)",
  async open() {
    const pool = fc.sample(stream.map(frame), { seed: 11, numRuns: 300 });
    const seeds = fc.integer({ min: 0, max: pool.length - 1 }).map((i) => pool[i]);
    return {
      properties: [
        {
          name: "valid",
          share: 0.2,
          property: fc.property(stream, limit, (chunks, max) => {
            const want = dataOf(chunks);
            const got = decode(frame(chunks), max);
            if (want.length > max) {
              if (!(got instanceof SnappyTooLarge)) throw new Error(`${want.length} bytes over a limit of ${max} gave ${got instanceof Error ? got.message : `${got.length} bytes`}`);
              return;
            }
            if (got instanceof Error) throw new Error(`a valid stream was refused: ${got.message}`);
            if (!got.equals(want)) throw new Error(`decoded ${got.length} bytes differ from the ${want.length} framed`);
          }),
        },
        {
          name: "mutated",
          share: 0.8,
          property: fc.property(mutated(seeds), limit, (body, max) => {
            const got = decode(body, max);
            if (got instanceof Buffer && got.length > max) throw new Error(`decoded ${got.length} bytes, over the limit of ${max}`);
          }),
        },
      ],
      close: async () => {},
    };
  },
};
