// An OpenMetrics 1.0 body for generated families, written independently of write.ts: metadata
// lines in any order (TYPE, HELP, UNIT), names quoted or not (before or inside the braces),
// _created samples, exemplars, labels in any order with le/quantile anywhere, the _sum/_count
// lines of a summary or histogram anywhere among its samples, every spelling of a number, and
// timestamps in seconds. Families keep the order they were generated in.
import type { Metric, MetricFamily } from "../../../plugins/formats/prometheus/model.ts";
import { Choices } from "./choices.ts";
import type { GenFamily } from "./model.ts";
import { escapeQuoted, LEGACY_LABEL, LEGACY_METRIC } from "./names.ts";
import { omNumber, omTimestamp } from "./numbers.ts";


function quoteName(n: string, metric: boolean, c: Choices): string {
  const legacy = metric ? LEGACY_METRIC.test(n) : LEGACY_LABEL.test(n);
  return legacy && c.chance(0.9) ? n : `"${escapeQuoted(n)}"`;
}

/** Sample-name suffixes of each type: [bucket or quantile samples, sum, count, created]. */
const NAMES: Record<string, { sum: string; count: string; created?: string }> = {
  summary: { sum: "_sum", count: "_count", created: "_created" },
  histogram: { sum: "_sum", count: "_count", created: "_created" },
  gaugehistogram: { sum: "_gsum", count: "_gcount" },
};

export function openMetricsBody(gen: GenFamily[], seed: number): Buffer {
  const c = new Choices(seed);
  const out: string[] = [];
  for (const g of gen) {
    const f = g.family;
    const base = quoteName(g.base, true, c);
    const meta: string[] = [];
    if (g.omType !== "unknown" || f.metrics.length === 0 || c.chance(0.3)) meta.push(`# TYPE ${base} ${g.omType}`);
    if (f.help !== undefined) meta.push(`# HELP ${base} ${escapeQuoted(f.help)}`);
    else if (c.chance(0.1)) meta.push(c.pick([`# HELP ${base}`, `# HELP ${base} `]));
    const unit = /^[a-zA-Z_:][a-zA-Z0-9_:]*_([a-zA-Z0-9_:]+)$/.exec(g.base);
    if (unit && c.chance(0.3)) meta.push(`# UNIT ${base} ${unit[1]}`);
    out.push(...c.shuffle(meta));
    for (const m of f.metrics) out.push(...metricLines(g, m, c));
  }
  out.push(c.pick(["# EOF\n", "# EOF"]));
  return Buffer.from(out.map((l, i) => (i === out.length - 1 ? l : l + "\n")).join(""));
}

function series(name: string, m: Metric, c: Choices, special?: [string, string]): string {
  const pairs: string[] = [];
  for (let i = 0; i < m.labels.length; i += 2) pairs.push(`${quoteName(m.labels[i], false, c)}="${escapeQuoted(m.labels[i + 1])}"`);
  if (special) pairs.splice(c.int(pairs.length + 1), 0, `${special[0]}="${special[1]}"`);
  if (!LEGACY_METRIC.test(name) || c.chance(0.1)) {
    const quoted = `"${escapeQuoted(name)}"`;
    if (c.chance(0.5)) return `${quoted}${pairs.length > 0 || c.chance(0.5) ? `{${pairs.join(",")}}` : ""}`;
    pairs.splice(c.chance(0.7) ? 0 : c.int(pairs.length + 1), 0, quoted);
    return `{${pairs.join(",")}}`;
  }
  return pairs.length > 0 || c.chance(0.2) ? `${name}{${pairs.join(",")}}` : name;
}

function exemplar(c: Choices): string {
  if (!c.chance(0.3)) return "";
  const labels = c.pick(["{}", '{trace_id="4bf92f3577b34da6"}', '{a="1",b="\\"x\\""}']);
  const ts = c.chance(0.5) ? ` ${omTimestamp(c.int(2_000_000_000_000), c)}` : "";
  return ` # ${labels} ${omNumber(c.pick([0, 1.5, -3, 1e-9]), c)}${ts}`;
}

function metricLines(g: GenFamily, m: Metric, c: Choices): string[] {
  const ts = m.timestampMs === undefined ? "" : ` ${omTimestamp(m.timestampMs, c)}`;
  const line = (name: string, value: number, special?: [string, string], ex = "") => `${series(name, m, c, special)} ${omNumber(value, c)}${ts}${ex}`;
  const b = g.base;
  switch (g.omType) {
    case "counter": {
      const lines = [line(`${b}_total`, m.value!, undefined, exemplar(c))];
      if (c.chance(0.2)) lines.splice(c.int(2), 0, line(`${b}_created`, 1_700_000_000 + c.int(1000)));
      return lines;
    }
    case "info":
      return [line(`${b}_info`, 1)];
    case "gauge":
    case "unknown":
    case "stateset":
      return [line(b, m.value!)];
    default: {
      const names = NAMES[g.omType];
      const ordered: string[] = [];
      const extra: string[] = [];
      if (m.summary) {
        for (const q of m.summary.quantiles) ordered.push(line(b, q.value, ["quantile", omNumber(q.quantile, c)]));
      } else {
        for (const k of m.histogram!.buckets) ordered.push(line(`${b}_bucket`, k.count, ["le", omNumber(k.upperBound, c)], exemplar(c)));
      }
      const h = (m.summary ?? m.histogram)!;
      extra.push(line(b + names.sum, h.sum!), line(b + names.count, h.count!));
      if (names.created && c.chance(0.2)) extra.push(line(b + names.created, 1_700_000_000));
      // The quantile or bucket lines keep their order; the others go anywhere among them.
      for (const e of extra) ordered.splice(c.int(ordered.length + 1), 0, e);
      return ordered;
    }
  }
}

/** The families an OpenMetrics body of `gen` gives. */
export function openMetricsFamilies(gen: GenFamily[]): MetricFamily[] {
  return gen.map((g) => g.family);
}
