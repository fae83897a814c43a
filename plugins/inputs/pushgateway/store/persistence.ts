// The group store on disk: one JSON document, replaced atomically (written to a temporary file
// beside it, synced, renamed over it, directory synced), so that a crash leaves either the old
// file or the new one. A file that cannot be read back is moved aside and the store starts
// empty: a damaged file must not keep the agent from starting. A file the reference
// Pushgateway wrote (gob, see reference-file.ts) is imported once: it is kept beside under
// another name and pushkit's own file takes its place.
import { closeSync, fsyncSync, linkSync, openSync, renameSync, writeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { Bucket, Metric, MetricFamily, MetricType, Quantile } from "../../../formats/prometheus/model.ts";
import { isReferenceFile, readReferenceFile, ReferenceFileError } from "./reference-file.ts";
import { InconsistentPushError, type GroupStore, type SavedFamily } from "./store.ts";

const FORMAT = "pushkit-pushgateway-groups";
const VERSION = 1;
const TYPES = new Set<MetricType>(["COUNTER", "GAUGE", "SUMMARY", "UNTYPED", "HISTOGRAM", "GAUGE_HISTOGRAM"]);

/** JSON has no NaN or infinities, and writes -0 as 0: they are written as these strings. */
function num(v: number): number | string {
  if (Object.is(v, -0)) return "-0";
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
}

class Corrupt extends Error {}

function readNum(v: unknown, where: string): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "-0") return -0;
  if (v === "+Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  throw new Corrupt(`${where}: not a number`);
}

function optNum(v: unknown, where: string): number | undefined {
  return v === undefined ? undefined : readNum(v, where);
}

function str(v: unknown, where: string): string {
  if (typeof v !== "string") throw new Corrupt(`${where}: not a string`);
  return v;
}

function arr(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new Corrupt(`${where}: not a list`);
  return v;
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Corrupt(`${where}: not an object`);
  return v as Record<string, unknown>;
}

function writeMetric(m: Metric): unknown {
  return {
    labels: m.labels,
    ...(m.timestampMs !== undefined ? { t: m.timestampMs } : {}),
    ...(m.value !== undefined ? { v: num(m.value) } : {}),
    ...(m.summary
      ? { summary: { count: m.summary.count === undefined ? undefined : num(m.summary.count), sum: m.summary.sum === undefined ? undefined : num(m.summary.sum), q: m.summary.quantiles.map((q) => [num(q.quantile), num(q.value)]) } }
      : {}),
    ...(m.histogram
      ? { histogram: { count: m.histogram.count === undefined ? undefined : num(m.histogram.count), sum: m.histogram.sum === undefined ? undefined : num(m.histogram.sum), float: m.histogram.floatCounts, b: m.histogram.buckets.map((b) => [num(b.upperBound), num(b.count)]), ...(m.histogram.native ? { native: [m.histogram.native.schema, num(m.histogram.native.zeroThreshold)] } : {}) } }
      : {}),
  };
}

function readMetric(v: unknown, where: string): Metric {
  const o = obj(v, where);
  const labels = arr(o.labels, `${where}.labels`).map((l, i) => str(l, `${where}.labels[${i}]`));
  if (labels.length % 2 !== 0) throw new Corrupt(`${where}.labels: odd number of entries`);
  const m: Metric = { labels };
  if (o.t !== undefined) m.timestampMs = readNum(o.t, `${where}.t`);
  if (o.v !== undefined) m.value = readNum(o.v, `${where}.v`);
  if (o.summary !== undefined) {
    const s = obj(o.summary, `${where}.summary`);
    const quantiles: Quantile[] = arr(s.q, `${where}.summary.q`).map((q, i) => {
      const pair = arr(q, `${where}.summary.q[${i}]`);
      return { quantile: readNum(pair[0], `${where}.summary.q[${i}]`), value: readNum(pair[1], `${where}.summary.q[${i}]`) };
    });
    m.summary = { count: optNum(s.count, `${where}.summary.count`), sum: optNum(s.sum, `${where}.summary.sum`), quantiles };
  }
  if (o.histogram !== undefined) {
    const h = obj(o.histogram, `${where}.histogram`);
    const buckets: Bucket[] = arr(h.b, `${where}.histogram.b`).map((b, i) => {
      const pair = arr(b, `${where}.histogram.b[${i}]`);
      return { upperBound: readNum(pair[0], `${where}.histogram.b[${i}]`), count: readNum(pair[1], `${where}.histogram.b[${i}]`) };
    });
    m.histogram = { count: optNum(h.count, `${where}.histogram.count`), sum: optNum(h.sum, `${where}.histogram.sum`), buckets, floatCounts: h.float === true };
    if (h.native !== undefined) {
      const grid = arr(h.native, `${where}.histogram.native`);
      m.histogram.native = { schema: readNum(grid[0], `${where}.histogram.native[0]`), zeroThreshold: readNum(grid[1], `${where}.histogram.native[1]`) };
    }
  }
  return m;
}

/** The store as the JSON text of the persistence file. */
export function serialize(store: GroupStore): string {
  const groups = [...store.all()].map((g) => ({
    labels: g.labels,
    push_time_ms: g.pushTimeMs,
    failure_time_ms: g.failureTimeMs,
    last_push_successful: g.lastPushSuccessful,
    families: [...g.families.values()].map((sf) => ({ name: sf.family.name, help: sf.family.help, type: sf.family.type, time_ms: sf.timeMs, metrics: sf.family.metrics.map(writeMetric) })),
  }));
  return JSON.stringify({ format: FORMAT, version: VERSION, groups });
}

/** Fills an empty store from a persistence file's text; throws on anything malformed or inconsistent. */
export function deserialize(text: string, store: GroupStore): void {
  let doc: Record<string, unknown>;
  try {
    doc = obj(JSON.parse(text), "file");
  } catch (e) {
    throw new Corrupt(`not JSON: ${(e as Error).message}`);
  }
  if (doc.format !== FORMAT || doc.version !== VERSION) throw new Corrupt(`not a ${FORMAT} file of version ${VERSION}`);
  arr(doc.groups, "groups").forEach((gv, gi) => {
    const where = `groups[${gi}]`;
    const g = obj(gv, where);
    const labels = arr(g.labels, `${where}.labels`).map((p, i) => {
      const pair = arr(p, `${where}.labels[${i}]`);
      return [str(pair[0], `${where}.labels[${i}]`), str(pair[1], `${where}.labels[${i}]`)] as [string, string];
    });
    const families: SavedFamily[] = arr(g.families, `${where}.families`).map((fv, fi) => {
      const fw = `${where}.families[${fi}]`;
      const f = obj(fv, fw);
      const type = str(f.type, `${fw}.type`) as MetricType;
      if (!TYPES.has(type)) throw new Corrupt(`${fw}.type: unknown type ${type}`);
      const family: MetricFamily = {
        name: str(f.name, `${fw}.name`),
        type,
        ...(f.help !== undefined ? { help: str(f.help, `${fw}.help`) } : {}),
        metrics: arr(f.metrics, `${fw}.metrics`).map((m, mi) => readMetric(m, `${fw}.metrics[${mi}]`)),
      };
      return { family, timeMs: readNum(f.time_ms, `${fw}.time_ms`) };
    });
    try {
      const pushTime = readNum(g.push_time_ms, `${where}.push_time_ms`);
      const failureTime = readNum(g.failure_time_ms, `${where}.failure_time_ms`);
      store.restore(labels, families, pushTime, failureTime, typeof g.last_push_successful === "boolean" ? g.last_push_successful : failureTime <= pushTime);
    } catch (e) {
      throw new Corrupt(`${where}: ${(e as Error).message}`);
    }
  });
}

function writeAtomically(file: string, text: string): void {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = openSync(temp, "w", 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  // The rename itself is durable only once the directory is synced.
  const dfd = openSync(dir, "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export class Persistence {
  private timer: NodeJS.Timeout | undefined;
  private savedAt = 0;

  constructor(
    readonly file: string,
    private readonly intervalMs: number,
    private readonly store: GroupStore,
    private readonly log: Logger,
  ) {}

  /**
   * Restores the store; a file that is missing starts it empty, one that is damaged too, after
   * moving it aside. A reference Pushgateway's file is imported (see importReference).
   */
  async load(): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      throw e;
    }
    try {
      if (isReferenceFile(bytes)) {
        this.importReference(bytes);
        return;
      }
      deserialize(bytes.toString("utf8"), this.store);
      this.log.info({ file: this.file, groups: this.store.size }, "groups restored from the persistence file");
    } catch (e) {
      if (!(e instanceof Corrupt || e instanceof ReferenceFileError)) throw e;
      this.store.wipe();
      const aside = `${this.file}.corrupt-${Date.now()}`;
      renameSync(this.file, aside);
      this.log.error({ file: this.file, movedTo: aside, reason: e.message }, "persistence file is damaged; moved aside, starting with no groups");
    }
    this.savedAt = this.store.changes;
  }

  /**
   * Takes every group of a reference Pushgateway's file that fits (one that does not is logged
   * and left out), keeps the file as it is under `<file>.pushgateway-<ms>`, and writes pushkit's
   * own file in its place at once, so that the next start reads that one. The original gets its
   * second name (a hard link) before the new file replaces it: the path never lacks a file.
   */
  private importReference(bytes: Buffer): void {
    const read = readReferenceFile(bytes);
    const refused = read.unreadable.slice();
    for (const g of read.groups) {
      try {
        this.store.restore(g.labels, g.families, g.pushTimeMs, g.failureTimeMs, g.lastPushSuccessful);
      } catch (e) {
        if (!(e instanceof InconsistentPushError)) throw e;
        refused.push({ labels: g.labels, reason: e.message });
      }
    }
    for (const r of refused) {
      this.log.error({ file: this.file, group: Object.fromEntries(r.labels), reason: r.reason }, "a group of the reference Pushgateway's persistence file is not imported");
    }
    const aside = `${this.file}.pushgateway-${Date.now()}`;
    try {
      linkSync(this.file, aside);
    } catch {
      // A file system without hard links: the original moves; the new file follows at once.
      renameSync(this.file, aside);
    }
    this.log.info(
      { file: this.file, movedTo: aside, groups: this.store.size, notImported: refused.length },
      "groups imported from the reference Pushgateway's persistence file; the original is kept, moved aside, and this file is now written in pushkit's format",
    );
    try {
      writeAtomically(this.file, serialize(this.store));
      this.savedAt = this.store.changes;
    } catch (e) {
      // Written again on the next interval (and at shutdown).
      this.savedAt = -1;
      this.log.error({ err: e, file: this.file }, "cannot write the persistence file; will try again on the next interval");
    }
  }

  start(): void {
    this.timer = setInterval(() => this.saveIfChanged(), this.intervalMs);
    this.timer.unref();
  }

  saveIfChanged(): void {
    if (this.store.changes === this.savedAt) return;
    try {
      const changes = this.store.changes;
      writeAtomically(this.file, serialize(this.store));
      this.savedAt = changes;
      this.log.debug({ file: this.file, groups: this.store.size }, "groups persisted");
    } catch (e) {
      this.log.error({ err: e, file: this.file }, "cannot write the persistence file; will try again on the next interval");
    }
  }

  /** Stops the interval and writes what changed since the last write. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.saveIfChanged();
  }
}
