// Seed bodies for mutation: the upstream text-format conformance corpus (valid and invalid
// inputs), the same data written as OpenMetrics and protobuf, and a few bodies of what the
// corpus lacks (OpenMetrics types, native histograms).
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseText } from "../../../plugins/formats/prometheus/parse-text.ts";
import { render } from "../../../plugins/formats/prometheus/write.ts";
import type { MetricFamily } from "../../../plugins/formats/prometheus/model.ts";
import { conformanceDir } from "../../support/conformance.ts";
import { encodeFamilies } from "../../support/protobuf.ts";
import type { Format } from "./model.ts";

interface Case {
  input: string;
  input_bytes_hex?: string | null;
}

function cases(file: string): Case[] {
  return JSON.parse(readFileSync(path.join(conformanceDir, file), "utf8")) as Case[];
}

const OPENMETRICS = [
  '# TYPE a counter\n# HELP a help\n# UNIT a\na_total{x="1"} 1 1.5 # {trace_id="1"} 1 2\na_created{x="1"} 1.7e9\n# EOF\n',
  '# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\nh_count 2\nh_sum 3\nh_created 1\n# EOF\n',
  '# TYPE g gaugehistogram\ng_bucket{le="1"} 1 # {a="b"} 0.5\ng_bucket{le="+Inf"} 3\ng_gcount 3\ng_gsum 2\n# EOF\n',
  '# TYPE s summary\ns{quantile="0.5"} 1\ns_count 2\ns_sum 3\n# TYPE i info\ni_info{v="1"} 1\n# TYPE st stateset\nst{st="a"} 1\nst{st="b"} 0\n# EOF\n',
  '# TYPE u unknown\nu 1\n{"my.metric","a.b"="c"} 2 123\n"q.m"{x="y"} NaN\n# EOF\n',
  '# TYPE t_seconds gauge\n# UNIT t_seconds seconds\nt_seconds -Inf 1700000000.001\n# EOF',
];

function nativeHistograms(): Buffer[] {
  const h = (histogram: Record<string, unknown>) => encodeFamilies({ name: "h", type: 4, metric: [{ histogram }] });
  return [
    h({ sample_count: 3, sample_sum: 1, schema: 0, zero_threshold: 1e-128, zero_count: 1, positive_span: [{ offset: 0, length: 2 }], positive_delta: [1, 0] }),
    h({ sample_count_float: 3.5, schema: 1, zero_count_float: 0.5, positive_span: [{ offset: 1, length: 2 }], positive_count: [1, 2], negative_span: [{ offset: -2, length: 1 }], negative_count: [1] }),
    h({ sample_count: 4, schema: 8, negative_span: [{ offset: 5, length: 1 }, { offset: 2, length: 2 }], negative_delta: [1, 1, -1] }),
    encodeFamilies({ name: "c", type: 0, metric: [{ label: [{ name: "a", value: "b" }], counter: { value: 1, created_timestamp: { seconds: 1 } }, timestamp_ms: 1700000000000 }] }),
  ];
}

let cached: Record<Format, Buffer[]> | undefined;

export function corpus(): Record<Format, Buffer[]> {
  if (cached) return cached;
  const text: Buffer[] = [];
  const parsed: MetricFamily[][] = [];
  for (const c of [...cases("text-valid.json"), ...cases("text-errors.json")]) {
    const body = c.input_bytes_hex ? Buffer.from(c.input_bytes_hex, "hex") : Buffer.from(c.input);
    text.push(body);
    try {
      parsed.push(parseText(body, { names: "utf8" }));
    } catch {
      // an invalid case: a seed for the text parser only
    }
  }
  const openmetrics = [...OPENMETRICS.map((s) => Buffer.from(s)), ...parsed.map((f) => Buffer.from(render(f, "openmetrics", "allow-utf-8")))];
  const protobuf = [...nativeHistograms(), ...parsed.map((f) => Buffer.from(render(f, "protobuf", "allow-utf-8")))];
  cached = { text, openmetrics, protobuf };
  return cached;
}
