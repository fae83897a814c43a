// The delimited-protobuf parser: every metric type, the implied +Inf bucket, native
// histograms as cumulative buckets, and corrupt bodies reported with their byte offset.
import { expect } from "chai";
import { parseProtobuf, ProtoParseError } from "../../plugins/formats/prometheus/parse-protobuf.ts";
import { BodyParseError } from "../../plugins/formats/prometheus/model.ts";
import { encodeFamilies } from "../support/protobuf.ts";

function failure(body: Buffer): ProtoParseError {
  try {
    parseProtobuf(body);
  } catch (e) {
    expect(e).to.be.instanceOf(ProtoParseError);
    expect(e).to.be.instanceOf(BodyParseError);
    return e as ProtoParseError;
  }
  throw new Error("expected a ProtoParseError");
}

describe("protobuf parser", () => {
  it("reads counters, gauges and untyped metrics with labels, help and timestamps", () => {
    const body = encodeFamilies(
      { name: "jobs_total", help: "Jobs run.", type: 0, metric: [{ label: [{ name: "queue", value: "a" }], counter: { value: 3 }, timestamp_ms: 1700000000123 }] },
      { name: "temp_celsius", type: 1, metric: [{ label: [{ name: "room", value: "x" }], gauge: { value: -1.5 } }, { label: [{ name: "room", value: "y" }], gauge: { value: 2 } }] },
      { name: "other", type: 3, metric: [{ untyped: { value: 7 } }] },
    );
    expect(parseProtobuf(body)).to.deep.equal([
      { name: "jobs_total", help: "Jobs run.", type: "COUNTER", metrics: [{ labels: ["queue", "a"], timestampMs: 1700000000123, value: 3 }] },
      {
        name: "temp_celsius",
        type: "GAUGE",
        metrics: [
          { labels: ["room", "x"], value: -1.5 },
          { labels: ["room", "y"], value: 2 },
        ],
      },
      { name: "other", type: "UNTYPED", metrics: [{ labels: [], value: 7 }] },
    ]);
  });

  it("reads label values that extend, shorten or repeat the previous metric's at each place", () => {
    const values = ["ab", "abc", "a", "a", "ab", "", "ab"];
    const [f] = parseProtobuf(encodeFamilies({ name: "g", type: 1, metric: values.map((v, i) => ({ label: [{ name: i % 2 ? "k" : "kk", value: v }, { name: "z", value: v + v }], gauge: { value: i } })) }));
    expect(f.metrics.map((m) => m.labels)).to.deep.equal(values.map((v, i) => [i % 2 ? "k" : "kk", v, "z", v + v]));
  });

  it("reads exemplars and created timestamps (checking their strings) without keeping them", () => {
    const created = { seconds: 1700000000, nanos: 5 };
    const exemplar = { label: [{ name: "trace_id", value: "abc" }], value: 0.5, timestamp: created };
    const [c, s, h] = parseProtobuf(
      encodeFamilies(
        { name: "c_total", type: 0, metric: [{ counter: { value: 3, exemplar, created_timestamp: created } }] },
        { name: "s", type: 2, metric: [{ summary: { sample_count: 1, sample_sum: 2, quantile: [{ quantile: 0.5, value: 2 }], created_timestamp: created } }] },
        { name: "h", type: 4, metric: [{ histogram: { sample_count: 2, sample_sum: 1, bucket: [{ upper_bound: 1, cumulative_count: 1, exemplar }], created_timestamp: created, exemplars: [exemplar] } }] },
      ),
    );
    expect(c.metrics).to.deep.equal([{ labels: [], value: 3 }]);
    expect(s.metrics).to.deep.equal([{ labels: [], summary: { count: 1, sum: 2, quantiles: [{ quantile: 0.5, value: 2 }] } }]);
    expect(h.metrics).to.deep.equal([{ labels: [], histogram: { count: 2, sum: 1, buckets: [{ upperBound: 1, count: 1 }, { upperBound: Infinity, count: 2 }], floatCounts: false } }]);
    const badExemplar = encodeFamilies({ name: "c_total", type: 0, metric: [{ counter: { value: 3, exemplar: { label: [{ name: "t", value: "\u00e9" }] } } }] });
    // The exemplar's label value "é" (c3 a9) made invalid (c3 28): still refused.
    const at = badExemplar.indexOf(Buffer.from([0xc3, 0xa9]));
    badExemplar[at + 1] = 0x28;
    expect(failure(badExemplar).message).to.match(/^protobuf parsing error at byte 0: invalid MetricFamily message \(\d+ bytes\): string at byte \d+ is not valid UTF-8$/);
  });

  it("keeps a timestamp of 0 as pushed, and leaves an absent one absent", () => {
    const [f] = parseProtobuf(encodeFamilies({ name: "a", type: 1, metric: [{ gauge: { value: 1 }, timestamp_ms: 0 }, { gauge: { value: 2 } }] }));
    expect(f.metrics[0].timestampMs).to.equal(0);
    expect(f.metrics[1]).not.to.have.property("timestampMs");
  });

  it("reads a summary with its quantiles, count and sum", () => {
    const [f] = parseProtobuf(
      encodeFamilies({
        name: "rpc_seconds",
        type: 2,
        metric: [{ summary: { sample_count: 20, sample_sum: 42, quantile: [{ quantile: 0.5, value: 1.5 }, { quantile: 0.99, value: 2.5 }] } }],
      }),
    );
    expect(f).to.deep.equal({
      name: "rpc_seconds",
      type: "SUMMARY",
      metrics: [{ labels: [], summary: { count: 20, sum: 42, quantiles: [{ quantile: 0.5, value: 1.5 }, { quantile: 0.99, value: 2.5 }] } }],
    });
  });

  it("gives a classic histogram the +Inf bucket the text format writes", () => {
    const [f] = parseProtobuf(
      encodeFamilies({
        name: "req_seconds",
        type: 4,
        metric: [{ histogram: { sample_count: 5, sample_sum: 3.5, bucket: [{ upper_bound: 0.5, cumulative_count: 2 }, { upper_bound: 1, cumulative_count: 4 }] } }],
      }),
    );
    expect(f.metrics[0].histogram).to.deep.equal({
      count: 5,
      sum: 3.5,
      floatCounts: false,
      buckets: [
        { upperBound: 0.5, count: 2 },
        { upperBound: 1, count: 4 },
        { upperBound: Infinity, count: 5 },
      ],
    });
  });

  it("does not add a second +Inf bucket", () => {
    const [f] = parseProtobuf(encodeFamilies({ name: "h", type: 4, metric: [{ histogram: { sample_count: 2, bucket: [{ upper_bound: Infinity, cumulative_count: 2 }] } }] }));
    expect(f.metrics[0].histogram!.buckets).to.deep.equal([{ upperBound: Infinity, count: 2 }]);
  });

  it("reads float histograms from the *_float fields", () => {
    const [f] = parseProtobuf(
      encodeFamilies({ name: "h", type: 5, metric: [{ histogram: { sample_count_float: 2.5, sample_sum: 1, bucket: [{ upper_bound: 1, cumulative_count_float: 1.5 }] } }] }),
    );
    expect(f.type).to.equal("GAUGE_HISTOGRAM");
    expect(f.metrics[0].histogram).to.deep.equal({
      count: 2.5,
      sum: 1,
      floatCounts: true,
      buckets: [
        { upperBound: 1, count: 1.5 },
        { upperBound: Infinity, count: 2.5 },
      ],
    });
  });

  describe("native histograms", () => {
    it("turn into cumulative buckets: negative, zero, positive, +Inf", () => {
      // schema 0: bucket k holds (2^(k-1), 2^k]; negative bucket k holds [-2^k, -2^(k-1)).
      const [f] = parseProtobuf(
        encodeFamilies({
          name: "latency",
          type: 4,
          metric: [
            {
              histogram: {
                sample_count: 12,
                sample_sum: 20,
                schema: 0,
                zero_threshold: 0.001,
                zero_count: 1,
                negative_span: [{ offset: 1, length: 2 }],
                negative_delta: [1, 1], // bucket 1: 1, bucket 2: 2
                positive_span: [
                  { offset: 0, length: 2 },
                  { offset: 2, length: 1 },
                ],
                positive_delta: [2, -2, 6], // bucket 0: 2, bucket 1: 0, bucket 4: 6
              },
            },
          ],
        }),
      );
      expect(f.metrics[0].histogram!.buckets).to.deep.equal([
        { upperBound: -2, count: 2 }, // bucket -2: [-4, -2)
        { upperBound: -1, count: 3 }, // bucket -1: [-2, -1)
        { upperBound: 0.001, count: 4 }, // zero bucket
        { upperBound: 1, count: 6 }, // bucket 0: (0.5, 1]
        { upperBound: 16, count: 12 }, // bucket 4: (8, 16]; the empty bucket 1 gets no boundary
        { upperBound: Infinity, count: 12 },
      ]);
    });

    it("follow the schema: base 2^(2^-schema)", () => {
      const one = (schema: number, index: number) =>
        parseProtobuf(encodeFamilies({ name: "h", type: 4, metric: [{ histogram: { sample_count: 1, schema, positive_span: [{ offset: index, length: 1 }], positive_delta: [1] } }] }))[0].metrics[0]
          .histogram!.buckets[0].upperBound;
      expect(one(3, 8)).to.equal(2); // 2^(1/8) to the 8th
      expect(one(3, 1)).to.be.closeTo(2 ** (1 / 8), 1e-15);
      expect(one(3, -8)).to.equal(0.5);
      expect(one(-1, 1)).to.equal(4); // base 4
      expect(one(-4, 2)).to.equal(2 ** 32); // base 65536
      expect(one(8, 256)).to.equal(2);
    });

    it("read float native histograms from absolute counts", () => {
      const [f] = parseProtobuf(
        encodeFamilies({
          name: "h",
          type: 4,
          metric: [{ histogram: { sample_count_float: 3.5, schema: 1, zero_count_float: 0.5, positive_span: [{ offset: 1, length: 2 }], positive_count: [1, 2] } }],
        }),
      );
      expect(f.metrics[0].histogram!.floatCounts).to.equal(true);
      expect(f.metrics[0].histogram!.buckets).to.deep.equal([
        { upperBound: 0, count: 0.5 },
        { upperBound: Math.SQRT2, count: 1.5 },
        { upperBound: 2, count: 3.5 },
        { upperBound: Infinity, count: 3.5 },
      ]);
    });

    it("with no observations give only the +Inf bucket", () => {
      const [f] = parseProtobuf(encodeFamilies({ name: "h", type: 4, metric: [{ histogram: { sample_count: 0, schema: 3, zero_threshold: 1e-128, positive_span: [{ offset: 0, length: 0 }] } }] }));
      expect(f.metrics[0].histogram!.buckets).to.deep.equal([{ upperBound: Infinity, count: 0 }]);
    });

    it("prefer classic buckets when a histogram carries both", () => {
      const [f] = parseProtobuf(
        encodeFamilies({ name: "h", type: 4, metric: [{ histogram: { sample_count: 1, bucket: [{ upper_bound: 5, cumulative_count: 1 }], schema: 0, positive_span: [{ offset: 3, length: 1 }], positive_delta: [1] } }] }),
      );
      expect(f.metrics[0].histogram!.buckets.map((b) => b.upperBound)).to.deep.equal([5, Infinity]);
    });

    it("refuse spans and deltas that do not match, negative counts and unknown schemas", () => {
      const h = (histogram: Record<string, unknown>) => encodeFamilies({ name: "h", type: 4, metric: [{ histogram: { sample_count: 1, ...histogram } }] });
      expect(failure(h({ schema: 0, positive_span: [{ offset: 0, length: 2 }], positive_delta: [1] })).message).to.equal(
        'protobuf parsing error at byte 0: metric "h" {}: native histogram has 1 positive bucket deltas for spans of 2 buckets',
      );
      expect(failure(h({ schema: 0, positive_span: [{ offset: 0, length: 2 }], positive_delta: [1, -2] })).message).to.contain("positive bucket 1 has a negative count -1");
      expect(failure(h({ schema: 9, positive_span: [{ offset: 0, length: 1 }], positive_delta: [1] })).message).to.contain("native histogram schema 9 is outside -4..8");
      expect(failure(h({ schema: 0, negative_span: [{ offset: 0, length: 1 }, { offset: -3, length: 1 }], negative_delta: [1, 0] })).message).to.contain("negative span 1 has a negative offset -3");
    });
  });

  it("lets a repeated family name replace the earlier one, as the reference does", () => {
    const body = encodeFamilies({ name: "a", type: 1, metric: [{ gauge: { value: 1 } }] }, { name: "b", type: 1, metric: [{ gauge: { value: 2 } }] }, { name: "a", type: 1, metric: [{ gauge: { value: 3 } }] });
    expect(parseProtobuf(body).map((f) => [f.name, f.metrics[0].value])).to.deep.equal([
      ["b", 2],
      ["a", 3],
    ]);
  });

  it("reads an unknown type as the default COUNTER, as proto2's closed enums do in Go", () => {
    // name "a", type 9: protobufjs will not encode an unknown enum value, so the bytes are spelled out.
    expect(parseProtobuf(Buffer.from([5, 0x0a, 1, 0x61, 0x18, 9]))).to.deep.equal([{ name: "a", type: "COUNTER", metrics: [] }]);
  });

  it("reads an empty body as no families", () => {
    expect(parseProtobuf(Buffer.alloc(0))).to.deep.equal([]);
  });

  it("keeps families with no metrics", () => {
    expect(parseProtobuf(encodeFamilies({ name: "a", type: 0 }))).to.deep.equal([{ name: "a", type: "COUNTER", metrics: [] }]);
  });

  describe("UTF-8 names (any valid UTF-8, as the reference and Prometheus 3)", () => {
    it("takes dotted and non-ASCII metric and label names as they are", () => {
      const [f] = parseProtobuf(encodeFamilies({ name: "pb.dotted", type: 1, metric: [{ label: [{ name: "my.label", value: "v" }, { name: "Björn", value: "x" }], gauge: { value: 1 } }] }));
      expect(f.name).to.equal("pb.dotted");
      expect(f.metrics[0].labels).to.deep.equal(["my.label", "v", "Björn", "x"]);
      const [g] = parseProtobuf(encodeFamilies({ name: "a-b", type: 1, metric: [{ label: [{ name: "x-y", value: "1" }], gauge: { value: 1 } }] }));
      expect([g.name, g.metrics[0].labels[0]]).to.deep.equal(["a-b", "x-y"]);
    });

    it("refuses a name that is not valid UTF-8", () => {
      // field 1 (name), length 2, bytes 0xc3 0x28.
      expect(failure(Buffer.from([4, 0x0a, 2, 0xc3, 0x28])).message).to.match(/not valid UTF-8$/);
    });
  });

  describe("refuses", () => {
    const two = encodeFamilies({ name: "first", type: 1, metric: [{ gauge: { value: 1 } }] }, { name: "second", type: 1, metric: [{ gauge: { value: 2 } }] });
    const firstLength = two[0] + 1;

    it("a truncated body, naming the offset of the cut record", () => {
      const e = failure(two.subarray(0, two.length - 2));
      expect(e.offset).to.equal(firstLength);
      expect(e.message).to.match(new RegExp(`^protobuf parsing error at byte ${firstLength}: MetricFamily message of \\d+ bytes, but only \\d+ bytes are left in the body \\(truncated\\?\\)$`));
    });

    it("a length prefix cut short", () => {
      expect(failure(Buffer.concat([two.subarray(0, firstLength), Buffer.from([0x80])])).message).to.equal(
        `protobuf parsing error at byte ${firstLength}: invalid length prefix of a MetricFamily message: truncated`,
      );
    });

    it("garbage inside a record", () => {
      const e = failure(Buffer.from([3, 0xff, 0xff, 0xff]));
      expect(e.offset).to.equal(0);
      expect(e.message).to.match(/^protobuf parsing error at byte 0: invalid MetricFamily message \(3 bytes\): /);
    });

    it("a string that is not UTF-8", () => {
      // field 1 (name), length 2, bytes 0xc3 0x28.
      expect(failure(Buffer.from([4, 0x0a, 2, 0xc3, 0x28])).message).to.equal("protobuf parsing error at byte 0: invalid MetricFamily message (4 bytes): string at byte 3 is not valid UTF-8");
    });

    it("empty metric and label names, reserved label names, duplicate labels", () => {
      expect(failure(encodeFamilies({ name: "", type: 1 })).message).to.equal('protobuf parsing error at byte 0: invalid metric name ""');
      const labels = (label: { name: string; value: string }[]) => failure(encodeFamilies({ name: "a", type: 1, metric: [{ label, gauge: { value: 1 } }] })).message;
      expect(labels([{ name: "", value: "1" }])).to.equal('protobuf parsing error at byte 0: metric "a" {="1"}: invalid label name ""');
      expect(labels([{ name: "__x", value: "1" }])).to.equal('protobuf parsing error at byte 0: metric "a" {__x="1"}: invalid label name "__x"');
      expect(labels([{ name: "x", value: "1" }, { name: "x", value: "2" }])).to.equal('protobuf parsing error at byte 0: metric "a" {x="1",x="2"}: label "x" appears twice');
    });

      it("a metric that carries more than one value", () => {
      expect(failure(encodeFamilies({ name: "a", type: 1, metric: [{ gauge: { value: 1 }, counter: { value: 2 } }] })).message).to.equal(
        'protobuf parsing error at byte 0: metric "a" {}: carries more than one value (counter, gauge)',
      );
    });

    it("a metric whose value does not match its family's type", () => {
      expect(failure(encodeFamilies({ name: "a", type: 0, metric: [{ label: [{ name: "k", value: "v" }], gauge: { value: 1 } }] })).message).to.equal(
        'protobuf parsing error at byte 0: metric "a" {k="v"} is of type COUNTER but carries no counter value',
      );
    });
  });
});
