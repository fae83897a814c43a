// MetricFamily messages that fit the schema but not necessarily the rules: any type (and unknown
// enum values), values of the wrong type, several values, names and labels of any kind, int64
// timestamps at the edges, and native histograms with any schema, spans and counts. Encoded by
// protobufjs with the project's schema: the parser sees well-formed protobuf with bad content.
import fc from "fast-check";
import { encodeFamilies, type FamilyObject } from "../../support/protobuf.ts";
import { anyDouble, MAX_TIMESTAMP_MS, timestamp } from "./numbers.ts";
import { anyText, labelValue, legacyLabelName, utf8Name } from "./names.ts";

const name = fc.oneof({ arbitrary: utf8Name, weight: 4 }, fc.constantFrom("", "__x", "__name__", "a:b", "le", "quantile", "job"));

const edgeTimestamp = fc.oneof(
  { arbitrary: timestamp, weight: 12 },
  fc.constantFrom(MAX_TIMESTAMP_MS + 1, -MAX_TIMESTAMP_MS - 1, 2 ** 53, -(2 ** 53), 9.2e18, -9.2e18, 2 ** 63, -(2 ** 63)),
);

const span = fc.record({ offset: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom(2e9, -2e9, 2 ** 31 - 1, -(2 ** 31))), length: fc.integer({ min: 0, max: 4 }) });

const native = fc.record(
  {
    sample_count: fc.nat(),
    sample_count_float: anyDouble,
    sample_sum: anyDouble,
    schema: fc.oneof(fc.integer({ min: -4, max: 8 }), fc.integer({ min: -100, max: 100 })),
    zero_threshold: anyDouble,
    zero_count: fc.nat(),
    zero_count_float: anyDouble,
    negative_span: fc.array(span, { maxLength: 3 }),
    negative_delta: fc.array(fc.integer({ min: -10, max: 10 }), { maxLength: 8 }),
    negative_count: fc.array(anyDouble, { maxLength: 8 }),
    positive_span: fc.array(span, { maxLength: 3 }),
    positive_delta: fc.array(fc.integer({ min: -10, max: 10 }), { maxLength: 8 }),
    positive_count: fc.array(anyDouble, { maxLength: 8 }),
    bucket: fc.array(fc.record({ cumulative_count: fc.nat(), cumulative_count_float: anyDouble, upper_bound: anyDouble }, { requiredKeys: [] }), { maxLength: 4 }),
  },
  { requiredKeys: [] },
);

const value = fc.record({ value: anyDouble }, { requiredKeys: [] });

const summary = fc.record(
  { sample_count: fc.nat(), sample_sum: anyDouble, quantile: fc.array(fc.record({ quantile: anyDouble, value: anyDouble }, { requiredKeys: [] }), { maxLength: 3 }) },
  { requiredKeys: [] },
);

const FIELD = ["counter", "gauge", "summary", "untyped", "histogram", "histogram"];

/** The value field the family's type asks for mostly (as clients send), now and then another, none or several. */
function values(type: number): fc.Arbitrary<Record<string, unknown>> {
  const field = FIELD[type] ?? "counter";
  const own = field === "summary" ? summary : field === "histogram" ? native : value;
  return fc.oneof(
    { arbitrary: own.map((v) => ({ [field]: v })), weight: 8 },
    fc.record({ gauge: value, counter: value, untyped: value, summary, histogram: native }, { requiredKeys: [] }),
  );
}

const label = fc.record({ name: fc.oneof({ arbitrary: legacyLabelName, weight: 8 }, name), value: labelValue }, { requiredKeys: ["name"] });

function metric(type: number): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record({ label: fc.array(label, { maxLength: 4 }), timestamp_ms: fc.option(edgeTimestamp, { nil: undefined, freq: 3 }), values: values(type) })
    .map(({ label, timestamp_ms, values }) => ({ label, ...(timestamp_ms === undefined ? {} : { timestamp_ms }), ...values }));
}

/** Types 0-5 of the schema, and 6 and 7 that it does not know (protobufjs reads them as 0). */
export const rawFamily: fc.Arbitrary<FamilyObject> = fc.integer({ min: 0, max: 7 }).chain((type) =>
  fc.record(
    { name, help: anyText(), type: fc.constant(type), metric: fc.array(metric(type), { maxLength: 4 }) },
    { requiredKeys: ["name", "type"] },
  ),
);

export const rawProtobufBody: fc.Arbitrary<Buffer> = fc.array(rawFamily, { minLength: 1, maxLength: 3 }).map((fs) => encodeFamilies(...fs));
