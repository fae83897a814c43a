// Go's spellings: strconv.FormatFloat(v, 'g', -1, 64) for le/quantile tags and %q quoting
// for error messages. Expected values were produced by Go itself.
import { expect } from "chai";
import { formatGoFloat, goQuote, goQuoteByte, goQuoteBytes } from "../../plugins/formats/prometheus/goformat.ts";

describe("Go formatting", () => {
  describe("formatGoFloat (%g, shortest)", () => {
    const cases: [number, string][] = [
      [0.005, "0.005"],
      [1e-5, "1e-05"],
      [100000, "100000"],
      [1e6, "1e+06"],
      [1.0, "1"],
      [0.1, "0.1"],
      [0.25, "0.25"],
      [2.5, "2.5"],
      [-2.5, "-2.5"],
      [10, "10"],
      [999999, "999999"],
      [123456, "123456"],
      [1234567, "1.234567e+06"],
      [12345.678, "12345.678"],
      [0.0001, "0.0001"],
      [0.00012345, "0.00012345"],
      [2.5e-10, "2.5e-10"],
      [1e21, "1e+21"],
      [1e100, "1e+100"],
      [-1e-7, "-1e-07"],
      [5e-324, "5e-324"],
      [1.7976931348623157e308, "1.7976931348623157e+308"],
      [0.30000000000000004, "0.30000000000000004"],
      [0, "0"],
      [-0, "-0"],
      [Infinity, "+Inf"],
      [-Infinity, "-Inf"],
      [NaN, "NaN"],
    ];
    for (const [v, want] of cases) {
      it(`${Object.is(v, -0) ? "-0" : String(v)} -> ${want}`, () => {
        expect(formatGoFloat(v)).to.equal(want);
      });
    }
  });

  describe("goQuote (%q)", () => {
    it("quotes plain text", () => {
      expect(goQuote("a=b")).to.equal('"a=b"');
      expect(goQuote("")).to.equal('""');
    });

    it("escapes quote and backslash", () => {
      expect(goQuote('a"b\\c')).to.equal('"a\\"b\\\\c"');
    });

    it("uses the short escapes for common control characters", () => {
      expect(goQuote("tab\there\nnl\rcr")).to.equal('"tab\\there\\nnl\\rcr"');
      expect(goQuote("\x07\x08\x0b\x0c")).to.equal('"\\a\\b\\v\\f"');
    });

    it("uses \\x for other ASCII control characters", () => {
      expect(goQuote("\x01\x7f")).to.equal('"\\x01\\x7f"');
    });

    it("keeps printable non-ASCII text as it is", () => {
      expect(goQuote("Προμηθεύς")).to.equal('"Προμηθεύς"');
      expect(goQuote("😀")).to.equal('"😀"');
    });

    it("escapes the soft hyphen and line/paragraph separators", () => {
      expect(goQuote("\u00ad")).to.equal('"\\u00ad"');
      expect(goQuote("\u2028")).to.equal('"\\u2028"');
    });

    it("escapes non-ASCII spaces and format characters as Go does", () => {
      // strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space only.
      expect(goQuote("\u00a0")).to.equal('"\\u00a0"');
      expect(goQuote("\u200b")).to.equal('"\\u200b"');
      expect(goQuote("\u3000")).to.equal('"\\u3000"');
      expect(goQuote("\ufeff")).to.equal('"\\ufeff"');
    });

    it("escapes unassigned code points as Go does", () => {
      expect(goQuote("\u0378")).to.equal('"\\u0378"');
      expect(goQuote("\u{e0001}")).to.equal('"\\U000e0001"');
    });

    it("shows invalid UTF-8 bytes as \\xNN", () => {
      expect(goQuoteBytes(Buffer.from([0xc3, 0xa9, 0xff]))).to.equal('"é\\xff"');
      expect(goQuoteBytes(Buffer.from([0x61, 0xc3]))).to.equal('"a\\xc3"');
      expect(goQuoteBytes(Buffer.from([0xed, 0xa0, 0x80]))).to.equal('"\\xed\\xa0\\x80"');
    });

    it("quotes a byte range", () => {
      expect(goQuoteBytes(Buffer.from("xhelloy"), 1, 6)).to.equal('"hello"');
    });
  });

  describe("goQuoteByte (%q of a byte)", () => {
    it("quotes as a rune literal", () => {
      expect(goQuoteByte(0x2b)).to.equal("'+'");
      expect(goQuoteByte(0x0a)).to.equal("'\\n'");
      expect(goQuoteByte(0x27)).to.equal("'\\''");
      expect(goQuoteByte(0x22)).to.equal("'\"'");
      expect(goQuoteByte(0x00)).to.equal("'\\x00'");
    });
  });
});
