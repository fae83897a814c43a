// A strict decoder of one Go encoding/gob stream (as Go's gob.Encoder writes one Encode call):
// messages, each a byte count and then either a type definition (a negative type id and a
// wireType) or the value (its type id and its encoding). It decodes the wire types by their
// definitions in the stream, not by a schema: bool, int, uint, float, bytes, string, arrays,
// slices, structs, maps, and the opaque bytes of a GobEncoder, BinaryMarshaler or
// TextMarshaler; complex numbers and interface values are refused.
//
// Every count and length is checked against the bytes left before anything is allocated, and
// nesting is bounded: a damaged or hostile stream gives a GobError naming the byte offset,
// never a hang, an unbounded allocation or a stack overflow. Encoding rules: Go's
// encoding/gob doc.go; the decoding loop: decoder.go and decode.go.

export class GobError extends Error {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`gob stream: ${detail} (at byte ${offset})`);
    this.name = "GobError";
  }
}

export interface StructField {
  name: string;
  id: number;
}

/** A type as a stream defines it (or a built-in one), by its type id. */
export type GobType =
  | { kind: "bool" | "int" | "uint" | "float" | "bytes" | "string" | "complex" | "interface"; name: string }
  | { kind: "array"; name: string; elem: number; len: number }
  | { kind: "slice"; name: string; elem: number }
  | { kind: "struct"; name: string; fields: StructField[] }
  | { kind: "map"; name: string; key: number; elem: number }
  /** A type that encodes itself: GobEncoder, BinaryMarshaler or TextMarshaler. */
  | { kind: "external"; name: string; marshaler: "GobEncoder" | "BinaryMarshaler" | "TextMarshaler" };

export type StructType = Extract<GobType, { kind: "struct" }>;

export interface GobStruct {
  kind: "struct";
  type: StructType;
  /** The fields the stream carries: gob leaves out fields holding their zero value. */
  fields: Map<string, GobValue>;
}

export interface GobMap {
  kind: "map";
  entries: [GobValue, GobValue][];
}

export interface GobExternal {
  kind: "external";
  /** The bytes its GobEncode / MarshalBinary / MarshalText gave (a view into the input). */
  bytes: Uint8Array;
}

/** A Go string is any bytes: one that is not UTF-8 comes as its bytes (a view into the input). */
export interface GobRawString {
  kind: "raw string";
  bytes: Uint8Array;
}

/**
 * int and uint are bigint (64 bits), float is number, bytes a Uint8Array view into the input,
 * a string a string (or a GobRawString).
 */
export type GobValue = boolean | bigint | number | string | GobRawString | Uint8Array | GobValue[] | GobStruct | GobMap | GobExternal;

export interface GobDecoded {
  typeId: number;
  type: GobType;
  value: GobValue;
}

/** The lowest type id a stream may define (encoding/gob's firstUserId). */
const FIRST_USER_ID = 64;
/** Deeper nesting than any real value has is refused rather than recursed into. */
const MAX_DEPTH = 100;

const BUILTIN: [number, GobType][] = [
  [1, { kind: "bool", name: "bool" }],
  [2, { kind: "int", name: "int" }],
  [3, { kind: "uint", name: "uint" }],
  [4, { kind: "float", name: "float" }],
  [5, { kind: "bytes", name: "bytes" }],
  [6, { kind: "string", name: "string" }],
  [7, { kind: "complex", name: "complex" }],
  [8, { kind: "interface", name: "interface" }],
];

// The types gob describes types with (type.go: wireType and its parts), at their fixed ids;
// gobEncoderType has no fixed id, 24 is ours. Type definitions are decoded with them.
const WIRE_TYPE = 16;
const struct = (name: string, ...fields: [string, number][]): GobType => ({ kind: "struct", name, fields: fields.map(([n, id]) => ({ name: n, id })) });
const BOOTSTRAP: [number, GobType][] = [
  [16, struct("wireType", ["ArrayT", 17], ["SliceT", 19], ["StructT", 20], ["MapT", 23], ["GobEncoderT", 24], ["BinaryMarshalerT", 24], ["TextMarshalerT", 24])],
  [17, struct("arrayType", ["CommonType", 18], ["Elem", 2], ["Len", 2])],
  [18, struct("CommonType", ["Name", 6], ["Id", 2])],
  [19, struct("sliceType", ["CommonType", 18], ["Elem", 2])],
  [20, struct("structType", ["CommonType", 18], ["Field", 22])],
  [21, struct("fieldType", ["Name", 6], ["Id", 2])],
  [22, { kind: "slice", name: "[]*fieldType", elem: 21 }],
  [23, struct("mapType", ["CommonType", 18], ["Key", 2], ["Elem", 2])],
  [24, struct("gobEncoderType", ["CommonType", 18])],
];

const utf8 = new TextDecoder("utf-8", { fatal: true });

class Reader {
  private pos = 0;
  /** End of the message being read. */
  private end: number;
  private readonly types = new Map<number, GobType>([...BUILTIN, ...BOOTSTRAP]);

  constructor(private readonly buf: Uint8Array) {
    this.end = buf.length;
  }

  private fail(detail: string, at = this.pos): never {
    throw new GobError(at, detail);
  }

  private left(): number {
    return this.end - this.pos;
  }

  /** An unsigned integer: one byte below 0x80, else the negated byte count and that many bytes, big-endian. */
  private uint64(): bigint {
    const at = this.pos;
    if (this.pos >= this.end) this.fail("unexpected end of message in an unsigned integer");
    const b = this.buf[this.pos++];
    if (b <= 0x7f) return BigInt(b);
    const n = 256 - b;
    if (n > 8) this.fail(`unsigned integer of ${n} bytes (at most 8)`, at);
    if (n > this.left()) this.fail(`unsigned integer of ${n} bytes, but only ${this.left()} left in the message`, at);
    let x = 0n;
    for (let i = 0; i < n; i++) x = (x << 8n) | BigInt(this.buf[this.pos++]);
    return x;
  }

  /** An unsigned integer; the one-byte form, nearly every count and delta, without a bigint. */
  private small(): number | bigint {
    return this.pos < this.end && this.buf[this.pos] <= 0x7f ? this.buf[this.pos++] : this.uint64();
  }

  /** A count of things that take at least `bytesEach` bytes each: no more than the bytes left after it can hold. */
  private count(what: string, bytesEach: number): number {
    const at = this.pos;
    const x = this.small();
    if (x > Math.floor(this.left() / bytesEach)) this.fail(`${what} ${x} is more than the ${this.left()} bytes left can hold`, at);
    return Number(x);
  }

  private int64(): bigint {
    const u = this.uint64();
    // The sign is in bit 0; the rest is the magnitude, complemented when negative.
    return u & 1n ? -(u >> 1n) - 1n : u >> 1n;
  }

  private float(): number {
    const bits = this.uint64();
    // Sent byte-reversed, so that small exponents make short encodings.
    const view = new DataView(new ArrayBuffer(8));
    view.setBigUint64(0, bits, true);
    return view.getFloat64(0, false);
  }

  private bytes(what: string): Uint8Array {
    const n = this.count(`length of ${what}`, 1);
    return this.buf.subarray(this.pos, (this.pos += n));
  }

  private type(id: number, at: number): GobType {
    const t = this.types.get(id);
    if (t === undefined) this.fail(`type id ${id} is not defined in the stream`, at);
    return t;
  }

  startsWithTypeDefinition(): boolean {
    try {
      const count = this.uint64();
      return count >= 2n && count <= BigInt(this.left()) && this.int64() <= -BigInt(FIRST_USER_ID);
    } catch {
      return false;
    }
  }

  /** The stream's one value, after the type definitions it needs. */
  decode(): GobDecoded {
    for (;;) {
      if (this.pos >= this.buf.length) this.fail(this.buf.length === 0 ? "empty input" : "the stream ends before its value");
      this.end = this.buf.length;
      const at = this.pos;
      const count = this.count("message length", 1);
      if (count === 0) this.fail("empty message", at);
      this.end = this.pos + count;
      const idAt = this.pos;
      const id = this.int64();
      if (id < 0n) {
        this.define(-id, idAt);
      } else if (id === 0n) {
        this.fail("a value of type id 0", idAt);
      } else {
        if (id > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`type id ${id} is not defined in the stream`, idAt);
        const typeId = Number(id);
        const type = this.type(typeId, idAt);
        // Go encodes a top-level struct as itself, anything else as field 0 of a struct.
        if (type.kind !== "struct" && this.uint64() !== 0n) this.fail("non-zero field delta before a top-level value that is not a struct", idAt);
        const value = this.value(typeId, 0);
        if (this.pos !== this.end) this.fail(`${this.end - this.pos} bytes left in the value's message`);
        if (this.end !== this.buf.length) this.fail(`${this.buf.length - this.end} bytes after the value`, this.end);
        return { typeId, type, value };
      }
      if (this.pos !== this.end) this.fail(`${this.end - this.pos} bytes left in a type definition's message`);
    }
  }

  /** A type definition: the wireType of type id `id`. */
  private define(big: bigint, at: number): void {
    if (big < BigInt(FIRST_USER_ID) || big > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`type definition for type id ${big} (a stream defines ids from ${FIRST_USER_ID})`, at);
    const id = Number(big);
    if (this.types.has(id)) this.fail(`type id ${id} defined twice`, at);
    const wire = this.value(WIRE_TYPE, 0) as GobStruct;
    const kinds = [...wire.fields];
    if (kinds.length !== 1) this.fail(`type definition for type id ${id} sets ${kinds.length} kinds of type (one expected)`, at);
    const [kind, body] = kinds[0] as [string, GobStruct];
    const common = body.fields.get("CommonType") as GobStruct | undefined;
    const name = (common?.fields.get("Name") as string | undefined) ?? "";
    const typeId = (field: string) => {
      const v = (body.fields.get(field) as bigint | undefined) ?? 0n;
      if (v <= 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`type definition for type id ${id}: ${field} is type id ${v}`, at);
      return Number(v);
    };
    let t: GobType;
    switch (kind) {
      case "ArrayT": {
        const len = (body.fields.get("Len") as bigint | undefined) ?? 0n;
        if (len < 0n || len > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`type definition for type id ${id}: array length ${len}`, at);
        t = { kind: "array", name, elem: typeId("Elem"), len: Number(len) };
        break;
      }
      case "SliceT":
        t = { kind: "slice", name, elem: typeId("Elem") };
        break;
      case "StructT": {
        const seen = new Set<string>();
        const fields = ((body.fields.get("Field") as GobStruct[] | undefined) ?? []).map((f) => {
          const fieldName = (f.fields.get("Name") as string | undefined) ?? "";
          if (seen.has(fieldName)) this.fail(`type definition for type id ${id}: field ${JSON.stringify(fieldName)} twice`, at);
          seen.add(fieldName);
          const fid = (f.fields.get("Id") as bigint | undefined) ?? 0n;
          if (fid <= 0n || fid > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`type definition for type id ${id}: field ${JSON.stringify(fieldName)} is of type id ${fid}`, at);
          return { name: fieldName, id: Number(fid) };
        });
        t = { kind: "struct", name, fields };
        break;
      }
      case "MapT":
        t = { kind: "map", name, key: typeId("Key"), elem: typeId("Elem") };
        break;
      default:
        t = { kind: "external", name, marshaler: kind === "GobEncoderT" ? "GobEncoder" : kind === "BinaryMarshalerT" ? "BinaryMarshaler" : "TextMarshaler" };
    }
    this.types.set(id, t);
  }

  private value(id: number, depth: number): GobValue {
    const at = this.pos;
    if (depth > MAX_DEPTH) this.fail(`values nested more than ${MAX_DEPTH} deep`);
    const t = this.type(id, at);
    switch (t.kind) {
      case "bool": {
        const b = this.uint64();
        if (b > 1n) this.fail(`bool encoded as ${b}`, at);
        return b === 1n;
      }
      case "int":
        return this.int64();
      case "uint":
        return this.uint64();
      case "float":
        return this.float();
      case "bytes":
        return this.bytes("a byte slice");
      case "string": {
        const b = this.bytes("a string");
        try {
          return utf8.decode(b);
        } catch {
          return { kind: "raw string", bytes: b };
        }
      }
      case "complex":
      case "interface":
        return this.fail(`${t.kind} values are not supported`, at);
      case "array":
      case "slice": {
        // Every element takes at least one byte.
        const n = this.count(`element count of ${t.kind === "array" ? "an array" : "a slice"}`, 1);
        if (t.kind === "array" && n !== t.len) this.fail(`array of ${n} elements, its type says ${t.len}`, at);
        const out: GobValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.value(t.elem, depth + 1);
        return out;
      }
      case "map": {
        // Every key and every element takes at least one byte.
        const n = this.count("entry count of a map", 2);
        const entries: [GobValue, GobValue][] = new Array(n);
        for (let i = 0; i < n; i++) entries[i] = [this.value(t.key, depth + 1), this.value(t.elem, depth + 1)];
        return { kind: "map", entries };
      }
      case "struct":
        return this.struct(t, depth);
      case "external":
        return { kind: "external", bytes: this.bytes(`a ${t.marshaler}'s data`) };
    }
  }

  /** Fields as (delta from the previous field number, value), ended by a zero delta. */
  private struct(t: StructType, depth: number): GobStruct {
    const fields = new Map<string, GobValue>();
    let num = -1;
    for (;;) {
      const at = this.pos;
      const raw = this.small();
      if (raw > t.fields.length) this.fail(`field delta ${raw} in a struct with ${t.fields.length} fields`, at);
      const delta = Number(raw);
      if (delta === 0) break;
      num += delta;
      if (num >= t.fields.length) this.fail(`field number ${num} of a struct with ${t.fields.length} fields`, at);
      const f = t.fields[num];
      fields.set(f.name, this.value(f.id, depth + 1));
    }
    return { kind: "struct", type: t, fields };
  }
}

/** Decodes a gob stream holding one value; throws GobError on anything else. */
export function decodeGob(buf: Uint8Array): GobDecoded {
  return new Reader(buf).decode();
}

/**
 * Whether the bytes begin as a gob stream does: a message length that fits, then the
 * definition of a type with an id a stream may define. Reads a few bytes only.
 */
export function looksLikeGob(buf: Uint8Array): boolean {
  return new Reader(buf).startsWithTypeDefinition();
}
