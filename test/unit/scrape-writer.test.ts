// The exposition writers piece by piece (write.ts: familyHead, metricWriter; write-protobuf.ts:
// the hand-written protobuf path), checked against the one-go writers they must match byte for
// byte: goFloat against formatGoFloat, a metric's protobuf bytes against protobufjs, and a
// family written head + metric by metric against renderText / renderOpenMetrics /
// renderProtobuf in every escaping scheme.
import { expect } from "chai";
import { prng } from "../../scripts/bench/bodies.ts";
import { ByteBuilder } from "../../plugins/formats/prometheus/byte-builder.ts";
import { ESCAPING_SCHEMES, escapeName } from "../../plugins/formats/prometheus/escaping.ts";
import { formatGoFloat } from "../../plugins/formats/prometheus/goformat.ts";
import { BODY_FORMATS } from "../../plugins/formats/prometheus/mediatypes.ts";
import { MetricFamilyMessage } from "../../plugins/formats/prometheus/metrics-proto.ts";
import type { Metric, MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { familyHead, goFloat, metricWriter, render, servableCounter, OPENMETRICS_EOF } from "../../plugins/formats/prometheus/write.ts";
import { writeProtobufMetric } from "../../plugins/formats/prometheus/write-protobuf.ts";

const SPECIAL_VALUES = [0, -0, 1, -1, 0.1, 1e-4, 9.999999999999999e-5, 1e-5, 999999, 999999.9999999999, 1e6, 1e21, 1e-7, 123456.789, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity, 0.30000000000000004, 5e-324];

function randomValues(n: number, seed: number): number[] {
  const rnd = prng(seed);
  const out = [...SPECIAL_VALUES];
  for (let i = 0; i < n; i++) {
    const exp = Math.floor(rnd() * 40) - 20;
    const v = (rnd() - 0.5) * 10 ** exp;
    out.push(v, Math.round(v), Math.fround(v));
  }
  return out;
}

const MESSY = ["", "a", "Προμηθεύς", 'q"uo\\te\nnl', "<&>", "\u2028", "😀", "a".repeat(300)];

describe("scrape writers, piece by piece", () => {
  it("goFloat spells every value as formatGoFloat (Go's %g)", () => {
    for (const v of randomValues(20_000, 1)) expect(goFloat(v), String(v)).to.equal(formatGoFloat(v));
  });

  it("writes a counter, gauge or untyped metric with the very bytes protobufjs gives", () => {
    const Metric = MetricFamilyMessage.lookupType(".io.prometheus.client.Metric");
    const field = { COUNTER: "counter", GAUGE: "gauge", UNTYPED: "untyped" } as const;
    const rnd = prng(2);
    const values = randomValues(200, 3);
    const timestamps = [undefined, 0, 1, 127, 128, 1_700_000_000_123, 2 ** 53 - 1, -1, -1_700_000_000_000];
    let checked = 0;
    for (const type of ["COUNTER", "GAUGE", "UNTYPED"] as const) {
      for (const value of values) {
        const labels: string[] = [];
        const n = Math.floor(rnd() * 4);
        for (let i = 0; i < n; i++) labels.push(MESSY[Math.floor(rnd() * MESSY.length)] || "l", MESSY[Math.floor(rnd() * MESSY.length)]);
        const timestampMs = timestamps[Math.floor(rnd() * timestamps.length)];
        const m: Metric = { labels, value, ...(timestampMs === undefined ? {} : { timestampMs }) };
        const out = new ByteBuilder(16);
        writeProtobufMetric(type, labels, m, out);
        const pb: Record<string, unknown> = { label: [], [field[type]]: { value } };
        for (let i = 0; i < labels.length; i += 2) (pb.label as unknown[]).push({ name: labels[i], value: labels[i + 1] });
        if (timestampMs !== undefined) pb.timestamp_ms = timestampMs;
        const message = Metric.encode(Metric.fromObject(pb)).finish();
        const expected = Buffer.concat([Buffer.from([0x22]), Buffer.from(varint(message.length)), message]);
        expect(out.take().toString("hex"), JSON.stringify(m)).to.equal(expected.toString("hex"));
        checked++;
      }
    }
    expect(checked).to.be.greaterThan(600);
  });

  describe("a family written as its head and then metric by metric", () => {
    const families: MetricFamily[] = [
      { name: "requests_total", help: "Requests.", type: "COUNTER", metrics: [{ labels: ["code", "200"], value: 5 }, { labels: ["code", "500"], value: 1e6, timestampMs: 1_700_000_000_123 }] },
      { name: "requests", type: "GAUGE", metrics: [{ labels: [], value: 1 }] },
      { name: "neg_total", type: "COUNTER", metrics: [{ labels: [], value: -1 }] },
      { name: "my.metric", help: 'dotted "help"\\', type: "GAUGE", metrics: [{ labels: ["my.label", "v", "ok", 'q"\n'], value: -0.5 }] },
      { name: "lat", help: "Latency.", type: "SUMMARY", metrics: [{ labels: ["a", "b"], summary: { count: 7, sum: 10.25, quantiles: [{ quantile: 0.5, value: 1.5 }, { quantile: 0.99, value: NaN }] } }, { labels: [], summary: { quantiles: [] } }] },
      { name: "size", type: "HISTOGRAM", metrics: [{ labels: ["x", "1"], histogram: { count: 4, sum: 2.5e-7, floatCounts: false, buckets: [{ upperBound: 0.1, count: 1 }, { upperBound: 1, count: 3 }] } }] },
      { name: "fsize", type: "HISTOGRAM", metrics: [{ labels: [], histogram: { count: 1.5, sum: 2, floatCounts: true, buckets: [{ upperBound: Infinity, count: 1.5 }] } }] },
      { name: "gh", type: "GAUGE_HISTOGRAM", metrics: [{ labels: [], timestampMs: 5, histogram: { count: 3, sum: 1, floatCounts: false, buckets: [{ upperBound: 2, count: 1 }] } }] },
      { name: "odd", type: "UNTYPED", metrics: [{ labels: ["u", "Προμηθεύς"], value: 0.1, timestampMs: -5 }] },
    ];

    for (const format of BODY_FORMATS) {
      for (const scheme of ESCAPING_SCHEMES) {
        it(`gives render()'s bytes: ${format}, escaping=${scheme}`, () => {
          const names = new Set(families.map((f) => escapeName(f.name, scheme)));
          const parts: Buffer[] = [];
          for (const f of families) {
            const body = new ByteBuilder();
            const writer = metricWriter(format, scheme, f.name, f.type);
            for (const m of f.metrics) writer.write(m, body);
            const bytes = body.take();
            const head = familyHead(format, scheme, f.name, f.help, f.type, { names, servable: f.metrics.every(servableCounter), bodyBytes: bytes.length });
            parts.push(Buffer.from(head), bytes);
          }
          if (format === "openmetrics") parts.push(Buffer.from(OPENMETRICS_EOF));
          expect(Buffer.concat(parts).toString("hex")).to.equal(Buffer.from(render(families, format, scheme)).toString("hex"));
        });
      }
    }
  });

  it("ByteBuilder grows as it is written, and measures UTF-8 as Buffer does", () => {
    const b = new ByteBuilder(1);
    const s = MESSY.join("|").repeat(50);
    b.string(s);
    b.varint(300);
    b.double(1.5);
    const expected = Buffer.concat([Buffer.from(s, "utf8"), Buffer.from([0xac, 0x02]), Buffer.from(new Float64Array([1.5]).buffer)]);
    expect(b.length).to.equal(expected.length);
    expect(b.take().equals(expected)).to.equal(true);
    expect(b.length).to.equal(0);
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

