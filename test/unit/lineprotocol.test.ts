import { expect } from "chai";
import { LineEncoder, LineWriter, encodeBatch, encodePoint, escapeKey, escapeMeasurement } from "../../core/lineprotocol.ts";
import { PointsWriter, type Point, type PointWriter } from "../../core/point.ts";

describe("line protocol", () => {
  it("sorts tags and fields, leaves out empty tag values", () => {
    const line = encodePoint({ measurement: "m", tags: { b: "2", a: "1", e: "" }, fields: { y: 2, x: 1.5 }, time: 17n });
    expect(line).to.equal("m,a=1,b=2 x=1.5,y=2 17");
  });

  function pt(p: Partial<Point>): Point {
    return { measurement: "m", tags: {}, fields: { v: 1 }, time: 1n, ...p };
  }

  describe("escaping", () => {
    it("escapes comma and space in the measurement, not =", () => {
      expect(encodePoint(pt({ measurement: "my meas,ure=ment" }))).to.equal("my\\ meas\\,ure=ment v=1 1");
    });

    it("escapes comma, = and space in tag keys and values", () => {
      expect(encodePoint(pt({ tags: { "tag key,=": "a b,c=d" } }))).to.equal("m,tag\\ key\\,\\==a\\ b\\,c\\=d v=1 1");
    });

    it("escapes comma, = and space in field keys", () => {
      expect(encodePoint(pt({ fields: { "f k,=": 2 } }))).to.equal("m f\\ k\\,\\==2 1");
    });

    it("writes newline, tab and carriage return in tag values as \\n, \\t, \\r", () => {
      const line = encodePoint(pt({ tags: { t: "a\nb\tc\rd" } }));
      expect(line).to.equal("m,t=a\\nb\\tc\\rd v=1 1");
      expect(line).not.to.match(/[\n\t\r]/);
    });

    it("never lets a control character break the line, in any part", () => {
      const line = encodePoint({ measurement: "m\n1", tags: { "k\n": "v" }, fields: { "f\r": 1 }, time: 1n });
      expect(line).not.to.match(/[\n\r]/);
      expect(line.split(" ")).to.have.length(3);
    });

    it("leaves a backslash alone where it escapes nothing", () => {
      expect(encodePoint(pt({ tags: { path: "C:\\dir" } }))).to.equal("m,path=C:\\dir v=1 1");
    });

    it("doubles a backslash before an escapable character, another backslash or the end", () => {
      expect(escapeKey("a\\")).to.equal("a\\\\");
      expect(escapeKey("a\\ b")).to.equal("a\\\\\\ b");
      expect(escapeKey("a\\,b")).to.equal("a\\\\\\,b");
      expect(escapeKey("a\\=b")).to.equal("a\\\\\\=b");
      expect(escapeKey("a\\\\b")).to.equal("a\\\\\\b");
      expect(escapeMeasurement("m\\")).to.equal("m\\\\");
      expect(escapeMeasurement("m\\ x")).to.equal("m\\\\\\ x");
    });

    it("a tag value ending in a backslash does not swallow the delimiter", () => {
      const line = encodePoint(pt({ tags: { a: "x\\", b: "y" } }));
      expect(line).to.equal("m,a=x\\\\,b=y v=1 1");
      expect(parseHead(line)).to.deep.equal({ measurement: "m", tags: [["a", "x\\"], ["b", "y"]] });
    });

    it("tricky names and values survive a round trip through an InfluxDB-style reader", () => {
      const samples = ["plain", "a b", "a,b", "a=b", "\\", "a\\", "\\a", "a\\\\", "a\\ b", "a\\,b", "a\\=b", "\\\\\\", " lead", "trail ", "é ü,=", "x\\y\\"];
      for (const s of samples) {
        const line = encodePoint({ measurement: s, tags: { [s]: s, z: "end" }, fields: { v: 1 }, time: 5n });
        expect(parseHead(line), JSON.stringify(s)).to.deep.equal({ measurement: s, tags: [[s, s], ["z", "end"]].sort((a, b) => (a[0] < b[0] ? -1 : 1)) });
      }
    });
  });

  describe("field values", () => {
    it("writes floats in shortest round-trip form", () => {
      expect(encodePoint(pt({ fields: { a: 100, b: 0.002451013, c: -1.5, d: 0 } }))).to.equal("m a=100,b=0.002451013,c=-1.5,d=0 1");
    });

    it("writes integers with i, booleans as true/false and strings quoted", () => {
      const line = encodePoint(pt({ fields: { i: 42n, n: -7n, t: true, f: false, s: "hello world" } }));
      expect(line).to.equal('m f=false,i=42i,n=-7i,s="hello world",t=true 1');
    });

    it('escapes " and \\ in string fields', () => {
      expect(encodePoint(pt({ fields: { s: 'say "hi" \\ ok' } }))).to.equal('m s="say \\"hi\\" \\\\ ok" 1');
    });

    it("drops NaN and infinite fields and keeps the others", () => {
      expect(encodePoint(pt({ fields: { a: NaN, b: 2, c: Infinity, d: -Infinity } }))).to.equal("m b=2 1");
    });

    it("a point without a writable field encodes to nothing", () => {
      expect(encodePoint(pt({ fields: { a: NaN } }))).to.equal("");
      expect(encodePoint(pt({ fields: {} }))).to.equal("");
    });
  });

  describe("sorting and timestamps", () => {
    it("sorts tag keys and field keys by key", () => {
      const line = encodePoint({ measurement: "m", tags: { zz: "1", a: "2", m: "3", B: "4" }, fields: { z: 1, a: 2, _: 3 }, time: 9n });
      expect(line).to.equal("m,B=4,a=2,m=3,zz=1 _=3,a=2,z=1 9");
    });

    it("sorts keys that look like numbers as text, too", () => {
      const line = encodePoint({ measurement: "m", tags: { b: "1", "10": "x", "9": "y" }, fields: { "2": 1, "11": 2, a: 3 }, time: 1n });
      expect(line).to.equal("m,10=x,9=y,b=1 11=2,2=1,a=3 1");
    });

    it("sorts keys inserted out of order the same as keys inserted in order", () => {
      const a = encodePoint({ measurement: "m", tags: { z: "1", a: "2" }, fields: { y: 1, b: 2 }, time: 1n });
      const b = encodePoint({ measurement: "m", tags: { a: "2", z: "1" }, fields: { b: 2, y: 1 }, time: 1n });
      expect(a).to.equal("m,a=2,z=1 b=2,y=1 1");
      expect(b).to.equal(a);
    });

    it("omits every empty tag value, keeping the others", () => {
      expect(encodePoint(pt({ tags: { instance: "", job: "j", x: "" } }))).to.equal("m,job=j v=1 1");
    });

    it("writes the nanosecond timestamp in full", () => {
      expect(encodePoint(pt({ time: 1_700_000_000_123_456_789n }))).to.equal("m v=1 1700000000123456789");
    });
  });

  describe("encodeBatch", () => {
    it("writes one line per point, each ending in a newline, skipping points without fields", () => {
      const text = encodeBatch([pt({ fields: { a: 1 } }), pt({ fields: { a: NaN } }), pt({ measurement: "n", fields: { b: 2 }, time: 3n })]);
      expect(text).to.equal("m a=1 1\nn b=2 3\n");
    });

    it("an empty batch is empty", () => {
      expect(encodeBatch([])).to.equal("");
    });
  });
});

describe("LineWriter", () => {
  // A small seeded generator: the same cases on every run.
  function random(seed: number): () => number {
    return () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
  }

  const PIECES = ["a", "b", "le", "quantile", "job", "m", "x y", "a,b", "k=v", "\\", "\\\\", "end\\", "\n", "\r\t", '"', "é", "日本", "😀", "\ud800", "", "0", "10", "9", "tag_x"];
  const NUMBERS = [0, -0, 1, -1, 7, 42, 1e9 - 1, 1e9, 1e9 + 1, 2 ** 31, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 1e21, 1.5, -2.25, 0.1, 1e-7, 123456.789, 5e-324, 1.7976931348623157e308, NaN, Infinity, -Infinity];

  function text(rnd: () => number, parts: number): string {
    let s = "";
    for (let i = 0; i < parts; i++) s += PIECES[Math.floor(rnd() * PIECES.length)];
    return s;
  }

  function number(rnd: () => number): number {
    const r = rnd();
    if (r < 0.5) return NUMBERS[Math.floor(rnd() * NUMBERS.length)];
    if (r < 0.8) return Math.floor(rnd() * 2 ** (1 + Math.floor(rnd() * 53))) * (rnd() < 0.2 ? -1 : 1);
    return (rnd() - 0.5) * 10 ** Math.floor(rnd() * 40 - 20);
  }

  /** Sorted pairs with unique keys, as the converter hands them over. */
  function pairs(rnd: () => number): string[] {
    const tags = new Map<string, string>();
    const n = Math.floor(rnd() * 6);
    for (let i = 0; i < n; i++) tags.set(text(rnd, 1 + Math.floor(rnd() * 2)), rnd() < 0.2 ? "" : text(rnd, 1 + Math.floor(rnd() * 3)));
    tags.delete("__proto__");
    return [...tags.keys()].sort().flatMap((k) => [k, tags.get(k)!]);
  }

  /** The same random calls made on each writer. */
  function drive(seed: number, writers: Required<PointWriter>[]): void {
    const rnd = random(seed);
    for (let s = 0; s < 60; s++) {
      const measurement = rnd() < 0.3 ? "m" : text(rnd, 1 + Math.floor(rnd() * 3));
      const tags = pairs(rnd);
      const asRecord = rnd() < 0.2;
      for (const w of writers) {
        if (asRecord) w.series(measurement, Object.fromEntries(Array.from({ length: tags.length / 2 }, (_, i) => [tags[2 * i], tags[2 * i + 1]])));
        else w.seriesPairs(measurement, [...tags, "unused", "pair"], tags.length);
      }
      for (let p = 0; p < 1 + Math.floor(rnd() * 5); p++) {
        const time = rnd() < 0.7 ? 1700000000000000000n : BigInt(Math.floor(rnd() * 1e15));
        const field = text(rnd, 1 + Math.floor(rnd() * 2));
        const value = number(rnd);
        const kind = rnd();
        const extraKey = rnd() < 0.5 ? (rnd() < 0.5 ? "le" : "quantile") : tags.length > 0 && rnd() < 0.5 ? tags[0] : text(rnd, 1);
        const extraValue = rnd() < 0.1 ? "" : text(rnd, 1 + Math.floor(rnd() * 2));
        const field2 = field + "_2";
        const value2 = number(rnd);
        for (const w of writers) {
          if (kind < 0.4) w.add(time, field, value);
          else if (kind < 0.8) w.add(time, field, value, extraKey, extraValue);
          else w.addTwo(time, field, value, field2, value2);
        }
      }
    }
  }

  /** Points as the PointWriter contract has them: the extra tag sorts into place and wins. */
  class Reference implements Required<PointWriter> {
    readonly points: Point[] = [];
    private measurement = "";
    private tags: Record<string, string> = {};

    series(measurement: string, tags: Record<string, string>): void {
      this.measurement = measurement;
      this.tags = tags;
    }

    seriesPairs(measurement: string, pairs: readonly string[], length: number): void {
      this.series(measurement, Object.fromEntries(Array.from({ length: length / 2 }, (_, i) => [pairs[2 * i], pairs[2 * i + 1]])));
    }

    add(time: bigint, field: string, value: number, extraKey?: string, extraValue?: string): void {
      const tags = extraKey === undefined ? this.tags : { ...this.tags, [extraKey]: extraValue! };
      this.points.push({ measurement: this.measurement, tags, fields: { [field]: value }, time });
    }

    addTwo(time: bigint, field1: string, value1: number, field2: string, value2: number): void {
      this.points.push({ measurement: this.measurement, tags: this.tags, fields: { [field1]: value1, [field2]: value2 }, time });
    }
  }

  for (let seed = 1; seed <= 40; seed++) {
    it(`writes the lines LineEncoder writes for the same points (random case ${seed})`, () => {
      const points = new Reference();
      const writer = new LineWriter(1 + (seed % 7));
      drive(seed, [points, writer]);
      const expected = new LineEncoder().encodeBatch(points.points);
      const chunks = writer.finish();
      // As bytes: a lone surrogate is written as U+FFFD, as Buffer.from(text) writes it.
      expect(Buffer.concat(chunks).toString("latin1")).to.equal(Buffer.from(expected).toString("latin1"));
      expect(writer.lines).to.equal(expected.split("\n").length - 1);
      expect(chunks.every((c) => c.length > 0 && c[c.length - 1] === 10)).to.equal(true);
    });
  }

  it("writes whole numbers digit by digit as String() does", () => {
    const rnd = random(7);
    const points = new PointsWriter();
    const writer = new LineWriter();
    points.series("m", {});
    writer.seriesPairs("m", [], 0);
    for (let i = 0; i < 5000; i++) {
      const v = Math.floor(rnd() * 2 ** (1 + (i % 53))) * (i % 3 === 0 ? -1 : 1);
      for (const w of [points, writer]) w.add(1n, "v", v);
    }
    expect(Buffer.concat(writer.finish()).toString()).to.equal(new LineEncoder().encodeBatch(points.points));
  });

  it("writes a series' key again after moving to a larger buffer", () => {
    const points = new Reference();
    const writer = new LineWriter(1000);
    const long = "x".repeat(3000);
    for (const w of [points, writer]) {
      w.seriesPairs("m", ["a", "1", "z", "2"], 4);
      w.add(1n, "f", 1);
      w.add(2n, "f", 2, "le", "0.5");
      w.add(3n, long, 3); // too long for the buffer: the next one holds the lines since
      w.add(4n, "f", 4);
      w.add(5n, "f", 5, "le", "+Inf");
      w.addTwo(6n, "c", 6, "s", 7);
    }
    expect(Buffer.concat(writer.finish()).toString()).to.equal(new LineEncoder().encodeBatch(points.points));
  });

  it("keeps lines whole across its buffers, however long", () => {
    const long = "v".repeat(5000);
    const writer = new LineWriter(3);
    writer.seriesPairs("m", ["k", long], 2);
    for (let i = 0; i < 10; i++) writer.add(BigInt(i), "f", i, "le", long);
    const lines = Buffer.concat(writer.finish()).toString().split("\n");
    expect(lines).to.have.length(11);
    lines.slice(0, 10).forEach((line, i) => expect(line).to.equal(`m,k=${long},le=${long} f=${i} ${i}`));
  });
});

/**
 * Reads the measurement and tag set of a line the way InfluxDB 2.x documents it: a backslash
 * escapes the character after it when that is a delimiter of the part (",", " ", and "=" outside
 * the measurement) or a backslash, and is literal otherwise.
 */
function parseHead(line: string): { measurement: string; tags: string[][] } {
  const tokens: { text: string; end: string }[] = [];
  let cur = "";
  let i = 0;
  let inKey = false;
  for (; i < line.length; i++) {
    const c = line[i];
    if (c === "\\" && i + 1 < line.length) {
      const n = line[i + 1];
      // In the measurement only "," and " " (and the backslash itself) are escapable.
      if (n === "\\" || n === "," || n === " " || (n === "=" && tokens.length > 0)) {
        cur += n;
        i++;
        continue;
      }
      cur += c;
      continue;
    }
    if (c === "," || c === " " || (c === "=" && inKey)) {
      tokens.push({ text: cur, end: c });
      cur = "";
      inKey = c === ",";
      if (c === "=") inKey = false;
      if (c === " ") break;
      continue;
    }
    cur += c;
  }
  const measurement = tokens[0].text;
  const tags: string[][] = [];
  for (let k = 1; k + 1 < tokens.length; k += 2) tags.push([tokens[k].text, tokens[k + 1].text]);
  return { measurement, tags };
}
