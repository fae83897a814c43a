// Writing gob streams by hand, for tests of the gob decoder and of the reference Pushgateway's
// persistence file: the encodings of Go's encoding/gob (doc.go), a message at a time.

/** An unsigned integer: one byte below 128, else the negated byte count and the bytes, big-endian. */
export function u(n: number | bigint): number[] {
  let x = BigInt(n);
  if (x < 128n) return [Number(x)];
  const out: number[] = [];
  while (x > 0n) {
    out.unshift(Number(x & 0xffn));
    x >>= 8n;
  }
  return [256 - out.length, ...out];
}

/** A signed integer: the sign in bit 0, the magnitude (complemented when negative) above it. */
export const i = (n: number | bigint) => (BigInt(n) < 0n ? u((-BigInt(n) - 1n) * 2n + 1n) : u(BigInt(n) * 2n));

/** A string or byte slice: its length, then its bytes. */
export const bytes = (b: Uint8Array | string) => [...u(Buffer.byteLength(b)), ...Buffer.from(b)];

/** A message: its byte count, then the parts. */
export const msg = (...parts: number[][]) => [...u(parts.flat().length), ...parts.flat()];

const field = (name: string, id: number) => [1, ...bytes(name), 1, ...i(id), 0];

// A type definition is the negated type id and a wireType, whose fields come by delta from the
// previous one: ArrayT 1, SliceT 2, StructT 3, MapT 4, GobEncoderT 5; each kind's first field is
// its CommonType (Name, Id), left out here but for the id.

/** Defines `id` as a map type. */
export const mapType = (id: number, key: number, elem: number) => msg(i(-id), [4, 1, 2], i(id), [0, 1], i(key), [1], i(elem), [0, 0]);

/** Defines `id` as a slice type. */
export const sliceType = (id: number, elem: number) => msg(i(-id), [2, 1, 2], i(id), [0, 1], i(elem), [0, 0]);

/** Defines `id` as an array type. */
export const arrayType = (id: number, elem: number, len: number) => msg(i(-id), [1, 1, 2], i(id), [0, 1], i(elem), [1], i(len), [0, 0]);

/** Defines `id` as a struct type with these fields (named T<id>). */
export const structType = (id: number, ...fields: [string, number][]) =>
  msg(i(-id), [3, 1, 1], bytes(`T${id}`), [1], i(id), [0, 1], u(fields.length), ...fields.map(([n, t]) => field(n, t)), [0, 0]);

/** Defines `id` as a GobEncoder type. */
export const gobEncoderType = (id: number) => msg(i(-id), [5, 1, 2], i(id), [0, 0, 0]);
