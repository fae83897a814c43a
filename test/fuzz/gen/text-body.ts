// A text 0.0.4 body for generated families, written independently of write.ts and in the many
// ways the format allows: blanks and tabs, empty and comment lines, HELP before or after the
// samples, quoted names inside or before the braces, labels in any order with le/quantile
// anywhere, trailing commas, every spelling of a number, and the lines of a summary or
// histogram in any order. Returns the body and the families it must parse to (line order
// decides the order of metrics and buckets).
import type { Metric, MetricFamily } from "../../../plugins/formats/prometheus/model.ts";
import { Choices } from "./choices.ts";
import type { GenFamily } from "./model.ts";
import { escapeQuoted, LEGACY_LABEL, LEGACY_METRIC } from "./names.ts";
import { textNumber, textTimestamp } from "./numbers.ts";


const TYPE_SPELLINGS: Record<string, string[]> = {
  COUNTER: ["counter", "COUNTER", "Counter"],
  GAUGE: ["gauge", "GAUGE"],
  UNTYPED: ["untyped", "UNTYPED"],
  SUMMARY: ["summary", "Summary"],
  HISTOGRAM: ["histogram", "HISTOGRAM"],
  GAUGE_HISTOGRAM: ["gauge_histogram", "gaugehistogram", "GAUGEHISTOGRAM"],
};

/** One sample line of a family: which metric, and what it carries. */
interface Line {
  metric: number;
  kind: "plain" | "quantile" | "bucket" | "sum" | "count";
  index: number;
}

class TextWriter {
  readonly out: string[] = [];

  constructor(private readonly c: Choices) {}

  blank(): string {
    return this.c.pick([" ", " ", " ", "\t", "  ", " \t "]);
  }

  /** Blanks allowed inside braces: maybe none. */
  opt(): string {
    return this.c.chance(0.8) ? "" : this.blank();
  }

  push(line: string): void {
    if (this.c.chance(0.05)) this.out.push(this.c.pick(["\n", "# a comment\n", "#\n", "  \n", "# HELPX x y\n", "#\tfoo bar\n"]));
    this.out.push((this.c.chance(0.05) ? this.blank() : "") + line + "\n");
  }

  name(n: string, metric: boolean): string {
    const legacy = metric ? LEGACY_METRIC.test(n) : LEGACY_LABEL.test(n);
    return legacy && this.c.chance(0.9) ? n : `"${escapeQuoted(n)}"`;
  }
}

export function textBody(gen: GenFamily[], seed: number): { body: Buffer; families: MetricFamily[] } {
  const c = new Choices(seed);
  const w = new TextWriter(c);
  const expected: MetricFamily[] = [];
  for (const { family: f } of gen) {
    const name = w.name(f.name, true);
    const helpLine = f.help !== undefined ? `#${w.blank()}HELP${w.blank()}${name}${w.blank()}${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}` : undefined;
    const helpAt = helpLine === undefined ? "none" : c.pick(["before", "after", "late"]);
    if (helpAt === "before") w.push(helpLine!);
    if (f.type !== "UNTYPED" || c.chance(0.5)) w.push(`#${w.blank()}TYPE${w.blank()}${name}${w.blank()}${c.pick(TYPE_SPELLINGS[f.type])}`);
    if (helpAt === "after") w.push(helpLine!);

    const lines: Line[] = [];
    f.metrics.forEach((m, i) => {
      if (m.summary) {
        m.summary.quantiles.forEach((_, k) => lines.push({ metric: i, kind: "quantile", index: k }));
        lines.push({ metric: i, kind: "sum", index: 0 }, { metric: i, kind: "count", index: 0 });
      } else if (m.histogram) {
        m.histogram.buckets.forEach((_, k) => lines.push({ metric: i, kind: "bucket", index: k }));
        lines.push({ metric: i, kind: "sum", index: 0 }, { metric: i, kind: "count", index: 0 });
      } else {
        lines.push({ metric: i, kind: "plain", index: 0 });
      }
    });
    if (c.chance(0.5)) c.shuffle(lines);
    for (const line of lines) w.push(sampleLine(w, c, f, f.metrics[line.metric], line));
    if (helpAt === "late") w.push(helpLine!);
    expected.push(reordered(f, lines));
  }
  return { body: Buffer.from(w.out.join("")), families: expected };
}

function sampleLine(w: TextWriter, c: Choices, f: MetricFamily, m: Metric, line: Line): string {
  const suffix = line.kind === "sum" ? "_sum" : line.kind === "count" ? "_count" : line.kind === "bucket" ? "_bucket" : "";
  let value: number;
  let special: [string, number] | undefined;
  switch (line.kind) {
    case "plain":
      value = m.value!;
      break;
    case "quantile":
      special = ["quantile", m.summary!.quantiles[line.index].quantile];
      value = m.summary!.quantiles[line.index].value;
      break;
    case "bucket":
      special = ["le", m.histogram!.buckets[line.index].upperBound];
      value = m.histogram!.buckets[line.index].count;
      break;
    case "sum":
      value = (m.summary ?? m.histogram)!.sum!;
      break;
    default:
      value = (m.summary ?? m.histogram)!.count!;
  }
  const pairs: string[] = [];
  for (let i = 0; i < m.labels.length; i += 2) {
    pairs.push(`${w.opt()}${w.name(m.labels[i], false)}${w.opt()}=${w.opt()}"${escapeQuoted(m.labels[i + 1])}"${w.opt()}`);
  }
  if (special) pairs.splice(c.int(pairs.length + 1), 0, `${w.opt()}${special[0]}=${w.opt()}"${textNumber(special[1], c)}"`);
  const full = f.name + suffix;
  let series: string;
  if (!LEGACY_METRIC.test(full) || c.chance(0.1)) {
    // The UTF-8 form: the quoted name among the labels, first or anywhere.
    pairs.splice(c.chance(0.7) ? 0 : c.int(pairs.length + 1), 0, `${w.opt()}"${escapeQuoted(full)}"${w.opt()}`);
    series = `{${pairs.join(",")}${pairs.length > 0 && c.chance(0.2) ? "," : ""}}`;
  } else if (pairs.length === 0 && c.chance(0.7)) {
    series = full + (c.chance(0.1) ? "{}" : "");
  } else {
    series = `${full}${c.chance(0.1) ? w.blank() : ""}{${pairs.join(",")}${pairs.length > 0 && c.chance(0.2) ? "," : ""}}`;
  }
  const ts = m.timestampMs === undefined ? "" : `${w.blank()}${textTimestamp(m.timestampMs, c)}`;
  return `${series}${w.blank()}${textNumber(value, c)}${ts}`;
}

/** The family as parsing the lines in this order gives it: metrics by first line, buckets and quantiles by line. */
function reordered(f: MetricFamily, lines: Line[]): MetricFamily {
  const order: number[] = [];
  const parts = new Map<number, number[]>();
  for (const l of lines) {
    if (!parts.has(l.metric)) {
      order.push(l.metric);
      parts.set(l.metric, []);
    }
    if (l.kind === "quantile" || l.kind === "bucket") parts.get(l.metric)!.push(l.index);
  }
  const metrics = order.map((i) => {
    const m = f.metrics[i];
    const idx = parts.get(i)!;
    if (m.summary) return { ...m, summary: { ...m.summary, quantiles: idx.map((k) => m.summary!.quantiles[k]) } };
    if (m.histogram) return { ...m, histogram: { ...m.histogram, buckets: idx.map((k) => m.histogram!.buckets[k]) } };
    return m;
  });
  return { ...f, metrics };
}
