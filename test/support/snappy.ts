// Framed snappy bodies for tests of the body reader's cost.
import { maskedCrc32c } from "../../core/snappy-framed.ts";

/** Framed snappy of `text` with one stored chunk per byte: the most chunks a body can hold (9 bytes each). */
export function oneByteSnappyChunks(text: Buffer): Buffer {
  const body = Buffer.alloc(10 + text.length * 9);
  Buffer.from([0xff, 6, 0, 0, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]).copy(body);
  for (let i = 0, at = 10; i < text.length; i++, at += 9) {
    body[at] = 0x01;
    body[at + 1] = 5;
    body.writeUInt32LE(maskedCrc32c(text.subarray(i, i + 1)), at + 4);
    body[at + 8] = text[i];
  }
  return body;
}
