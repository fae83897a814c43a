// Choosing a push's parser from its Content-Type (as Go's mime.ParseMediaType reads it), and
// the framed snappy decoder behind "Content-Encoding: snappy".
import { expect } from "chai";
import { compressSync } from "snappy";
import { parseMediaType } from "../../core/mediatype.ts";
import { bodyFormat } from "../../plugins/formats/prometheus/mediatypes.ts";
import { crc32c, decodeSnappyFramed, maskedCrc32c, SnappyFrameError, SnappyTooLarge } from "../../core/snappy-framed.ts";

const PROTO = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
const text = Buffer.from("a 1\n");

describe("media types", () => {
  it("lower-case the type and parameter names, not the values", () => {
    const m = parseMediaType('Application/Vnd.Google.Protobuf; PROTO="io.prometheus.client.MetricFamily" ;Encoding=delimited;');
    expect(m?.type).to.equal("application/vnd.google.protobuf");
    expect([...m!.params]).to.deep.equal([
      ["proto", "io.prometheus.client.MetricFamily"],
      ["encoding", "delimited"],
    ]);
  });

  it("unquote values, unescaping only special characters", () => {
    expect(parseMediaType('text/plain; a="x\\"y\\z"')?.params.get("a")).to.equal('x"y\\z');
    expect(parseMediaType('text/plain; a=""')?.params.get("a")).to.equal("");
  });

  it("refuse what Go refuses", () => {
    for (const bad of ["", "text/", "/plain", "te xt/plain", "text/plain; a", "text/plain; a=", "text/plain; a=1; a=2", 'text/plain; a="open', "text/plain; =1", "text/plain junk"]) {
      expect(parseMediaType(bad), bad).to.equal(undefined);
    }
  });
});

describe("body format", () => {
  it("is protobuf only for the delimited MetricFamily media type, in any case and order", () => {
    expect(bodyFormat(PROTO, text)).to.equal("protobuf");
    expect(bodyFormat("application/vnd.google.protobuf;encoding=delimited;proto=io.prometheus.client.MetricFamily", text)).to.equal("protobuf");
    expect(bodyFormat('APPLICATION/vnd.google.protobuf; Encoding="delimited"; proto="io.prometheus.client.MetricFamily"', text)).to.equal("protobuf");
  });

  it("falls back to text for near misses, as the reference does", () => {
    for (const ct of [
      "application/vnd.google.protobuf",
      "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily",
      "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=Delimited",
      "application/vnd.google.protobuf; proto=io.prometheus.client.metricfamily; encoding=delimited",
      "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text",
      "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; encoding=delimited",
      "application/x-protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
      "text/plain; version=0.0.4",
      "application/x-www-form-urlencoded",
    ]) {
      expect(bodyFormat(ct, text), ct).to.equal("text");
    }
  });

  it("is OpenMetrics when the Content-Type says so, or when there is none and the body ends with # EOF", () => {
    expect(bodyFormat("application/openmetrics-text; version=1.0.0; charset=utf-8", text)).to.equal("openmetrics");
    expect(bodyFormat(undefined, Buffer.from("a_total 1\n# EOF\n"))).to.equal("openmetrics");
    expect(bodyFormat("", Buffer.from("# EOF"))).to.equal("openmetrics");
    expect(bodyFormat(undefined, text)).to.equal("text");
    expect(bodyFormat(undefined, Buffer.from("a 1\n#  EOF\n"))).to.equal("text");
    expect(bodyFormat("text/plain", Buffer.from("a 1\n# EOF\n"))).to.equal("text");
  });
});

function frame(type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = type;
  head.writeUIntLE(data.length, 1, 3);
  return Buffer.concat([head, data]);
}
function checksummed(type: number, data: Buffer, payload = data): Buffer {
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(maskedCrc32c(data));
  return frame(type, Buffer.concat([crc, payload]));
}
const STREAM = frame(0xff, Buffer.from("sNaPpY"));

describe("framed snappy", () => {
  it("computes CRC-32C", () => {
    expect(crc32c(Buffer.from("123456789"))).to.equal(0xe3069283);
  });

  it("decodes compressed and stored chunks, skipping padding", () => {
    const a = Buffer.from("# TYPE a counter\na 1\n".repeat(5000));
    const b = Buffer.from("b 2\n");
    const chunks = [STREAM];
    for (let i = 0; i < a.length; i += 65536) chunks.push(checksummed(0x00, a.subarray(i, i + 65536), compressSync(a.subarray(i, i + 65536)) as Buffer));
    chunks.push(frame(0xfe, Buffer.alloc(3)), checksummed(0x01, b), STREAM);
    expect(decodeSnappyFramed(Buffer.concat(chunks), 1e9).toString()).to.equal(a.toString() + b.toString());
  });

  it("decodes an empty body to nothing", () => {
    expect(decodeSnappyFramed(Buffer.alloc(0), 10).length).to.equal(0);
  });

  it("stops at the output limit", () => {
    const body = Buffer.concat([STREAM, checksummed(0x01, Buffer.alloc(100))]);
    expect(() => decodeSnappyFramed(body, 99)).to.throw(SnappyTooLarge);
    expect(decodeSnappyFramed(body, 100).length).to.equal(100);
  });

  it("refuses a missing stream identifier, bad checksums, truncation and reserved chunks, naming the offset", () => {
    const data = Buffer.from("a 1\n");
    const bad = (body: Buffer) => {
      try {
        decodeSnappyFramed(body, 1e6);
      } catch (e) {
        expect(e).to.be.instanceOf(SnappyFrameError);
        return (e as Error).message;
      }
      throw new Error("expected an error");
    };
    expect(bad(checksummed(0x01, data))).to.equal("invalid snappy stream at byte 0: the stream does not start with the snappy stream identifier");
    const corrupt = checksummed(0x01, data);
    corrupt[4] ^= 1;
    expect(bad(Buffer.concat([STREAM, corrupt]))).to.equal("invalid snappy stream at byte 10: checksum mismatch");
    expect(bad(Buffer.concat([STREAM, checksummed(0x01, data)]).subarray(0, 15))).to.equal("invalid snappy stream at byte 10: chunk of 8 bytes runs past the end of the body");
    expect(bad(Buffer.concat([STREAM, frame(0x02, data)]))).to.equal("invalid snappy stream at byte 10: reserved unskippable chunk type 0x02");
    expect(bad(Buffer.concat([STREAM, checksummed(0x00, data, Buffer.from([0x04, 0xff, 0xff]))]))).to.match(/^invalid snappy stream at byte 10: corrupt compressed block/);
    expect(bad(frame(0xff, Buffer.from("snappy")))).to.equal("invalid snappy stream at byte 0: bad stream identifier");
  });
});
