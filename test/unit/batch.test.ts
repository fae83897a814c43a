import { expect } from "chai";
import { PointBatch } from "../../core/batch.ts";
import { LineEncoder, decodeLineProtocol, encodePoint } from "../../core/lineprotocol.ts";
import type { Point } from "../../core/point.ts";

const tricky: Point[] = [
  {
    measurement: "m,x y",
    tags: { "a b": "c,d=e", n: "new\nline\ttab\\n", z: "back\\slash\\" },
    fields: { b: true, "f=1": 1.5, i: 42n, s: 'q"uo\\te' },
    time: 17n,
  },
  { measurement: "\\", tags: { k: "\\\\", r: "carriage\rreturn" }, fields: { v: -0.001 }, time: -5n },
  { measurement: "plain", tags: {}, fields: { big: 1e21, small: 5e-324, neg: -0 }, time: 1700000000123000000n },
];

describe("line protocol decoding", () => {
  it("gives back exactly the points the encoder wrote, escapes included", () => {
    const text = tricky.map((p) => encodePoint(p) + "\n").join("");
    const back = decodeLineProtocol(text);
    expect(back).to.deep.equal(tricky.map((p) => ({ ...p, fields: { ...p.fields } })));
  });

  it("leaves out empty tag values, as the encoder does", () => {
    const [p] = decodeLineProtocol(encodePoint({ measurement: "m", tags: { a: "", b: "1" }, fields: { f: 1 }, time: 1n }));
    expect(p.tags).to.deep.equal({ b: "1" });
  });

  it("rejects a line it cannot read, naming the line", () => {
    expect(() => decodeLineProtocol("m f=1 1\nm,broken 1\n")).to.throw(/line 2/);
    expect(() => decodeLineProtocol('m f="open 1\n')).to.throw(/line 1/);
    expect(() => decodeLineProtocol("m f=1 x\n")).to.throw(/line 1: bad timestamp "x"/);
  });
});

describe("PointBatch", () => {
  const points: Point[] = Array.from({ length: 5000 }, (_, i) => ({
    measurement: "http",
    tags: { code: String(200 + (i % 3)), path: `/item/${i}` },
    fields: { requests_total: i * 1.5 },
    time: 1700000000000000000n + BigInt(i),
  }));

  it("encodes points to line protocol in chunks of whole lines", () => {
    const batch = PointBatch.fromPoints(points);
    expect(batch.size).to.equal(5000);
    const chunks = batch.lineProtocol();
    expect(chunks.length).to.equal(3);
    for (const c of chunks) expect(c[c.length - 1]).to.equal(10);
    const text = Buffer.concat(chunks).toString();
    expect(text.split("\n")[4999]).to.equal("http,code=201,path=/item/4999 requests_total=7498.5 1700000000000004999");
  });

  it("gives the points of an encoded batch back", () => {
    const encoded = PointBatch.fromLineProtocol(new LineEncoder().encodeChunks(points, 700), 5000);
    expect(encoded.points()).to.deep.equal(points);
  });

  it("concatenates encoded batches without decoding and mixed ones as points", () => {
    const a = PointBatch.fromLineProtocol([Buffer.from("a f=1 1\n")], 1);
    const b = PointBatch.fromLineProtocol([Buffer.from("b f=2 2\n"), Buffer.from("c f=3 3\n")], 2);
    const both = PointBatch.concat([a, b]);
    expect(both.size).to.equal(3);
    expect(Buffer.concat(both.lineProtocol()).toString()).to.equal("a f=1 1\nb f=2 2\nc f=3 3\n");
    const mixed = PointBatch.concat([a, PointBatch.fromPoints([{ measurement: "d", tags: {}, fields: { f: 4 }, time: 4n }])]);
    expect(mixed.points().map((p) => p.measurement)).to.deep.equal(["a", "d"]);
    expect(Buffer.concat(mixed.lineProtocol()).toString()).to.equal("a f=1 1\nd f=4 4\n");
  });
});
