// Mutations of valid bodies: byte flips, insertions, deletions, truncation, splices of another
// body, duplicated and swapped lines, runs repeated many times, numbers replaced by huge or odd
// ones, tokens of the formats put where they do not belong, random UTF-8 and random bytes, and
// varints (protobuf lengths and fields) of awkward sizes. Each mutation is data that fast-check
// generates and shrinks; apply() is a pure function of it.
import fc from "fast-check";

export type Mutation =
  | { op: "flip"; at: number; bit: number }
  | { op: "set"; at: number; byte: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "delete"; at: number; len: number }
  | { op: "truncate"; at: number }
  | { op: "duplicateLine"; line: number; times: number }
  | { op: "swapLines"; a: number; b: number }
  | { op: "deleteLine"; line: number }
  | { op: "repeat"; at: number; len: number; times: number }
  | { op: "number"; which: number; text: string }
  | { op: "prefix"; bytes: Uint8Array };

/** Bodies grow by repeats and splices; past this they are cut, so one input stays cheap. */
export const MAX_MUTATED_BYTES = 256 * 1024;

const TOKENS = [
  "\n", " ", "\t", "{", "}", "=", ",", '"', "\\", "#", "# HELP ", "# TYPE ", "# UNIT ", "# EOF", "# EOF\n", "_bucket", "_count", "_sum", "_total",
  "_created", "_gsum", "_gcount", "_info", 'le="+Inf"', 'le="1"', 'quantile="0.5"', " counter", " gauge", " histogram", " summary", " gaugehistogram",
  " gauge_histogram", " stateset", " info", " untyped", " unknown", "\r", "\r\n", "\u0000", "é", "😀", "U__", "_2e_", ' # {a="b"} 1 1', "__name__",
  '"a"', '{"a"}', '\\"', "\\n", "\\t", "\\x", "a", "0", ".", "-", "+", "e", "E",
];

const NUMBERS = [
  "9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551616", "1e30", "-1e30", "1e308", "1e309", "-1e400", "4.9e-324",
  "NaN", "+Inf", "-Inf", "Infinity", "nan", "0x1p3", "1_000", "0", "-0", "+0", ".5", "5.", "1e", "e1", "--1", "1" + "0".repeat(400), "0." + "0".repeat(400) + "1",
  "9223372036854.775807", "9223372036855", "-9223372036855", "2147483648", "4294967296", "1.7976931348623157e308",
];

/** Varints whose values sit at the edges of the integer types a length or field may be read as. */
const VARINT_VALUES = [0n, 1n, 38n, 127n, 128n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n + 38n, 2n ** 53n, 2n ** 62n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];

export function varint(v: bigint): Uint8Array {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) b |= 0x80;
    out.push(b);
  } while (x > 0n);
  return Uint8Array.from(out);
}

/** Doubles as protobuf's fixed64 little-endian bytes. */
function double(v: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return b;
}

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));

const insertion: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: fc.constantFrom(...TOKENS).map(utf8), weight: 4 },
  { arbitrary: fc.constantFrom(...NUMBERS).map(utf8), weight: 2 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 8 }).map(utf8), weight: 2 },
  { arbitrary: fc.uint8Array({ maxLength: 12 }), weight: 2 },
  { arbitrary: fc.constantFrom(...VARINT_VALUES).map(varint), weight: 2 },
  { arbitrary: fc.tuple(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 5 }), fc.constantFrom(...VARINT_VALUES)).map(([field, wire, v]) => Uint8Array.from([...varint(BigInt(field * 8 + wire)), ...varint(v)])), weight: 2 },
  { arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -0, 9.3e15, 1e300, 2 ** 63).map(double), weight: 1 },
);

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  { arbitrary: fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: insertion }), weight: 4 },
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("duplicateLine" as const), line: fc.nat(), times: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant("swapLines" as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ op: fc.constant("deleteLine" as const), line: fc.nat() }),
  fc.record({ op: fc.constant("repeat" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }), times: fc.integer({ min: 2, max: 2000 }) }),
  { arbitrary: fc.record({ op: fc.constant("number" as const), which: fc.nat(), text: fc.constantFrom(...NUMBERS) }), weight: 2 },
  fc.record({ op: fc.constant("prefix" as const), bytes: fc.constantFrom(...VARINT_VALUES).map(varint) }),
);

function lines(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (;;) {
    const nl = b.indexOf(10, from);
    if (nl < 0) {
      out.push(b.subarray(from));
      return out;
    }
    out.push(b.subarray(from, nl + 1));
    from = nl + 1;
  }
}

/** The n-th (mod their count) run of digits, signs, dots and exponents: where a number is. */
function numberAt(b: Buffer, which: number): [number, number] | undefined {
  const runs: [number, number][] = [];
  const re = /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN/g;
  const text = b.toString("latin1");
  for (let m = re.exec(text); m && runs.length < 4096; m = re.exec(text)) runs.push([m.index, m.index + m[0].length]);
  return runs.length === 0 ? undefined : runs[which % runs.length];
}

export function apply(body: Buffer, m: Mutation): Buffer {
  const n = body.length;
  switch (m.op) {
    case "flip": {
      if (n === 0) return body;
      const out = Buffer.from(body);
      out[m.at % n] ^= 1 << m.bit;
      return out;
    }
    case "set": {
      if (n === 0) return body;
      const out = Buffer.from(body);
      out[m.at % n] = m.byte;
      return out;
    }
    case "insert": {
      const at = m.at % (n + 1);
      return Buffer.concat([body.subarray(0, at), m.bytes, body.subarray(at)]);
    }
    case "delete": {
      const at = m.at % (n + 1);
      return Buffer.concat([body.subarray(0, at), body.subarray(at + m.len)]);
    }
    case "truncate":
      return body.subarray(0, m.at % (n + 1));
    case "duplicateLine": {
      const ls = lines(body);
      const i = m.line % ls.length;
      ls.splice(i, 0, ...Array<Buffer>(m.times).fill(ls[i]));
      return Buffer.concat(ls);
    }
    case "swapLines": {
      const ls = lines(body);
      const a = m.a % ls.length;
      const b = m.b % ls.length;
      [ls[a], ls[b]] = [ls[b], ls[a]];
      return Buffer.concat(ls);
    }
    case "deleteLine": {
      const ls = lines(body);
      ls.splice(m.line % ls.length, 1);
      return Buffer.concat(ls);
    }
    case "repeat": {
      if (n === 0) return body;
      const at = m.at % n;
      const piece = body.subarray(at, at + m.len);
      const times = Math.min(m.times, Math.floor(MAX_MUTATED_BYTES / piece.length));
      return Buffer.concat([body.subarray(0, at), ...Array<Buffer>(times).fill(piece), body.subarray(at)]);
    }
    case "number": {
      const at = numberAt(body, m.which);
      if (!at) return body;
      return Buffer.concat([body.subarray(0, at[0]), Buffer.from(m.text), body.subarray(at[1])]);
    }
    case "prefix": {
      // A protobuf body starts with a record's length: replace that varint.
      let i = 0;
      while (i < n && i < 10 && body[i] & 0x80) i++;
      return Buffer.concat([m.bytes, body.subarray(Math.min(i + 1, n))]);
    }
  }
}

/** A body and the mutations applied to it, in order; the result is cut at MAX_MUTATED_BYTES. */
export function mutated(seeds: fc.Arbitrary<Buffer>, maxMutations = 6): fc.Arbitrary<Buffer> {
  return fc.tuple(seeds, fc.array(mutation, { minLength: 1, maxLength: maxMutations }), seeds, fc.nat(), fc.nat()).map(([body, ms, other, from, len]) => {
    let out = body;
    for (const m of ms) {
      out = apply(out, m);
      if (out.length > MAX_MUTATED_BYTES) out = out.subarray(0, MAX_MUTATED_BYTES);
    }
    // A splice: part of another body, where the mutations left off.
    if (from % 4 === 0 && other.length > 0) {
      const start = from % other.length;
      out = Buffer.concat([out, other.subarray(start, start + (len % 512))]);
    }
    return out;
  });
}
