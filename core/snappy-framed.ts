// The snappy framing format (what "Content-Encoding: snappy" means for Prometheus pushes):
// a stream identifier, then chunks of snappy-compressed or stored data, each carrying a
// masked CRC-32C of its uncompressed bytes. Blocks are decompressed by the snappy library;
// the framing and checksums are read here, with the output bounded by the caller's limit.
//
// A body can hold millions of tiny chunks (16 MiB of one-byte stored chunks is 1.8M of them),
// so a chunk costs no allocation: data is copied into one output buffer, sized beforehand from
// the chunk headers, and checked where it lies. The async decoder works in slices of a few
// milliseconds and lets the event loop run between them, so a hostile body delays other
// requests by a slice, not by its whole decode.
import { setImmediate as nextTurn } from "node:timers/promises";
import { uncompressSync } from "snappy";
import { crc32c } from "./crc32c.ts";

export { crc32c };

export class SnappyFrameError extends Error {
  constructor(
    readonly offset: number,
    detail: string,
  ) {
    super(`invalid snappy stream at byte ${offset}: ${detail}`);
  }
}

export class SnappyTooLarge extends Error {}

const STREAM_ID = Buffer.from("sNaPpY");
const MAX_CHUNK_DATA = 65536;
/** Below this, a byte loop copies faster than Buffer.copy's call into C++. */
const SMALL_COPY = 64;
/** How long one slice of the async decoder may run before it lets others in. */
const SLICE_MS = 2;
/** Chunks decoded between two looks at the clock (a compressed chunk always looks). */
const CLOCK_EVERY = 256;

/** The checksum as framed: rotated and offset so that checksums of checksums stay useful. */
export function maskedCrc32c(data: Uint8Array): number {
  const c = crc32c(data);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** A block's declared uncompressed length (its leading varint), or -1 if unreadable. */
function blockLength(input: Buffer, at: number, end: number): number {
  let value = 0;
  for (let i = at, shift = 0; i < end && i < at + 5; i++, shift += 7) {
    value += (input[i] & 0x7f) * 2 ** shift;
    if (input[i] < 0x80) return value;
  }
  return -1;
}

/**
 * Decodes one framed stream, a slice at a time: first a walk over the chunk headers that adds
 * up the output's size (refusing a stream that would pass maxOutput before any work on it, and
 * sizing the output exactly), then the decoding proper into that one buffer.
 */
class FramedDecoder {
  private out: Buffer | undefined;
  private total = 0;
  private size = 0;
  private at = 0;
  private identified = false;

  constructor(
    private readonly input: Buffer,
    private readonly maxOutput: number,
  ) {}

  /** Decodes until the end (true) or until `deadline` (performance.now()) has passed (false). */
  run(deadline: number): boolean {
    if (!this.out) {
      if (!this.measure(deadline)) return false;
      this.out = Buffer.allocUnsafe(this.total);
      this.at = 0;
    }
    const input = this.input;
    let count = 0;
    while (this.at < input.length) {
      const at = this.at;
      if (input.length - at < 4) throw new SnappyFrameError(at, "truncated chunk header");
      const type = input[at];
      const len = input[at + 1] | (input[at + 2] << 8) | (input[at + 3] << 16);
      const start = at + 4;
      const end = start + len;
      if (end > input.length) throw new SnappyFrameError(at, `chunk of ${len} bytes runs past the end of the body`);
      if (type === 0x00 || type === 0x01) {
        if (!this.identified) throw new SnappyFrameError(at, "the stream does not start with the snappy stream identifier");
        if (len < 4) throw new SnappyFrameError(at, "chunk too short for its checksum");
        const from = this.size;
        if (type === 0x00) this.uncompress(at, start + 4, end);
        else this.store(at, start + 4, end);
        const out = this.out;
        if (input.readUInt32LE(start) !== maskedCrc32c(new Uint8Array(out.buffer, out.byteOffset + from, this.size - from))) {
          throw new SnappyFrameError(at, "checksum mismatch");
        }
        if (type === 0x00) count = CLOCK_EVERY;
      } else if (type === 0xff) {
        if (len !== STREAM_ID.length || input.compare(STREAM_ID, 0, STREAM_ID.length, start, end) !== 0) throw new SnappyFrameError(at, "bad stream identifier");
        this.identified = true;
      } else if (type < 0x80) {
        if (!this.identified) throw new SnappyFrameError(at, "the stream does not start with the snappy stream identifier");
        throw new SnappyFrameError(at, `reserved unskippable chunk type 0x${type.toString(16).padStart(2, "0")}`);
      }
      // 0x80-0xfe: padding and reserved skippable chunks.
      this.at = end;
      if (++count >= CLOCK_EVERY) {
        count = 0;
        if (performance.now() >= deadline && this.at < input.length) return false;
      }
    }
    return true;
  }

  result(): Buffer {
    return this.out!.subarray(0, this.size);
  }

  /**
   * Adds up what the chunks declare they hold. A malformed chunk ends the walk: the decoding
   * pass reaches it and says what is wrong with it, with what came before it decoded.
   */
  private measure(deadline: number): boolean {
    const input = this.input;
    let count = 0;
    while (this.at + 4 <= input.length) {
      const at = this.at;
      const type = input[at];
      const len = input[at + 1] | (input[at + 2] << 8) | (input[at + 3] << 16);
      const end = at + 4 + len;
      if (end > input.length) break;
      if (type === 0x01 && len >= 4) this.total += len - 4;
      else if (type === 0x00 && len >= 4) this.total += Math.max(0, blockLength(input, at + 8, end));
      if (this.total > this.maxOutput) throw new SnappyTooLarge();
      this.at = end;
      if (++count >= CLOCK_EVERY) {
        count = 0;
        if (performance.now() >= deadline) return false;
      }
    }
    return true;
  }

  private store(at: number, from: number, to: number): void {
    const n = to - from;
    if (n > MAX_CHUNK_DATA) throw new SnappyFrameError(at, "stored chunk larger than 65536 bytes");
    const out = this.out!;
    const input = this.input;
    if (n < SMALL_COPY) {
      for (let i = from, o = this.size; i < to; i++, o++) out[o] = input[i];
    } else {
      input.copy(out, this.size, from, to);
    }
    this.size += n;
  }

  private uncompress(at: number, from: number, to: number): void {
    const declared = blockLength(this.input, from, to);
    if (declared < 0 || declared > MAX_CHUNK_DATA) throw new SnappyFrameError(at, "bad compressed block length");
    let data: Buffer;
    try {
      data = uncompressSync(this.input.subarray(from, to)) as Buffer;
    } catch (e) {
      throw new SnappyFrameError(at, `corrupt compressed block (${(e as Error).message})`);
    }
    // The walk sized the output by the declared lengths; snappy checks a block against its own.
    if (data.length !== declared) throw new SnappyFrameError(at, "compressed block does not match its declared length");
    data.copy(this.out!, this.size);
    this.size += data.length;
  }
}

/** Decodes a whole framed stream; throws SnappyTooLarge, before decoding any, when its chunks declare more than maxOutput. */
export function decodeSnappyFramed(input: Buffer, maxOutput: number): Buffer {
  const decoder = new FramedDecoder(input, maxOutput);
  decoder.run(Infinity);
  return decoder.result();
}

/** As decodeSnappyFramed, in slices of a few milliseconds with the event loop let in between. */
export async function decodeSnappyFramedAsync(input: Buffer, maxOutput: number): Promise<Buffer> {
  const decoder = new FramedDecoder(input, maxOutput);
  while (!decoder.run(performance.now() + SLICE_MS)) await nextTurn();
  return decoder.result();
}
