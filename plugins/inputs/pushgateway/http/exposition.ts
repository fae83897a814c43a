// The scrape endpoint's answer, written family by family in slices: what render(gather(...))
// gives in one go, byte for byte. Each source of a family (a group's family, a group's gauge)
// is written once per format and kept with it: a later scrape copies the bytes of every source
// that did not change, and writes only those a push replaced.
import { ByteBuilder } from "../../../formats/prometheus/byte-builder.ts";
import { escapeName, type EscapingScheme } from "../../../formats/prometheus/escaping.ts";
import type { ScrapeFormat } from "../../../formats/prometheus/mediatypes.ts";
import type { MetricFamily } from "../../../formats/prometheus/model.ts";
import { familyHead, metricWriter, OPENMETRICS_EOF, servableCounter, type MetricWriter } from "../../../formats/prometheus/write.ts";
import type { FamilyPlan, Gathered } from "../store/scrape-order.ts";
import type { Slicer } from "../store/slices.ts";
import { Chunks } from "./chunks.ts";

/** A source's metrics as written in one format. */
interface Written {
  /** Format, escaping scheme and the family's type: what the bytes depend on beyond the metrics. */
  key: string;
  bytes: Buffer;
  /** Where each metric's bytes end; left out for a source of one metric. */
  ends: Uint32Array | undefined;
  /** Every metric a servableCounter() (OpenMetrics' head needs it). */
  servable: boolean;
}

function end(w: Written, i: number): number {
  return w.ends ? w.ends[i] : w.bytes.length;
}

/**
 * The bytes written of each source, for the format a scraper last asked for: one format per
 * source is kept (scrapers of one agent ask for the same), so the memory it takes stays that of
 * one exposition.
 */
export class WrittenSources {
  private readonly written = new WeakMap<MetricFamily, Written>();
  private readonly builder = new ByteBuilder(64 * 1024);
  /** Per name, its sources and what was written of them at the last scrape: most scrapes find most of them the same. */
  private readonly lastOf = new Map<string, { key: string; sources: readonly MetricFamily[]; written: Written[] }>();

  /**
   * What was written of every source of the plan in this format: the last scrape's where a
   * source is the one at the same place then (compared without reading the source: with
   * thousands of groups, touching each source costs more than the rest), else the source's own.
   */
  async writeAll(plan: FamilyPlan, key: string, writer: () => MetricWriter, slicer: Slicer): Promise<Written[]> {
    const last = this.lastOf.get(plan.name);
    const was = last?.key === key ? last : undefined;
    const sources = plan.sources;
    if (was && was.sources.length === sources.length && sources.every((s, i) => s === was.sources[i])) return was.written;
    let w: MetricWriter | undefined;
    const written: Written[] = [];
    for (let i = 0; i < sources.length; i++) {
      const source = sources[i];
      if (was && was.sources[i] === source) {
        written.push(was.written[i]);
        if (slicer.due()) await slicer.pause();
        continue;
      }
      // Most are known: no promise for them.
      written.push(this.lookup(source, key) ?? (await this.write(source, key, (w ??= writer()), slicer)));
      if (slicer.due(source.metrics.length)) await slicer.pause();
    }
    this.lastOf.set(plan.name, { key, sources, written });
    return written;
  }

  /** Forgets the names no longer served. */
  keepOnly(names: readonly string[]): void {
    if (this.lastOf.size <= names.length) return;
    const served = new Set(names);
    for (const name of this.lastOf.keys()) if (!served.has(name)) this.lastOf.delete(name);
  }

  /** What was written of the source in this format, if it was. */
  private lookup(source: MetricFamily, key: string): Written | undefined {
    const had = this.written.get(source);
    return had?.key === key ? had : undefined;
  }

  private async write(source: MetricFamily, key: string, writer: MetricWriter, slicer: Slicer): Promise<Written> {
    const metrics = source.metrics;
    const ends = metrics.length > 1 ? new Uint32Array(metrics.length) : undefined;
    let servable = true;
    // A builder of its own when a pause may come in the middle: another scrape may write meanwhile.
    const out = metrics.length > 64 ? new ByteBuilder(64 * 1024) : this.builder;
    for (let i = 0; i < metrics.length; i++) {
      const m = metrics[i];
      writer.write(m, out);
      if (ends) ends[i] = out.length;
      if (servable && !servableCounter(m)) servable = false;
      if (out !== this.builder && slicer.due()) await slicer.pause();
    }
    const w: Written = { key, bytes: out.take(), ends, servable };
    this.written.set(source, w);
    return w;
  }
}

/** Copies the metrics of runs k, k+3, ... until a chunk is ready or the slice is used up; returns the next run's index. */
function copyRuns(plan: FamilyPlan, written: readonly Written[], k: number, out: Chunks, slicer: Slicer): number {
  const runs = plan.runs;
  while (k < runs.length) {
    const w = written[runs[k]];
    const from = runs[k + 1];
    out.bytes(w.bytes, from === 0 ? 0 : end(w, from - 1), end(w, runs[k + 2] - 1));
    k += 3;
    if (out.ready || slicer.due()) break;
  }
  return k;
}

/** The whole exposition, in chunks; between slices the event loop turns, and the client's pace is kept (the consumer pulls). */
export async function* exposition(gathered: Gathered, scrape: ScrapeFormat, cache: WrittenSources, slicer: Slicer): AsyncGenerator<Buffer> {
  const { format, escaping } = scrape;
  const names = format === "openmetrics" ? new Set(gathered.names.map((n) => escapeName(n, escaping))) : new Set<string>();
  const out = new Chunks();
  for (const name of gathered.names) {
    const plan = await gathered.plan(name);
    const written = await writeSources(plan, format, escaping, cache, slicer);
    let bodyBytes = 0;
    let servable = true;
    for (const w of written) {
      bodyBytes += w.bytes.length;
      servable &&= w.servable;
    }
    const head = familyHead(format, escaping, plan.name, plan.help, plan.type, { names, servable, bodyBytes });
    if (typeof head === "string") out.string(head);
    else out.bytes(head);
    for (let k = 0; k < plan.runs.length; ) {
      k = copyRuns(plan, written, k, out, slicer);
      if (out.ready) yield* out.take();
      if (slicer.due()) await slicer.pause();
    }
  }
  if (format === "openmetrics") out.string(OPENMETRICS_EOF);
  cache.keepOnly(gathered.names);
  yield* out.end();
}

async function writeSources(plan: FamilyPlan, format: ScrapeFormat["format"], escaping: EscapingScheme, cache: WrittenSources, slicer: Slicer): Promise<Written[]> {
  const key = `${format}\u0000${escaping}\u0000${plan.type}`;
  return cache.writeAll(plan, key, () => metricWriter(format, escaping, plan.name, plan.type), slicer);
}
