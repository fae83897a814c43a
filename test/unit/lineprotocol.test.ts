import { expect } from "chai";
import { encodeBatch, encodePoint, escapeKey, escapeMeasurement } from "../../core/lineprotocol.ts";
import type { Point } from "../../core/point.ts";

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
