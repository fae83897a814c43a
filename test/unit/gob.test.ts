// The gob decoder (plugins/inputs/pushgateway/store/gob.ts): a stream Go's encoding/gob wrote
// with a value of every kind it decodes (test/fixtures/gob/values.go), and hand-made streams
// that are damaged or hostile, each refused with a GobError naming what is wrong, at once and
// without allocating what a count claims.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeGob, GobError, looksLikeGob, type GobValue } from "../../plugins/inputs/pushgateway/store/gob.ts";
import { arrayType, bytes, i, mapType, msg, sliceType, structType, u } from "../support/gob-writer.ts";

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/gob/values.gob");

/** A decoded value as plain data: structs as objects of the fields sent, maps as entry lists, bytes as hex. */
function plain(v: GobValue): unknown {
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString("hex")}`;
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v !== "object") return v;
  if (v.kind === "struct") return Object.fromEntries([...v.fields].map(([k, x]) => [k, plain(x)]));
  if (v.kind === "map") return { map: v.entries.map(([k, x]) => [plain(k), plain(x)]) };
  return { [v.kind]: `hex:${Buffer.from(v.bytes).toString("hex")}` };
}

const s = bytes;
const stream = (...messages: number[][]) => Uint8Array.from(messages.flat());

function refused(bytes: Uint8Array, pattern: RegExp): GobError {
  let error: unknown;
  try {
    decodeGob(bytes);
  } catch (e) {
    error = e;
  }
  expect(error, "a GobError").to.be.instanceOf(GobError);
  expect((error as GobError).message, (error as GobError).message).to.match(pattern);
  return error as GobError;
}

describe("gob decoder", () => {
  it("decodes what Go's encoding/gob wrote: every kind, zero values left out, 64-bit integers exact", () => {
    const d = decodeGob(readFileSync(FIXTURE));
    expect(d.type.kind).to.equal("struct");
    expect(plain(d.value)).to.deep.equal({
      Bool: true,
      Int: 1000n,
      Negative: -129n,
      MinInt: -9223372036854775808n,
      Uint: 255n,
      MaxUint: 18446744073709551615n,
      Small: -3n,
      Float: 17.25,
      NegFloat: -0.5,
      Bytes: "hex:0001feff",
      String: "Grüße",
      NotUTF8: { "raw string": "hex:61ff62" },
      Array: [1n, -1n, 1099511627776n],
      Slice: ["x", "", "z"],
      Structs: [{ Name: "a", Count: 1n }, {}],
      Pointer: { Name: "p", Count: -2n },
      Map: { map: [["one", 1n]] },
      Nested: { map: [[7n, { map: [["l", [0.5, 2]]] }]] },
      EmptyMap: { map: [] },
      // time.Time's MarshalBinary: version 1, seconds since year 1, nanoseconds, offset -1 (UTC)
      Time: { external: "hex:010000000edbc48708075bcd15ffff" },
      Opaque: { external: `hex:${Buffer.from("opaque").toString("hex")}` },
    });
    // the struct type names every exported field, in order, whether sent or not
    const t = d.type as { fields: { name: string }[] };
    expect(t.fields.map((f) => f.name)).to.include.members(["False", "Empty", "Nil"]).and.not.include("unexported");
  });

  it("decodes a top-level value that is not a struct after its zero field delta", () => {
    const d = decodeGob(stream(mapType(65, 6, 6), msg(i(65), [0], u(2), s("a"), s("b"), s(""), s("c"))));
    expect(plain(d.value)).to.deep.equal({ map: [["a", "b"], ["", "c"]] });
    expect(d.type).to.deep.include({ kind: "map", key: 6, elem: 6 });
  });

  it("decodes a type used before its definition arrives (Go sends the outer type first)", () => {
    const d = decodeGob(stream(sliceType(65, 66), structType(66, ["A", 2]), msg(i(65), [0], u(2), [1], i(-5), [0], [0])));
    expect(plain(d.value)).to.deep.equal([{ A: -5n }, {}]);
  });

  it("tells a gob stream's start from JSON and from garbage", () => {
    expect(looksLikeGob(readFileSync(FIXTURE))).to.equal(true);
    expect(looksLikeGob(Buffer.from('{"format":"x"}'))).to.equal(false);
    expect(looksLikeGob(Buffer.from(' \n{"format":"x"}'))).to.equal(false);
    expect(looksLikeGob(Buffer.alloc(0))).to.equal(false);
    expect(looksLikeGob(Uint8Array.from([5, 1, 2]))).to.equal(false);
  });

  describe("refuses damaged or hostile streams", () => {
    it("empty input, no value after the types, a value of type 0", () => {
      refused(new Uint8Array(0), /empty input/);
      refused(stream(mapType(65, 6, 6)), /the stream ends before its value/);
      refused(stream(msg(i(0))), /a value of type id 0/);
      refused(stream([0]), /empty message/);
    });

    it("a message longer than the input, an unsigned integer of more than 8 bytes", () => {
      refused(stream([...u(1000), 1, 2, 3]), /message length 1000 is more than the 3 bytes left can hold \(at byte 0\)/);
      refused(stream([...u(2n ** 62n), 1]), /message length 4611686018427387904 is more than the 1 bytes left can hold/);
      refused(stream([0xf7, 1, 2, 3, 4, 5, 6, 7, 8, 9]), /unsigned integer of 9 bytes/);
      refused(stream([0xfc, 1]), /unsigned integer of 4 bytes, but only 1 left/);
    });

    it("counts larger than what is left, before allocating anything", () => {
      refused(stream(mapType(65, 6, 6), msg(i(65), [0], u(2n ** 40n))), /entry count of a map 1099511627776 is more than the 0 bytes left can hold/);
      refused(stream(sliceType(65, 6), msg(i(65), [0], u(2n ** 53n), [0, 0])), /element count of a slice 9007199254740992 is more than the 2 bytes left can hold/);
      refused(stream(mapType(65, 6, 6), msg(i(65), [0], u(1), u(2n ** 31n), [1])), /length of a string 2147483648 is more than the 1 bytes left can hold/);
      refused(stream(mapType(65, 6, 6), msg(i(65), [0], u(1), s("a"))), /unexpected end of message/);
    });

    it("type definitions: twice, below the user range, referring to nothing, no kind", () => {
      refused(stream(mapType(65, 6, 6), mapType(65, 6, 6)), /type id 65 defined twice/);
      refused(stream(mapType(20, 6, 6)), /type definition for type id 20/);
      refused(stream(mapType(65, 6, 99), msg(i(65), [0], u(1), s("a"), s("b"))), /type id 99 is not defined in the stream/);
      refused(stream(msg(i(70), [0])), /type id 70 is not defined/);
      refused(stream(msg(i(-65), [0])), /sets 0 kinds of type/);
      refused(stream(structType(65, ["A", 2], ["A", 6])), /field "A" twice/);
    });

    it("bytes left over: inside a message, after the value", () => {
      refused(stream([...msg(i(-65), [4, 1, 2], i(65), [0, 1], i(6), [1], i(6), [0, 0], [9])]), /1 bytes left in a type definition's message/);
      refused(stream(mapType(65, 6, 6), msg(i(65), [0], u(0), [7])), /1 bytes left in the value's message/);
      refused(stream(mapType(65, 6, 6), msg(i(65), [0], u(0)), [1]), /1 bytes after the value/);
    });

    it("struct fields out of range, a non-zero singleton delta, array lengths, bools, unsupported kinds", () => {
      refused(stream(structType(65, ["A", 2]), msg(i(65), [2], i(1), [0])), /field delta 2 in a struct with 1 fields/);
      refused(stream(mapType(65, 6, 6), msg(i(65), [1], u(0))), /non-zero field delta before a top-level value/);
      refused(stream(arrayType(65, 2, 3), msg(i(65), [0], u(2), i(1), i(2))), /array of 2 elements, its type says 3/);
      refused(stream(sliceType(65, 1), msg(i(65), [0], u(1), [2])), /bool encoded as 2/);
      refused(stream(sliceType(65, 7), msg(i(65), [0], u(1), [0, 0])), /complex values are not supported/);
      refused(stream(sliceType(65, 8), msg(i(65), [0], u(1), [0])), /interface values are not supported/);
    });

    it("nesting deeper than any real value, without overflowing the stack", () => {
      // a slice type whose elements are of its own type: [][][]...
      const depth = 5000;
      const body = [...Array.from({ length: depth }, () => 1), 0];
      refused(stream(sliceType(65, 65), msg(i(65), [0], body)), /nested more than 100 deep/);
    });

    it("every truncation of a real stream, and every byte of it changed, at once", function () {
      this.timeout(20_000);
      const real = readFileSync(FIXTURE);
      for (let n = 0; n < real.length; n++) expect(() => decodeGob(real.subarray(0, n)), `first ${n} bytes`).to.throw(GobError);
      for (let at = 0; at < real.length; at++) {
        for (const x of [0x01, 0x80, 0xff]) {
          const bad = Buffer.from(real);
          bad[at] ^= x;
          try {
            decodeGob(bad);
          } catch (e) {
            if (!(e instanceof GobError)) throw new Error(`byte ${at} ^ ${x}: ${(e as Error).stack}`);
          }
        }
      }
    });
  });
});
