// Framed snappy streams (the format of "Content-Encoding: snappy" pushes), built chunk by chunk:
// the stream identifier, compressed chunks (blocks by the snappy library), stored chunks,
// padding and reserved skippable chunks, each data chunk with its masked CRC-32C. The checksum
// is computed here from the polynomial, independently of core/crc32c.ts.
import fc from "fast-check";
import { compressSync } from "snappy";

const TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});

function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function masked(data: Uint8Array): number {
  const c = crc32c(data);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

export type Chunk = { kind: "compressed" | "stored"; data: Uint8Array } | { kind: "skip"; type: number; data: Uint8Array };

function header(type: number, len: number): Buffer {
  return Buffer.from([type, len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff]);
}

export function frame(chunks: Chunk[]): Buffer {
  const out: Buffer[] = [Buffer.from([0xff, 6, 0, 0]), Buffer.from("sNaPpY")];
  for (const c of chunks) {
    if (c.kind === "skip") {
      out.push(header(c.type, c.data.length), Buffer.from(c.data));
      continue;
    }
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(masked(c.data));
    const payload = c.kind === "compressed" ? (compressSync(Buffer.from(c.data)) as Buffer) : Buffer.from(c.data);
    out.push(header(c.kind === "compressed" ? 0 : 1, payload.length + 4), crc, payload);
  }
  return Buffer.concat(out);
}

/** Data of a chunk: random bytes, or runs that compress well (up to the format's 64 KiB per chunk). */
const data: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 200 }), weight: 3 },
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 8192 })).map(([piece, times]) => {
    const out = Buffer.alloc(Math.min(65536, piece.length * times));
    for (let i = 0; i < out.length; i++) out[i] = piece[i % piece.length];
    return out;
  }),
);

export const chunk: fc.Arbitrary<Chunk> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constantFrom("compressed" as const, "stored" as const), data }), weight: 6 },
  fc.record({ kind: fc.constant("skip" as const), type: fc.integer({ min: 0x80, max: 0xfe }), data: fc.uint8Array({ maxLength: 16 }) }),
);

export const stream = fc.array(chunk, { maxLength: 6 });
