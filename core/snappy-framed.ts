// The snappy framing format (what "Content-Encoding: snappy" means for Prometheus pushes):
// a stream identifier, then chunks of snappy-compressed or stored data, each carrying a
// masked CRC-32C of its uncompressed bytes. Blocks are decompressed by the snappy library;
// the framing and checksums are read here, with the output bounded by the caller's limit.
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

/** The checksum as framed: rotated and offset so that checksums of checksums stay useful. */
export function maskedCrc32c(data: Uint8Array): number {
  const c = crc32c(data);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** A block's declared uncompressed length (its leading varint), or -1 if unreadable. */
function blockLength(block: Buffer): number {
  let value = 0;
  for (let i = 0, shift = 0; i < block.length && i < 5; i++, shift += 7) {
    value += (block[i] & 0x7f) * 2 ** shift;
    if (block[i] < 0x80) return value;
  }
  return -1;
}

/** Decodes a whole framed stream; throws SnappyTooLarge as soon as the output would pass maxOutput. */
export function decodeSnappyFramed(input: Buffer, maxOutput: number): Buffer {
  const out: Buffer[] = [];
  let size = 0;
  let at = 0;
  let identified = false;
  while (at < input.length) {
    if (input.length - at < 4) throw new SnappyFrameError(at, "truncated chunk header");
    const type = input[at];
    const len = input[at + 1] | (input[at + 2] << 8) | (input[at + 3] << 16);
    const start = at + 4;
    if (start + len > input.length) throw new SnappyFrameError(at, `chunk of ${len} bytes runs past the end of the body`);
    const chunk = input.subarray(start, start + len);
    if (type === 0xff) {
      if (!chunk.equals(STREAM_ID)) throw new SnappyFrameError(at, "bad stream identifier");
      identified = true;
    } else if (!identified) {
      throw new SnappyFrameError(at, "the stream does not start with the snappy stream identifier");
    } else if (type === 0x00 || type === 0x01) {
      if (len < 4) throw new SnappyFrameError(at, "chunk too short for its checksum");
      const payload = chunk.subarray(4);
      let data: Buffer;
      if (type === 0x00) {
        const declared = blockLength(payload);
        if (declared < 0 || declared > MAX_CHUNK_DATA) throw new SnappyFrameError(at, "bad compressed block length");
        if (size + declared > maxOutput) throw new SnappyTooLarge();
        try {
          data = uncompressSync(payload) as Buffer;
        } catch (e) {
          throw new SnappyFrameError(at, `corrupt compressed block (${(e as Error).message})`);
        }
      } else {
        if (payload.length > MAX_CHUNK_DATA) throw new SnappyFrameError(at, "stored chunk larger than 65536 bytes");
        data = payload;
      }
      if (size + data.length > maxOutput) throw new SnappyTooLarge();
      if (chunk.readUInt32LE(0) !== maskedCrc32c(data)) throw new SnappyFrameError(at, "checksum mismatch");
      out.push(data);
      size += data.length;
    } else if (type < 0x80) {
      throw new SnappyFrameError(at, `reserved unskippable chunk type 0x${type.toString(16).padStart(2, "0")}`);
    }
    // 0x80-0xfe: padding and reserved skippable chunks.
    at = start + len;
  }
  return out.length === 1 ? out[0] : Buffer.concat(out, size);
}
