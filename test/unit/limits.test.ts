// Per-push limits (sample_limit, label_limit, label name/value lengths) as the three parsers
// check them while parsing, max_series and label_limit with grouping labels in the store, and
// the exact-number checks: timestamps beyond int64 nanoseconds, protobuf lengths beyond 32
// bits, native histogram spans that overflow or overlap.
import { expect } from "chai";
import { LimitError, NO_LIMITS, type BodyLimits } from "../../plugins/formats/prometheus/limits.ts";
import { BodyParseError, type ParseOptions } from "../../plugins/formats/prometheus/model.ts";
import { parseBody } from "../../plugins/formats/prometheus/parse.ts";
import type { BodyFormat } from "../../plugins/formats/prometheus/mediatypes.ts";
import { GroupFullError, GroupStore } from "../../plugins/inputs/pushgateway/store/store.ts";
import { encodeFamilies } from "../support/protobuf.ts";

function limits(l: Partial<BodyLimits>): ParseOptions {
  return { limits: { ...NO_LIMITS, ...l } };
}

function refusal(body: Buffer | string, format: BodyFormat, options: ParseOptions): LimitError {
  try {
    parseBody(Buffer.from(body), format, options);
  } catch (e) {
    expect(e).to.be.instanceOf(LimitError);
    return e as LimitError;
  }
  throw new Error("the body was accepted");
}

function parseError(body: Buffer | string, format: BodyFormat): BodyParseError {
  try {
    parseBody(Buffer.from(body), format);
  } catch (e) {
    expect(e).to.be.instanceOf(BodyParseError);
    return e as BodyParseError;
  }
  throw new Error("the body was accepted");
}

function lines(n: number, line: (i: number) => string): string {
  let s = "";
  for (let i = 0; i < n; i++) s += line(i) + "\n";
  return s;
}

const protoSeries = (n: number) => encodeFamilies({ name: "m", type: 1, metric: Array.from({ length: n }, (_, i) => ({ label: [{ name: "a", value: String(i) }], gauge: { value: 1 } })) });

describe("push limits and exact numbers", () => {
  describe("sample_limit", () => {
    it("lets a body of exactly sample_limit series through, in all three formats", () => {
      expect(parseBody(Buffer.from(lines(3, (i) => `m{a="${i}"} 1`)), "text", limits({ sample_limit: 3 }))[0].metrics).to.have.length(3);
      expect(parseBody(Buffer.from(lines(3, (i) => `m{a="${i}"} 1`) + "# EOF\n"), "openmetrics", limits({ sample_limit: 3 }))[0].metrics).to.have.length(3);
      expect(parseBody(protoSeries(3), "protobuf", limits({ sample_limit: 3 }))[0].metrics).to.have.length(3);
    });

    it("refuses the series past it where it comes, naming the limit and its value", () => {
      const text = refusal(lines(5, (i) => `m{a="${i}"} 1`), "text", limits({ sample_limit: 3 }));
      expect(text.limit).to.equal("sample_limit");
      expect(text.message).to.equal("the push has more than 3 series (refused at line 4); the limit is 3 (sample_limit)");
      const om = refusal(lines(5, (i) => `m{a="${i}"} 1`) + "# EOF\n", "openmetrics", limits({ sample_limit: 3 }));
      expect(om.message).to.equal("the push has more than 3 series (refused at line 4); the limit is 3 (sample_limit)");
      const pb = refusal(protoSeries(5), "protobuf", limits({ sample_limit: 3 }));
      expect(pb.message).to.equal("the push has more than 3 series (refused at the MetricFamily message at byte 0); the limit is 3 (sample_limit)");
    });

    it("counts a histogram or summary with all its buckets or quantiles as one series", () => {
      const h = '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="2"} 2\nh_bucket{le="+Inf"} 3\nh_sum 4\nh_count 3\n';
      expect(parseBody(Buffer.from(h), "text", limits({ sample_limit: 1 }))[0].metrics).to.have.length(1);
      const s = '# TYPE s summary\ns{quantile="0.5"} 1\ns{quantile="0.9"} 2\ns_sum 4\ns_count 3\ns{quantile="0.5",x="y"} 1\n';
      expect(refusal(s, "text", limits({ sample_limit: 1 })).message).to.match(/refused at line 6/);
    });

    it("counts families too: a body of metadata alone is bounded", () => {
      const e = refusal(lines(10, (i) => `# TYPE m${i} gauge`), "text", limits({ sample_limit: 4 }));
      expect(e.message).to.equal("the push has more than 4 metric families (refused at line 5); the limit is 4 (sample_limit)");
    });

    it("refuses a body of many series at the first one past the limit", () => {
      const e = refusal(lines(200_000, (i) => `m{a="${i}"} 1`), "text", limits({ sample_limit: 1000 }));
      expect(e.message).to.match(/refused at line 1001\)/);
    });
  });

  describe("label limits", () => {
    it("refuses a series with more labels than label_limit", () => {
      const e = refusal('m{a="1",b="2",c="3"} 1\n', "text", limits({ label_limit: 2 }));
      expect(e.message).to.equal('series of "m" at line 1 has 3 labels; the limit is 2 (label_limit)');
      expect(refusal('m{a="1",b="2",c="3"} 1\n# EOF\n', "openmetrics", limits({ label_limit: 2 })).limit).to.equal("label_limit");
      const pb = encodeFamilies({ name: "m", type: 1, metric: [{ label: ["a", "b", "c"].map((name) => ({ name, value: "v" })), gauge: { value: 1 } }] });
      expect(refusal(pb, "protobuf", limits({ label_limit: 2 })).limit).to.equal("label_limit");
      expect(parseBody(Buffer.from('m{a="1",b="2"} 1\n'), "text", limits({ label_limit: 2 }))).to.have.length(1);
    });

    it("does not count le and quantile", () => {
      const h = '# TYPE h histogram\nh_bucket{a="1",le="1"} 1\nh_bucket{a="1",le="+Inf"} 1\nh_count{a="1"} 1\nh_sum{a="1"} 1\n';
      expect(parseBody(Buffer.from(h), "text", limits({ label_limit: 1 }))[0].metrics).to.have.length(1);
    });

    it("refuses long label names and values, and long metric names, naming the length", () => {
      expect(refusal(`m{${"n".repeat(11)}="v"} 1\n`, "text", limits({ label_name_length_limit: 10 })).message).to.equal(
        'series of "m" at line 1 has a label name of 11 characters ("nnnnnnnnnnn"); the limit is 10 (label_name_length_limit)',
      );
      expect(refusal(`m{a="${"v".repeat(100)}"} 1\n`, "text", limits({ label_value_length_limit: 99 })).message).to.equal(
        'series of "m" at line 1 has a value of 100 characters for label "a"; the limit is 99 (label_value_length_limit)',
      );
      expect(refusal(`${"m".repeat(50)} 1\n`, "text", limits({ label_value_length_limit: 20 })).message).to.match(/^metric name at line 1 has 50 characters \("m{40}\.\.\."\); the limit is 20 \(label_value_length_limit\)$/);
      const pb = encodeFamilies({ name: "m", type: 1, metric: [{ label: [{ name: "a", value: "v".repeat(100) }], gauge: { value: 1 } }] });
      expect(refusal(pb, "protobuf", limits({ label_value_length_limit: 99 })).limit).to.equal("label_value_length_limit");
    });
  });

  describe("the store", () => {
    const grouping = (job: string, extra: [string, string][] = []) => new Map([["job", job], ...extra]);
    const family = (n: number, name = "m") => ({ name, type: "GAUGE" as const, metrics: Array.from({ length: n }, (_, i) => ({ labels: ["a", String(i)], value: 1 })) });

    it("refuses with max_series a write that would take the store over, counting what it replaces", () => {
      const store = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0, max_series: 10 });
      store.apply({ replaceAll: true, grouping: grouping("a"), families: [family(6)], timeMs: 1 });
      let err: unknown;
      try {
        store.apply({ replaceAll: true, grouping: grouping("b"), families: [family(5, "n")], timeMs: 2 });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(GroupFullError);
      expect((err as GroupFullError).limit).to.equal("max_series");
      expect((err as Error).message).to.equal("the store holds 6 series and this push would make it 11 (the push has 5, replacing 0); the limit is 10 (max_series): delete groups or raise max_series");
      expect(store.size).to.equal(1);
      // Replacing group a's 6 series by 10 fits; so does a push that does not grow the store.
      store.apply({ replaceAll: true, grouping: grouping("a"), families: [family(10)], timeMs: 3 });
      store.apply({ replaceAll: false, grouping: grouping("a"), families: [family(10)], timeMs: 4 });
      expect(store.seriesHeld).to.equal(10);
      store.delete(grouping("a"));
      expect(store.seriesHeld).to.equal(0);
    });

    it("counts grouping labels in label_limit, a body label the grouping overrides once", () => {
      const store = new GroupStore({ consistency_check: true, reject_timestamps: false, max_groups: 0, label_limit: 2 });
      const f = { name: "m", type: "GAUGE" as const, metrics: [{ labels: ["a", "1", "instance", "i"], value: 1 }] };
      expect(() => store.apply({ replaceAll: true, grouping: grouping("j"), families: [f], timeMs: 1 })).to.throw(LimitError, 'series "m" {a="1",instance="i",job="j"} has 3 labels, grouping labels included; the limit is 2 (label_limit)');
      expect(store.size).to.equal(0);
      // instance in the grouping key overrides the body's: 2 labels (a, and instance+job... here job and instance).
      const g = { name: "m", type: "GAUGE" as const, metrics: [{ labels: ["instance", "x"], value: 1 }] };
      store.apply({ replaceAll: true, grouping: grouping("j", [["instance", "i"]]), families: [g], timeMs: 1 });
      expect(store.seriesHeld).to.equal(1);
    });
  });

  describe("timestamps beyond int64 nanoseconds", () => {
    it("are refused in OpenMetrics, naming the sample", () => {
      expect(parseError("om_t 1 1e30\n# EOF\n", "openmetrics").message).to.equal(
        'openmetrics parsing error in line 1: timestamp "1e30" (seconds) is outside the range a timestamp may have (int64 nanoseconds: -9223372036854 to 9223372036854 ms), on sample "om_t"',
      );
      expect(parseBody(Buffer.from("om_t 1 9223372036.854\n# EOF\n"), "openmetrics")[0].metrics[0].timestampMs).to.equal(9223372036854);
    });

    it("are refused in protobuf, naming the metric", () => {
      const body = encodeFamilies({ name: "p", type: 1, metric: [{ gauge: { value: 1 }, timestamp_ms: 9223372036855 }] });
      expect(parseError(body, "protobuf").message).to.equal(
        'protobuf parsing error at byte 0: metric "p" {}: timestamp 9223372036855 is outside the range a timestamp may have (int64 nanoseconds: -9223372036854 to 9223372036854 ms)',
      );
      const max = encodeFamilies({ name: "p", type: 1, metric: [{ gauge: { value: 1 }, timestamp_ms: "9223372036854775807" }] });
      expect(parseError(max, "protobuf").message).to.match(/^protobuf parsing error at byte 0: metric "p" \{\}: timestamp -?9223372036854776000 is outside the range/);
    });
  });

  describe("protobuf lengths", () => {
    const family = encodeFamilies({ name: "m", type: 1, metric: [{ gauge: { value: 1 } }] });
    const message = family.subarray(1);
    const varint = (n: bigint) => {
      const out: number[] = [];
      while (n >= 0x80n) {
        out.push(Number(n & 0x7fn) | 0x80);
        n >>= 7n;
      }
      out.push(Number(n));
      return Buffer.from(out);
    };

    it("refuses a length prefix beyond 32 bits instead of cutting it", () => {
      expect(family[0]).to.equal(message.length);
      const body = Buffer.concat([varint(2n ** 32n + BigInt(message.length)), message]);
      expect(parseError(body, "protobuf").message).to.equal("protobuf parsing error at byte 0: invalid length prefix of a MetricFamily message: longer than 31 bits");
      expect(parseError(varint(2n ** 62n), "protobuf").message).to.equal("protobuf parsing error at byte 0: invalid length prefix of a MetricFamily message: longer than 31 bits");
    });

    it("refuses a length beyond the body", () => {
      const body = Buffer.concat([varint(BigInt(message.length + 5)), message]);
      expect(parseError(body, "protobuf").message).to.match(/but only \d+ bytes are left in the body/);
    });
  });

  describe("native histogram spans", () => {
    const native = (spans: { offset: number; length: number }[], deltas: number[]) =>
      encodeFamilies({ name: "h", type: 4, metric: [{ histogram: { sample_count: 4, sample_sum: 1, schema: 0, positive_span: spans, positive_delta: deltas } }] });

    it("refuses spans whose offsets run past float64 instead of serving several +Inf buckets", () => {
      const e = parseError(native([{ offset: 2e9, length: 1 }, { offset: 2e9, length: 1 }], [1, 2]), "protobuf");
      expect(e.message).to.match(/native histogram positive bucket 2000000000 has no finite bound at schema 0 \(span offsets out of range\)/);
    });

    it("refuses buckets whose bounds collide", () => {
      // Bucket indexes far below zero all round to the same bound (0) at schema 0.
      const e = parseError(native([{ offset: -1_500_000_000, length: 2 }], [1, 1]), "protobuf");
      expect(e.message).to.match(/not above the bucket before it/);
    });

    it("still reads ordinary spans", () => {
      const [f] = parseBody(native([{ offset: 0, length: 2 }, { offset: 1, length: 1 }], [1, 1, -1]), "protobuf");
      expect(f.metrics[0].histogram!.buckets.map((b) => b.upperBound)).to.deep.equal([1, 2, 8, Infinity]);
    });
  });
});
