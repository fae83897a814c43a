// Bodies of the abuse replay, generated here: line bodies built in slices (a 64 MB push is never
// one string), gzip compressed as they are generated, and snappy framing written by hand.
import { createGzip } from 'node:zlib';
import { maskedCrc32c } from '../../core/snappy-framed.ts';

const SLICE_LINES = 20_000;

function slice(from: number, to: number, line: (i: number) => string): Buffer {
  let s = '';
  for (let i = from; i < to; i++) s += line(i);
  return Buffer.from(s);
}

/** `count` lines, each line(i) (with its "\n"), as one buffer built slice by slice. */
export function lines(count: number, line: (i: number) => string): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i += SLICE_LINES) parts.push(slice(i, Math.min(count, i + SLICE_LINES), line));
  return Buffer.concat(parts);
}

/** The same lines, gzip-compressed while they are made; `raw` is the decompressed size. */
export async function gzipLines(count: number, line: (i: number) => string): Promise<{ body: Buffer; raw: number }> {
  const gz = createGzip();
  const out: Buffer[] = [];
  gz.on('data', (d: Buffer) => out.push(d));
  const ended = new Promise<void>((resolve, reject) => {
    gz.on('end', resolve);
    gz.on('error', reject);
  });
  let raw = 0;
  for (let i = 0; i < count; i += SLICE_LINES) {
    const b = slice(i, Math.min(count, i + SLICE_LINES), line);
    raw += b.length;
    if (!gz.write(b)) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await ended;
  return { body: Buffer.concat(out), raw };
}

const STREAM_ID = Buffer.from([0xff, 0x06, 0x00, 0x00, ...Buffer.from('sNaPpY')]);
const STORED = 0x01;

/**
 * `content` in the snappy framing format as stored (uncompressed) chunks of one byte each: the
 * stream identifier, then per byte a chunk header (type 0x01, length 5), the masked CRC-32C of
 * the byte and the byte. Nine bytes on the wire per byte of content.
 */
export function snappyOneByteChunks(content: Buffer): Buffer {
  const crc = Array.from({ length: 256 }, (_, b) => maskedCrc32c(Uint8Array.of(b)));
  const out = Buffer.alloc(STREAM_ID.length + content.length * 9);
  STREAM_ID.copy(out, 0);
  let at = STREAM_ID.length;
  for (const byte of content) {
    out[at] = STORED;
    out.writeUIntLE(5, at + 1, 3);
    out.writeUInt32LE(crc[byte], at + 4);
    out[at + 8] = byte;
    at += 9;
  }
  return out;
}

/** Exactly `bytes` of text-format body: comment lines of padding, then `last` (a sample line). */
export function paddedText(bytes: number, last: string): Buffer {
  const tailBytes = Buffer.byteLength(last);
  const pad = bytes - tailBytes;
  if (pad < 2) throw new Error(`paddedText: ${bytes} bytes cannot hold "${last}"`);
  const row = `#${'x'.repeat(62)}\n`;
  const first = `#${'x'.repeat(Math.max(0, (pad % row.length) - 2))}\n`;
  const head = pad % row.length >= 2 ? first : '';
  const rows = Math.floor((pad - head.length) / row.length);
  const rest = pad - head.length - rows * row.length;
  // rest is 0 or 1 (when pad % 64 was 1): a lone newline is a valid empty line.
  return Buffer.concat([Buffer.from(head + '\n'.repeat(rest)), lines(rows, () => row), Buffer.from(last)]);
}
