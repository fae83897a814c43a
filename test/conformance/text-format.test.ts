// The upstream text-format parser's own test corpus (prometheus/common expfmt), run against
// our parser. The corpus is kept in the repository (test/fixtures/conformance/, see its README);
// a missing corpus is a failure, never a skip.
//
// Only the legacy (non-UTF-8) name validation expectations apply: that is what the Pushgateway
// uses by default, and what parseText implements.
import { expect } from "chai";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { TextParseError, type Metric, type MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";
import { conformanceDir } from "../support/conformance.ts";


// ---- The corpus' JSON shape ----------------------------------------------------------------

/** A float as the corpus spells it: non-finite values are the strings "NaN", "+Inf", "-Inf". */
type JsonFloat = number | "NaN" | "+Inf" | "-Inf";

interface JsonSummary {
  sample_count?: number;
  sample_sum?: JsonFloat;
  quantiles?: [JsonFloat, JsonFloat][];
}

interface JsonHistogram {
  sample_count?: number;
  sample_count_float?: JsonFloat;
  sample_sum?: JsonFloat;
  buckets_cumulative_count?: [JsonFloat, number][];
  buckets_cumulative_count_float?: [JsonFloat, JsonFloat][];
}

interface JsonMetric {
  labels?: [string, string][];
  counter?: JsonFloat;
  gauge?: JsonFloat;
  untyped?: JsonFloat;
  summary?: JsonSummary;
  histogram?: JsonHistogram;
  timestamp_ms?: number;
}

interface JsonFamily {
  name: string;
  type: string;
  help?: string;
  metrics: JsonMetric[];
}

interface ValidCase {
  index: number;
  comment: string;
  input: string;
  scheme: string;
  note?: string;
  expected_families_in_any_order: JsonFamily[];
  legacy_validation_expectation: string;
}

interface ErrorCase {
  index: number;
  comment: string;
  input: string;
  input_bytes_hex: string | null;
  error_prefix_utf8: string | null;
  error_prefix_legacy: string;
}

// ---- Our model -> the corpus' shape ----------------------------------------------------------

function jsonFloat(v: number): JsonFloat {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return v;
}

function toJsonMetric(type: MetricFamily["type"], m: Metric): JsonMetric {
  const out: JsonMetric = {};
  if (m.labels.length % 2 !== 0) throw new Error(`odd label array length ${m.labels.length}: ${JSON.stringify(m.labels)}`);
  if (m.labels.length > 0) {
    out.labels = [];
    for (let i = 0; i < m.labels.length; i += 2) out.labels.push([m.labels[i], m.labels[i + 1]]);
  }
  switch (type) {
    case "COUNTER":
    case "GAUGE":
    case "UNTYPED": {
      if (m.value === undefined) throw new Error(`${type} metric without a value`);
      const key = type === "COUNTER" ? "counter" : type === "GAUGE" ? "gauge" : "untyped";
      out[key] = jsonFloat(m.value);
      break;
    }
    case "SUMMARY": {
      const s = m.summary;
      if (!s) throw new Error("SUMMARY metric without a summary");
      const js: JsonSummary = {};
      if (s.count !== undefined) js.sample_count = s.count;
      if (s.sum !== undefined) js.sample_sum = jsonFloat(s.sum);
      if (s.quantiles.length > 0) js.quantiles = s.quantiles.map((q) => [jsonFloat(q.quantile), jsonFloat(q.value)]);
      out.summary = js;
      break;
    }
    case "HISTOGRAM":
    case "GAUGE_HISTOGRAM": {
      const h = m.histogram;
      if (!h) throw new Error(`${type} metric without a histogram`);
      const jh: JsonHistogram = {};
      if (h.floatCounts) {
        if (h.count !== undefined) jh.sample_count_float = jsonFloat(h.count);
        if (h.buckets.length > 0) jh.buckets_cumulative_count_float = h.buckets.map((b) => [jsonFloat(b.upperBound), jsonFloat(b.count)]);
      } else {
        if (h.count !== undefined) jh.sample_count = h.count;
        if (h.buckets.length > 0) jh.buckets_cumulative_count = h.buckets.map((b) => [jsonFloat(b.upperBound), b.count]);
      }
      if (h.sum !== undefined) jh.sample_sum = jsonFloat(h.sum);
      out.histogram = jh;
      break;
    }
  }
  // A metric must carry exactly the payload its family type calls for.
  if (type !== "SUMMARY" && m.summary !== undefined) throw new Error(`${type} metric with a summary`);
  if (type !== "HISTOGRAM" && type !== "GAUGE_HISTOGRAM" && m.histogram !== undefined) throw new Error(`${type} metric with a histogram`);
  if (m.timestampMs !== undefined) out.timestamp_ms = m.timestampMs;
  return out;
}

function toJsonFamilies(families: MetricFamily[]): JsonFamily[] {
  return families.map((f) => {
    const jf: JsonFamily = { name: f.name, type: f.type, metrics: f.metrics.map((m) => toJsonMetric(f.type, m)) };
    if (f.help !== undefined) jf.help = f.help;
    return jf;
  });
}

function byName(families: JsonFamily[]): JsonFamily[] {
  return [...families].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// ---- Helpers ---------------------------------------------------------------------------------

function loadCorpus<T>(file: string): T[] {
  const full = path.join(conformanceDir, file);
  const data: unknown = JSON.parse(readFileSync(full, "utf8"));
  if (!Array.isArray(data) || data.length === 0) throw new Error(`${full}: expected a non-empty JSON array`);
  return data as T[];
}

function expectParseError(body: Buffer, prefix: string): void {
  let err: unknown;
  let result: MetricFamily[] | undefined;
  try {
    result = parseText(body);
  } catch (e) {
    err = e;
  }
  if (err === undefined) {
    expect.fail(`expected an error starting with ${JSON.stringify(prefix)}, but parsing succeeded: ${JSON.stringify(result)}`);
  }
  expect(err).to.be.instanceOf(TextParseError);
  const message = (err as TextParseError).message;
  expect(message.startsWith(prefix), `error message ${JSON.stringify(message)} should start with ${JSON.stringify(prefix)}`).to.equal(true);
}

function title(index: number, comment: string): string {
  return `#${index}: ${comment === "" ? "(no comment)" : comment}`;
}

const LEGACY_ERROR = /^error: (.*?)  \(derived/s;

// ---- The tests -------------------------------------------------------------------------------

describe("text format conformance (upstream expfmt corpus, legacy name validation)", () => {
  if (!existsSync(conformanceDir)) {
    it("finds the conformance corpus", () => {
      throw new Error(
        `conformance corpus directory not found: ${conformanceDir} (it should hold text-valid.json and text-errors.json)`,
      );
    });
    return;
  }

  describe("valid inputs (text-valid.json)", () => {
    let cases: ValidCase[];
    try {
      cases = loadCorpus<ValidCase>("text-valid.json");
    } catch (e) {
      it("loads text-valid.json", () => {
        throw e;
      });
      return;
    }
    for (const c of cases) {
      it(title(c.index, c.comment), () => {
        const body = Buffer.from(c.input, "utf8");
        const expectation = c.legacy_validation_expectation;
        if (expectation.startsWith("error: ")) {
          const m = LEGACY_ERROR.exec(expectation);
          if (!m) throw new Error(`cannot read the legacy expectation ${JSON.stringify(expectation)}`);
          expectParseError(body, m[1]);
          return;
        }
        const actual = byName(toJsonFamilies(parseText(body)));
        const expected = byName(c.expected_families_in_any_order);
        expect(actual.map((f) => f.name), "family names").to.deep.equal(expected.map((f) => f.name));
        expect(actual).to.deep.equal(expected);
      });
    }
  });

  describe("invalid inputs (text-errors.json)", () => {
    let cases: ErrorCase[];
    try {
      cases = loadCorpus<ErrorCase>("text-errors.json");
    } catch (e) {
      it("loads text-errors.json", () => {
        throw e;
      });
      return;
    }
    for (const c of cases) {
      it(title(c.index, c.comment), () => {
        const body = c.input_bytes_hex !== null ? Buffer.from(c.input_bytes_hex, "hex") : Buffer.from(c.input, "utf8");
        expectParseError(body, c.error_prefix_legacy);
      });
    }
  });
});
