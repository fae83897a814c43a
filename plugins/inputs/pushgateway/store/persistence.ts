// The group store on disk: one JSON document, replaced atomically (written to a temporary file
// beside it, synced, renamed over it, directory synced), so that a crash leaves either the old
// file or the new one. A file that cannot be read back is moved aside and the store starts
// empty: a damaged file must not keep the agent from starting. A file the reference
// Pushgateway wrote (gob, see reference-file.ts) is imported once: it is kept beside under
// another name and pushkit's own file takes its place.
import { closeSync, fsyncSync, linkSync, openSync, renameSync, writeSync } from "node:fs";
import { open, readdir, readFile, rm } from "node:fs/promises";
import { setImmediate as setImmediatePromise } from "node:timers/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { Bucket, Metric, MetricFamily, MetricType, Quantile } from "../../../formats/prometheus/model.ts";
import { isReferenceFile, readReferenceFile, ReferenceFileError } from "./reference-file.ts";
import { InconsistentPushError, type GroupStore, type SavedFamily, type StoredFamily } from "./store.ts";

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

/** A group as it was when a write started: what the write holds, whatever changes meanwhile. */
interface GroupState {
  labels: readonly [string, string][];
  pushTimeMs: number;
  failureTimeMs: number;
  lastPushSuccessful: boolean;
  families: StoredFamily[];
}

/**
 * The state of every group at one instant. A write that spans several turns of the event loop
 * must not mix states: a group written before a change and another written after it could
 * contradict each other (a name with two types), and such a file is refused whole at the next
 * start. Stored families are replaced on a push, never changed, so copying the lists is
 * enough (100,000 groups: a few tens of milliseconds).
 */
function capture(store: GroupStore): GroupState[] {
  const out: GroupState[] = [];
  for (const g of store.all()) {
    out.push({ labels: g.labels, pushTimeMs: g.pushTimeMs, failureTimeMs: g.failureTimeMs, lastPushSuccessful: g.lastPushSuccessful, families: [...g.families.values()] });
  }
  return out;
}

/** Metrics per piece of text: a family of a million series is cut into pieces a slice can take. */
const METRICS_PER_PIECE = 512;

function familyDoc(sf: StoredFamily, metrics: unknown[]): unknown {
  return { name: sf.name, help: sf.help, type: sf.type, time_ms: sf.timeMs, metrics };
}

function groupDoc(g: GroupState, families: unknown[]): unknown {
  return { labels: g.labels, push_time_ms: g.pushTimeMs, failure_time_ms: g.failureTimeMs, last_push_successful: g.lastPushSuccessful, families };
}

/**
 * The persistence file's text in pieces, in order: small groups together up to
 * METRICS_PER_PIECE metrics, a large group family by family and a large family in parts of
 * METRICS_PER_PIECE metrics. The same text as JSON.stringify of the whole document (each
 * piece is JSON.stringify's, which is fastest on many objects at once), made a piece at a time
 * so that a large store can be written in slices.
 */
function* documentPieces(groups: readonly GroupState[]): Generator<string> {
  const j = JSON.stringify;
  yield `{"format":${j(FORMAT)},"version":${VERSION},"groups":[`;
  let first = true;
  const next = (text: string) => {
    const out = first ? text : `,${text}`;
    first = false;
    return out;
  };
  let small: unknown[] = [];
  let smallSize = 0;
  for (const g of groups) {
    let size = 0;
    for (const sf of g.families) size += sf.size;
    if (size <= METRICS_PER_PIECE) {
      small.push(groupDoc(g, g.families.map((sf) => familyDoc(sf, sf.family.metrics.map(writeMetric)))));
      smallSize += size + 1;
      if (smallSize >= METRICS_PER_PIECE) {
        yield next(j(small).slice(1, -1));
        small = [];
        smallSize = 0;
      }
      continue;
    }
    if (small.length > 0) {
      yield next(j(small).slice(1, -1));
      small = [];
      smallSize = 0;
    }
    // The group's and each family's JSON around an empty list, the metrics put in between.
    const [groupHead, groupTail] = j(groupDoc(g, [0])).split("[0]");
    yield next(`${groupHead}[`);
    for (let fi = 0; fi < g.families.length; fi++) {
      const sf = g.families[fi];
      const [head, tail] = j(familyDoc(sf, [0])).split("[0]");
      yield `${fi > 0 ? "," : ""}${head}[`;
      for (let mi = 0; mi < sf.size; mi += METRICS_PER_PIECE) {
        // Made a piece at a time too, when a scrape has not made them yet.
        const metrics = sf.metricsUpTo(mi + METRICS_PER_PIECE);
        yield (mi > 0 ? "," : "") + j(metrics.slice(mi, mi + METRICS_PER_PIECE).map(writeMetric)).slice(1, -1);
      }
      yield `]${tail}`;
    }
    yield `]${groupTail}`;
  }
  if (small.length > 0) yield next(j(small).slice(1, -1));
  yield "]}";
}

/** The store as the JSON text of the persistence file. */
export function serialize(store: GroupStore): string {
  return [...documentPieces(capture(store))].join("");
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

/** Where a write puts the new file before it takes the file's name; one per write, never shared. */
let writes = 0;
function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++writes}.tmp`);
}

/** A temporary file of an earlier run, left by a crash in the middle of a write. */
function isLeftover(file: string, name: string): boolean {
  const base = path.basename(file);
  return name.startsWith(`.${base}.`) && /^\.\d+(\.\d+)?\.tmp$/.test(name.slice(base.length + 1));
}

function writeAtomically(file: string, text: string): void {
  const temp = tempName(file);
  const fd = openSync(temp, "w", 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  // The rename itself is durable only once the directory is synced.
  const dfd = openSync(path.dirname(file), "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** Longest the event loop is held by a write before it lets other work run. */
const SLICE_MS = 10;
/** Text gathered before it is handed to the file system (off the event loop). */
const WRITE_CHUNK_CHARS = 1 << 20;

/**
 * Writes the pieces to a temporary file, in slices of at most about SLICE_MS of the event loop
 * (the file system's part runs on libuv's threads), syncs it, and renames it over `file`
 * unless `abandoned()` says by then that the write is no longer wanted (its file is removed).
 * Resolves to whether the file was replaced.
 */
async function writeInSlices(file: string, pieces: Iterable<string>, abandoned: () => boolean): Promise<boolean> {
  const temp = tempName(file);
  const fh = await open(temp, "w", 0o644);
  let complete = false;
  try {
    let text: string[] = [];
    let chars = 0;
    let sliceStart = performance.now();
    for (const piece of pieces) {
      text.push(piece);
      chars += piece.length;
      if (chars >= WRITE_CHUNK_CHARS) {
        await fh.writeFile(text.join(""));
        text = [];
        chars = 0;
      } else if (performance.now() - sliceStart > SLICE_MS) {
        await setImmediatePromise();
      } else {
        continue;
      }
      if (abandoned()) return false;
      sliceStart = performance.now();
    }
    await fh.writeFile(text.join(""));
    await fh.sync();
    complete = true;
  } finally {
    await fh.close();
    if (!complete) await rm(temp, { force: true });
  }
  if (abandoned()) {
    await rm(temp, { force: true });
    return false;
  }
  // Synchronous, right after the check: nothing can come between them, so a file written
  // synchronously at shutdown is never replaced by this older one.
  renameSync(temp, file);
  const dir = await open(path.dirname(file), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return true;
}

/** Longest wait between attempts while writes keep failing. */
const MAX_RETRY_MS = 60_000;

/** Starts of writes are at least this many write durations apart (see Persistence). */
const WRITE_SPACING = 4;

/**
 * Keeps the persistence file in step with the store. Every `intervalMs` (persistence_interval)
 * it writes the store if it changed: every change made in the meantime goes into that one
 * write, so a burst of pushes costs one write. A write runs in slices, the file system's part
 * off the event loop, and never overlaps another. A store so large that a write takes more
 * than a quarter of the interval is written at most every four write durations, so that
 * writing takes about a quarter of the event loop's time at most under constant change.
 * The bound within which a change is on disk: max(interval, 4 x write) + one write.
 */
export class Persistence {
  private timer: NodeJS.Timeout | undefined;
  /** store.changes as of the last file written (-1: the file must be written). */
  private savedAt = 0;
  private writing: Promise<void> | undefined;
  private stopped = false;
  private failuresInRow = 0;

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
    await this.removeLeftovers();
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
      this.failed(e);
    }
  }

  /** Removes temporary files that a crash in the middle of a write left beside the file. */
  private async removeLeftovers(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(path.dirname(this.file));
    } catch {
      return;
    }
    for (const name of names.filter((n) => isLeftover(this.file, n))) {
      await rm(path.join(path.dirname(this.file), name), { force: true });
      this.log.info({ file: path.join(path.dirname(this.file), name) }, "removed a temporary persistence file left by an earlier run");
    }
  }

  start(): void {
    this.stopped = false;
    this.schedule(this.intervalMs);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    const started = performance.now();
    await this.save();
    const took = performance.now() - started;
    // Measured from the start of this write: starts are at least the interval apart, and at
    // least WRITE_SPACING write durations.
    const next = this.failuresInRow > 0 ? Math.min(MAX_RETRY_MS, this.intervalMs * 2 ** this.failuresInRow) : Math.max(this.intervalMs, WRITE_SPACING * took) - took;
    this.schedule(next);
  }

  /**
   * Writes the store when it changed since the last write, in slices (see writeInSlices);
   * resolves when done, never rejects (a failure is logged, and the next attempt writes).
   * Waits for a write already under way and then writes what changed meanwhile.
   */
  async save(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.stopped || this.store.changes === this.savedAt) return;
    const changes = this.store.changes;
    const started = performance.now();
    const groups = capture(this.store);
    this.writing = writeInSlices(this.file, documentPieces(groups), () => this.stopped)
      .then((replaced) => {
        if (!replaced) return;
        this.savedAt = changes;
        this.written(groups.length, performance.now() - started);
      })
      .catch((e: unknown) => this.failed(e))
      .finally(() => (this.writing = undefined));
    await this.writing;
  }

  /** Writes the store at once, synchronously, when it changed since the last write. */
  saveIfChanged(): void {
    if (this.store.changes === this.savedAt) return;
    try {
      const changes = this.store.changes;
      const started = performance.now();
      writeAtomically(this.file, serialize(this.store));
      this.savedAt = changes;
      this.written(this.store.size, performance.now() - started);
    } catch (e) {
      this.failed(e);
    }
  }

  private written(groups: number, ms: number): void {
    if (this.failuresInRow > 0) this.log.info({ file: this.file, failedWrites: this.failuresInRow }, "persistence file written again");
    this.failuresInRow = 0;
    this.log.debug({ file: this.file, groups, ms: Math.round(ms) }, "groups persisted");
  }

  private failed(e: unknown): void {
    this.failuresInRow++;
    this.log.error({ err: e, file: this.file, failuresInRow: this.failuresInRow }, "cannot write the persistence file; will try again");
  }

  /**
   * Stops writing on the interval and writes what changed since the last write, synchronously:
   * the agent exits right after. A write under way is abandoned (it would hold less).
   */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.saveIfChanged();
  }
}
