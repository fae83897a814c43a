// The group store: the last pushed families of every grouping key, as the reference Pushgateway
// keeps them. POST replaces the pushed families by name, PUT the whole group, DELETE removes the
// group. Every write is checked against the rest of the store before it changes anything, so a
// refused push leaves the store as it was (the reference creates the group anyway and can end up
// refusing every later push). The checks read per-name and per-series indexes, so their cost
// follows the size of the push, not the number of groups stored.
import { LimitError } from "../../../formats/prometheus/limits.ts";
import { sortedPairs, type Metric, type MetricFamily, type MetricType } from "../../../formats/prometheus/model.ts";
import { pushedFamily, type MetricBuilder, type PushedFamily } from "./pushed-family.ts";
import type { Slicer } from "./slices.ts";

/** The gauges the store itself keeps in every group. */
export const PUSH_TIME = "push_time_seconds";
export const PUSH_FAILURE_TIME = "push_failure_time_seconds";
export const PUSH_TIME_HELP = "Last Unix time when changing this group in the Pushgateway succeeded.";
export const PUSH_FAILURE_TIME_HELP = "Last Unix time when changing this group in the Pushgateway failed.";
/** Served for every group an aggregate rule adds pushes into (not by the reference). */
export const AGGREGATED = "pushkit_pushgateway_aggregated_group";
export const AGGREGATED_HELP = "1 for a group whose pushes are added up by an aggregate rule; aggregate_rule is the rule's number.";

/**
 * A family as the store keeps it. Its metrics are built when first read (a scrape, the API,
 * a check): a job that pushes the same series again and again with new values costs a
 * comparison of label sets per push, not an object per metric.
 */
export class StoredFamily {
  private built: MetricFamily | undefined;
  /** The metrics, while a reader has made some of them only (familyIn). */
  private making: MetricBuilder | undefined;
  /** The labels read back from the keys so far, while a reader has made some of them only (familyIn). */
  private labelsSoFar: string[][] | undefined;

  constructor(
    readonly name: string,
    readonly help: string | undefined,
    readonly type: MetricType,
    /** When it was pushed (ms since the epoch). */
    public timeMs: number,
    /** The series key of each metric (see seriesKey), worked out once when its label sets were first pushed. */
    readonly keys: readonly string[],
    /** The label sets as pushed (see label-shape.ts): a push with the very same ones reuses keys and labels. */
    readonly shape: string,
    /** Each metric's labels as the store keeps them (grouping labels in, sorted); read back from the keys when not given. */
    private stored: readonly (readonly string[])[] | undefined,
    /** The family as pushed, until its metrics are built. */
    private source: PushedFamily | undefined,
  ) {}

  get size(): number {
    return this.keys.length;
  }

  /** Each metric's labels as the store keeps them. A worker sends only the keys: the labels are made when first read. */
  get labels(): readonly (readonly string[])[] {
    if (this.stored === undefined) this.labelsUpTo(this.keys.length);
    return this.stored!;
  }

  /** The labels if they were made already: a successor with the same keys shares them, or makes them when it needs them. */
  get labelsMade(): readonly (readonly string[])[] | undefined {
    return this.stored;
  }

  /** The family if its metrics were made already. */
  get familyMade(): MetricFamily | undefined {
    return this.built;
  }

  get family(): MetricFamily {
    this.metricsUpTo(Infinity);
    return this.built!;
  }

  /**
   * The family, its labels and metrics made in slices (see slices.ts) when they were not yet: a
   * scrape's first read of a family of 100,000 series does not hold the event loop for all of it.
   */
  async familyIn(slicer: Slicer): Promise<MetricFamily> {
    while (this.built === undefined) {
      this.metricsUpTo((this.making?.metrics.length ?? 0) + BUILD_STEP);
      if (this.built === undefined && slicer.due(BUILD_STEP)) await slicer.pause();
    }
    return this.built;
  }

  /**
   * The first `count` metrics (all of them when there are fewer), made when they are not yet: a
   * reader that works through a family in parts makes it in parts. Readers that meet halfway go
   * on with what the other made.
   */
  metricsUpTo(count: number): readonly Metric[] {
    if (this.built !== undefined) return this.built.metrics;
    const labels = this.labelsUpTo(count);
    // The builder keeps the labels array, which grows in place until it is whole.
    const making = (this.making ??= this.source!.build(labels));
    making.more(count - making.metrics.length);
    // Made whole: the same array becomes the family's.
    if (making.metrics.length === this.keys.length) this.done(making.metrics);
    return making.metrics;
  }

  /** The labels of the first `count` metrics made (at least), read back from the keys. */
  private labelsUpTo(count: number): readonly (readonly string[])[] {
    if (this.stored !== undefined) return this.stored;
    const made = (this.labelsSoFar ??= []);
    const end = Math.min(count, this.keys.length);
    for (let i = made.length; i < end; i++) made.push(labelsOfKey(this.keys[i], this.name.length));
    if (made.length === this.keys.length) {
      this.stored = made;
      this.labelsSoFar = undefined;
    }
    return made;
  }

  private done(metrics: Metric[]): void {
    this.built = { name: this.name, ...(this.help !== undefined ? { help: this.help } : {}), type: this.type, metrics };
    this.source = undefined;
    this.making = undefined;
  }

  hasTimestamps(): boolean {
    return this.source ? this.source.hasTimestamps() : this.built!.metrics.some((m) => m.timestampMs !== undefined);
  }
}

/** Runs work written as steps (see GroupStore.applying) to its end, in one go. */
function allSteps<T>(steps: Generator<number, T>): T {
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
  }
}

/** Metrics made between two looks at the clock (about a microsecond each). */
const BUILD_STEP = 256;

/** A family to put back into the store (restore). */
export interface SavedFamily {
  family: MetricFamily;
  timeMs: number;
}

/** A family of a write, sanitised, with the series key of each metric. */
interface Prepared {
  sf: StoredFamily;
  /**
   * The group's family this one has the same type and series as: checked and indexed when
   * that one was stored, so neither is done again (a job pushing new values is the usual case).
   */
  reuse?: StoredFamily;
  /** The keys are known to be distinct (a parse worker checked them). */
  unique?: boolean;
}

export interface Group {
  /** The grouping key in canonical form (see groupKey). */
  readonly key: string;
  /** The grouping labels, job included, sorted by name. */
  readonly labels: readonly [string, string][];
  /**
   * Replaced, never changed once a reader may hold it: a change makes a new map (apply, undo and
   * remove fill theirs before they return), so a scrape's snapshot keeps the map as it was.
   */
  families: ReadonlyMap<string, StoredFamily>;
  /** Last successful change (ms since the epoch). */
  pushTimeMs: number;
  /** Last refused change (ms), 0 if none. */
  failureTimeMs: number;
  /** Whether the last change was accepted (times alone cannot tell within one millisecond). */
  lastPushSuccessful: boolean;
  /** Counts the group's changes (families, times, success): a reader that keeps what it made of the group (a scrape) tells by it whether to make it again. */
  version: number;
  /**
   * What a scrape made of the group when it last read it (snapshot.ts): kept on the group, so
   * that it goes with it, and found without a lookup (a WeakMap of 100,000 groups costs a first
   * scrape more than the rest of its snapshot).
   */
  scrapeState: object | undefined;
}

/** A push that the store refuses: answered 400 with the reference's prefix. */
export class InconsistentPushError extends Error {
  constructor(detail: string) {
    super(`pushed metrics are invalid or inconsistent with existing metrics: ${detail}`);
    this.name = "InconsistentPushError";
  }
}

export interface StoreOptions {
  consistency_check: boolean;
  reject_timestamps: boolean;
  /** Most groups held; 0 for no limit. */
  max_groups: number;
  /** Most series held (metrics of all families of all groups); 0 for no limit. */
  max_series?: number;
  /** Most labels on a series, grouping labels included; 0 (or absent) for no limit. */
  label_limit?: number;
}

export interface Write {
  replaceAll: boolean;
  /** Grouping labels, job included. */
  grouping: ReadonlyMap<string, string>;
  /** Families as parsed (objects, or any other PushedFamily); the store sanitises them. */
  families: readonly (MetricFamily | PushedFamily)[];
  timeMs: number;
}

/** What a change took out of the store: the metrics that no longer exist, per family. */
export interface Removed {
  group: Group;
  families: MetricFamily[];
}

/**
 * The families a write replaced, whole: a series that ended may hide inside a metric that
 * stays (a histogram that lost a bucket, a summary that became a gauge). Read `.family` of
 * each only when needed: it builds the metrics.
 */
export interface Replaced {
  group: Group;
  families: StoredFamily[];
}

/** What apply() did: how to take it back, and what it removed or replaced. */
export interface Applied {
  readonly undo: Undo;
  readonly removed: Removed | undefined;
  readonly replaced: Replaced | undefined;
}

/** What applying a write needs to undo it. */
export interface Undo {
  readonly group: Group;
  readonly created: boolean;
  readonly before: ReadonlyMap<string, StoredFamily>;
  readonly pushTimeMs: number;
  readonly lastPushSuccessful: boolean;
}

/** The store is full: answered 507. `limit` names the option. */
export class GroupFullError extends Error {
  constructor(
    readonly limit: "max_groups" | "max_series",
    message: string,
  ) {
    super(message);
  }
}

const sortPairs = (a: [string, string], b: [string, string]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

export function sortedGrouping(grouping: ReadonlyMap<string, string>): [string, string][] {
  return [...grouping].sort(sortPairs);
}

/** One string per grouping key: the sorted label pairs, unambiguous whatever the values hold (see seriesKey). */
export function groupKey(labels: readonly [string, string][]): string {
  return seriesKey("", flatPairs(labels));
}

function flatPairs(labels: readonly [string, string][]): string[] {
  const flat = new Array<string>(labels.length * 2);
  for (let i = 0; i < labels.length; i++) [flat[2 * i], flat[2 * i + 1]] = labels[i];
  return flat;
}

/** A grouping key in the forms the store works with. */
export interface CanonicalGrouping {
  /** Pairs sorted by name. */
  labels: [string, string][];
  key: string;
  /** The sorted pairs flat: [name, value, ...]. */
  flat: string[];
  names: LabelNames;
}

/** What the store asks of a set of label names. */
export interface LabelNames {
  has(name: string): boolean;
}

// Worked out again by each reader of a push's grouping (its group's line, the store): that
// costs less than remembering it per map (a WeakMap entry per request taxes every GC).
export function canonicalGrouping(grouping: ReadonlyMap<string, string>): CanonicalGrouping {
  const labels = sortedGrouping(grouping);
  const flat = flatPairs(labels);
  // The map itself answers which names it has.
  return { labels, key: seriesKey("", flat), flat, names: grouping };
}

// Series keys: the name and every label name and value, separated by NUL. Names cannot hold
// NUL; a NUL inside a value is doubled, so that a key reads back one way only.
const SEP = "\u0000";

function keyPart(v: string): string {
  return v.includes(SEP) ? v.replaceAll(SEP, SEP + SEP) : v;
}

/** One string per series: name and sorted label pairs. */
export function seriesKey(name: string, labels: readonly string[]): string {
  let k = name;
  for (let i = 0; i < labels.length; i += 2) k += SEP + labels[i] + SEP + keyPart(labels[i + 1]);
  return k;
}

/** The label pairs of a series key (see seriesKey) whose name is `nameLength` characters long. */
export function labelsOfKey(key: string, nameLength: number): string[] {
  const out: string[] = [];
  let part = "";
  let from = nameLength + 1;
  if (from > key.length) return out;
  for (;;) {
    const i = key.indexOf(SEP, from);
    if (i < 0) {
      out.push(part + key.slice(from));
      return out;
    }
    // A doubled NUL is a NUL of the value.
    if (key.charCodeAt(i + 1) === 0 && out.length % 2 === 1) {
      part += key.slice(from, i + 1);
      from = i + 2;
      continue;
    }
    out.push(part + key.slice(from, i));
    part = "";
    from = i + 1;
  }
}

const INSTANCE_PAIR: readonly string[] = ["instance", ""];
const NO_PAIRS: readonly string[] = [];


/**
 * A metric as the store keeps it: every grouping label, overriding a body label of that name,
 * `instance=""` when it has none, pairs sorted by name; and its series key. The body's pairs
 * (sorted, as clients send them) are merged with the sorted grouping pairs in one pass.
 */
function prepareLabels(l: readonly string[], name: string, grouping: readonly string[], groupingNames: LabelNames, out: string[][], keys: string[]): number {
  let instance = groupingNames.has("instance");
  let overridden = false;
  let sorted = true;
  for (let i = 0; i < l.length; i += 2) {
    const n = l[i];
    if (groupingNames.has(n)) overridden = true;
    else if (n === "instance") instance = true;
    if (i > 0 && l[i - 2] >= n) sorted = false;
  }
  let body: readonly string[] = l;
  if (overridden) {
    const kept: string[] = [];
    for (let i = 0; i < l.length; i += 2) if (!groupingNames.has(l[i])) kept.push(l[i], l[i + 1]);
    body = kept;
  }
  if (!sorted) body = sortedPairs(body);
  const extra = instance ? NO_PAIRS : INSTANCE_PAIR;
  const labels: string[] = new Array(body.length + grouping.length + extra.length);
  // Joined rather than concatenated: a flat string hashes without being copied first.
  const parts: string[] = new Array(labels.length + 1);
  parts[0] = name;
  let a = 0;
  let b = 0;
  let c = 0;
  for (let o = 0; o < labels.length; o += 2) {
    // Three sorted lists with no name in two of them: take the smallest head.
    let src = body;
    let at = a;
    if (b < grouping.length && (at >= src.length || grouping[b] < src[at])) {
      src = grouping;
      at = b;
    }
    if (c < extra.length && (at >= src.length || extra[c] < src[at])) {
      src = extra;
      at = c;
    }
    if (src === body) a += 2;
    else if (src === grouping) b += 2;
    else c += 2;
    const n = src[at];
    const v = src[at + 1];
    labels[o] = n;
    labels[o + 1] = v;
    parts[o + 1] = n;
    parts[o + 2] = keyPart(v);
  }
  out.push(labels);
  keys.push(parts.join(SEP));
  return (labels.length - extra.length) / 2;
}

function prepare(f: PushedFamily, grouping: CanonicalGrouping, timeMs: number, labelLimit: number, old?: StoredFamily): Prepared {
  const shape = f.shape;
  if (old && old.type === f.type && old.size === f.size && old.shape === shape) {
    return { sf: new StoredFamily(f.name, f.help, f.type, timeMs, old.keys, shape, old.labelsMade, f), reuse: old };
  }
  const given = f.series;
  if (given && given.grouping === grouping.key) return { sf: new StoredFamily(f.name, f.help, f.type, timeMs, given.keys, shape, undefined, f), unique: true };
  const { labels, keys } = storedSeries(f.name, f.labelSets(), grouping, labelLimit);
  return { sf: new StoredFamily(f.name, f.help, f.type, timeMs, keys, shape, labels, f) };
}

/**
 * The labels and series keys a family's metrics get in the store (see prepareLabels). A parse
 * worker makes them too, off the main thread. Throws LimitError past labelLimit (0: none).
 */
export function storedSeries(name: string, labelSets: readonly (readonly string[])[], grouping: Pick<CanonicalGrouping, "flat" | "names">, labelLimit: number): { labels: string[][]; keys: string[] } {
  const labels: string[][] = [];
  const keys: string[] = [];
  for (const l of labelSets) {
    const n = prepareLabels(l, name, grouping.flat, grouping.names, labels, keys);
    if (labelLimit > 0 && n > labelLimit) {
      throw new LimitError("label_limit", labelLimit, `series ${JSON.stringify(name)} ${formatLabels(labels[labels.length - 1])} has ${n} labels, grouping labels included`);
    }
  }
  return { labels, keys };
}

/**
 * A metric as the store keeps it: every grouping label, overriding a body label of that name,
 * `instance=""` when it has none, pairs sorted by name.
 */
export function sanitize(m: Metric, grouping: readonly [string, string][], groupingNames: LabelNames): Metric {
  const out: string[][] = [];
  prepareLabels(m.labels, "", grouping.flat(), groupingNames, out, []);
  return { ...m, labels: out[0] };
}

/** The labels of a group's own gauges (push_time_seconds): the grouping labels, instance="" added. */
export function groupGaugeLabels(labels: readonly [string, string][]): string[] {
  if (labels.some(([n]) => n === "instance")) return labels.flat();
  return [...labels, ["instance", ""] as [string, string]].sort(sortPairs).flat();
}

function formatLabels(labels: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < labels.length; i += 2) parts.push(`${labels[i]}=${JSON.stringify(labels[i + 1])}`);
  return `{${parts.join(",")}}`;
}

interface NameEntry {
  type: MetricType;
  /** Groups holding a family of this name. */
  groups: number;
}

const OWN_TYPES: ReadonlyMap<string, MetricType> = new Map([
  [PUSH_TIME, "GAUGE"],
  [PUSH_FAILURE_TIME, "GAUGE"],
]);

export class GroupStore {
  private readonly groups = new Map<string, Group>();
  private readonly names = new Map<string, NameEntry>();
  /**
   * Series key -> the group holding it (pushed series only), for the check that no series is in
   * two groups. Every series carries its group's grouping labels, so two groups whose grouping
   * keys have the same label names can never hold the same series: the index is kept only
   * while groups with two or more different sets of grouping label names exist. A store whose
   * groups are all keyed alike (the usual case: job and instance) spends neither the time to
   * index every pushed series nor the memory to hold the index.
   */
  private series: Map<string, Group> | undefined;
  /** Groups per set of grouping label names (see nameSet). */
  private readonly nameSets = new Map<string, number>();
  /** Series key -> the group whose own gauge it is (push_time_seconds, push_failure_time_seconds). */
  private readonly ownSeries = new Map<string, Group>();
  /** Series of all groups (families' metrics). */
  private held = 0;
  /** Counts every change, for persistence to tell whether there is something to write. */
  changes = 0;
  private readonly dropped: { group: Group; family: MetricFamily; reason: string }[] = [];

  constructor(
    private readonly o: StoreOptions,
    /** Names of the agent's own metrics, which pushes may not take. */
    private readonly reservedNames: () => ReadonlySet<string> = () => new Set(),
  ) {}

  get size(): number {
    return this.groups.size;
  }

  get(key: string): Group | undefined {
    return this.groups.get(key);
  }

  all(): IterableIterator<Group> {
    return this.groups.values();
  }

  /**
   * Checks a write against the store and applies it, or throws InconsistentPushError and
   * changes nothing but the failure time of the group, if it exists.
   */
  apply(w: Write): Applied {
    return allSteps(this.applying(w));
  }

  /**
   * apply() in slices (see slices.ts), for a write too large for one turn of the event loop (a
   * push of 100,000 families). The caller sees to it that no other change of the store comes
   * between its slices (Groups does). Readers see the store as it was until the last slice,
   * which puts the group's new families in place at once.
   */
  async applyInSlices(w: Write, slicer: Slicer): Promise<Applied> {
    const steps = this.applying(w);
    for (let s = steps.next(); ; s = steps.next()) {
      if (s.done) return s.value;
      if (slicer.due(s.value)) await slicer.pause();
    }
  }

  /** apply() as steps: each yields the work it did (in families or series, about a microsecond each). */
  private *applying(w: Write): Generator<number, Applied> {
    const canonical = canonicalGrouping(w.grouping);
    const { labels: grouping, key } = canonical;
    const existing = this.groups.get(key);
    const prepared: Prepared[] = [];
    for (const f of w.families) {
      prepared.push(prepare(pushedFamily(f), canonical, w.timeMs, this.o.label_limit ?? 0, existing?.families.get(f.name)));
      yield 1;
    }
    try {
      if (!existing && this.o.max_groups > 0 && this.groups.size >= this.o.max_groups) {
        throw new GroupFullError("max_groups", `the store holds max_groups (${this.o.max_groups}) groups; delete groups or raise max_groups`);
      }
      if (this.o.max_series) this.checkSeries(existing, prepared, w.replaceAll, this.o.max_series);
      yield* this.checking(existing, grouping, prepared, w.replaceAll);
    } catch (e) {
      if (e instanceof InconsistentPushError) this.failed(existing, key, grouping, w.timeMs);
      throw e;
    }
    const group = existing ?? this.newGroup(key, grouping.slice());
    // The group's families after the write are made in a map of their own, put in place last:
    // a reader between two steps sees the group as it was. The map it had is what undo puts back.
    const before = group.families;
    const families = new Map<string, StoredFamily>();
    if (!w.replaceAll) {
      for (const [name, sf] of before) {
        families.set(name, sf);
        if ((families.size & 1023) === 0) yield 1024;
      }
    }
    const replaced: StoredFamily[] = [];
    // A reused family's index entries stand for its successor as they are.
    const reused = new Set<StoredFamily | undefined>();
    for (const p of prepared) if (p.reuse) reused.add(p.reuse);
    if (w.replaceAll) {
      for (const sf of before.values()) {
        replaced.push(sf);
        if (!reused.has(sf)) this.unindex(group, sf);
        yield 1;
      }
    }
    for (const p of prepared) {
      const name = p.sf.name;
      const old = families.get(name);
      if (old) {
        replaced.push(old);
        if (!reused.has(old)) this.unindex(group, old);
        families.delete(name);
      }
      // A family without metrics (protobuf allows one) replaces its namesake but is not kept:
      // it would serve nothing, and would hold its name's type for nothing.
      if (p.sf.size > 0) {
        families.set(name, p.sf);
        if (!p.reuse) this.index(group, p.sf);
      }
      yield 1;
    }
    const undo: Undo = { group, created: !existing, before, pushTimeMs: group.pushTimeMs, lastPushSuccessful: group.lastPushSuccessful };
    if (!existing) this.register(group);
    group.families = families;
    group.pushTimeMs = w.timeMs;
    group.lastPushSuccessful = true;
    group.version++;
    this.changes++;
    return { undo, removed: this.gone(group, replaced, reused), replaced: replaced.length > 0 ? { group, families: replaced } : undefined };
  }

  /** Series held by every group, as max_series counts them. */
  get seriesHeld(): number {
    return this.held;
  }

  /** Refuses a write that would take the store over max_series; one that does not add series always fits. */
  private checkSeries(g: Group | undefined, prepared: readonly Prepared[], replaceAll: boolean, limit: number): void {
    let added = 0;
    for (const p of prepared) added += p.sf.size;
    let removed = 0;
    if (g && replaceAll) for (const sf of g.families.values()) removed += sf.size;
    else if (g) for (const p of prepared) removed += g.families.get(p.sf.name)?.size ?? 0;
    const after = this.held - removed + added;
    if (added > removed && after > limit) {
      throw new GroupFullError(
        "max_series",
        `the store holds ${this.held} series and this push would make it ${after} (the push has ${added}, replacing ${removed}); the limit is ${limit} (max_series): delete groups or raise max_series`,
      );
    }
  }

  /**
   * Records a refused push as the reference does: its group's failure time is set, and a group
   * that did not exist is created empty with it (push_time_seconds 0), so that an alert on
   * push_failure_time_seconds fires for a job whose very first push failed. Not where the new
   * group's own gauges would be another group's series ({job="x"} beside {job="x",instance=""}):
   * that would make the store inconsistent.
   */
  private failed(existing: Group | undefined, key: string, grouping: [string, string][], timeMs: number): void {
    let g = existing;
    if (!g) {
      if (this.o.max_groups > 0 && this.groups.size >= this.o.max_groups) return;
      const own = groupGaugeLabels(grouping);
      for (const name of OWN_TYPES.keys()) if (this.ownSeries.has(seriesKey(name, own))) return;
      g = this.create(key, grouping.slice());
    }
    g.failureTimeMs = timeMs;
    g.lastPushSuccessful = false;
    g.version++;
    this.changes++;
  }

  /** Marks a change of the group with this key as refused (a push refused before apply(), e.g. an aggregation that did not fit). */
  refused(key: string, timeMs: number): void {
    const g = this.groups.get(key);
    if (!g) return;
    g.failureTimeMs = timeMs;
    g.lastPushSuccessful = false;
    g.version++;
    this.changes++;
  }

  /** Puts a group back as it was before apply() (the push could not be handed on after all). */
  undo(u: Undo): void {
    const g = u.group;
    for (const sf of g.families.values()) this.unindex(g, sf);
    // Filled below in this same step; the checks read it as it fills.
    const families = new Map<string, StoredFamily>();
    g.families = families;
    if (u.created) {
      this.drop(g);
    } else {
      // Pushes to other groups may have been stored meanwhile; a family that no longer fits
      // beside them is not put back (its group's client was told to push again anyway).
      for (const [name, sf] of u.before) {
        try {
          this.check(g, g.labels, [{ sf }], false);
        } catch (e) {
          if (!(e instanceof InconsistentPushError)) throw e;
          this.dropped.push({ group: g, family: sf.family, reason: e.message });
          continue;
        }
        families.set(name, sf);
        this.index(g, sf);
      }
      g.pushTimeMs = u.pushTimeMs;
      g.lastPushSuccessful = u.lastPushSuccessful;
    }
    g.version++;
    this.changes++;
  }

  /** Families undo() could not put back, for the caller to log; emptied by reading. */
  takeDropped(): { group: Group; family: MetricFamily; reason: string }[] {
    return this.dropped.splice(0);
  }

  /** Removes the group with exactly this grouping key; what it held, if it existed. */
  delete(grouping: ReadonlyMap<string, string>): Removed | undefined {
    const g = this.groups.get(canonicalGrouping(grouping).key);
    return g ? this.remove(g) : undefined;
  }

  remove(g: Group): Removed {
    const stored = [...g.families.values()];
    for (const sf of stored) this.unindex(g, sf);
    g.families = new Map();
    g.version++;
    this.drop(g);
    this.changes++;
    // Built only when read (ended series for sinks that want them): a group of 100,000
    // families goes without making 100,000 families of metric objects first.
    let families: MetricFamily[] | undefined;
    return {
      group: g,
      get families() {
        return (families ??= stored.map((sf) => sf.family));
      },
    };
  }

  wipe(): Removed[] {
    return [...this.groups.values()].map((g) => this.remove(g));
  }

  /** Groups whose last successful push (for one never pushed successfully: its failure) is older than cutoffMs. */
  *olderThan(cutoffMs: number): Generator<Group> {
    for (const g of this.groups.values()) if ((g.pushTimeMs || g.failureTimeMs) < cutoffMs) yield g;
  }

  /** Puts back a group as persisted, checked like a push; throws InconsistentPushError if it does not fit. */
  restore(labels: [string, string][], families: SavedFamily[], pushTimeMs: number, failureTimeMs: number, lastPushSuccessful = failureTimeMs <= pushTimeMs): void {
    const grouping = [...labels].sort(sortPairs);
    const key = groupKey(grouping);
    if (this.groups.has(key)) throw new InconsistentPushError(`group ${formatLabels(grouping.flat())} appears twice`);
    const canonical: CanonicalGrouping = { labels: grouping, key, flat: grouping.flat(), names: new Set(grouping.map(([n]) => n)) };
    // A restored group is what was accepted before: the limits of today do not drop it.
    const prepared = families.map((saved) => prepare(pushedFamily(saved.family), canonical, saved.timeMs, 0));
    this.check(undefined, grouping, prepared, true);
    const g = this.create(key, grouping);
    const restored = new Map<string, StoredFamily>();
    for (const { sf } of prepared) {
      if (sf.size === 0) continue;
      restored.set(sf.name, sf);
      this.index(g, sf);
    }
    g.families = restored;
    g.pushTimeMs = pushTimeMs;
    g.failureTimeMs = failureTimeMs;
    g.lastPushSuccessful = lastPushSuccessful;
    g.version++;
  }

  private create(key: string, labels: [string, string][]): Group {
    return this.register(this.newGroup(key, labels));
  }

  /** A group not yet in the store. */
  private newGroup(key: string, labels: [string, string][]): Group {
    return { key, labels, families: new Map(), pushTimeMs: 0, failureTimeMs: 0, lastPushSuccessful: true, version: 0, scrapeState: undefined };
  }

  private register(g: Group): Group {
    const { key, labels } = g;
    this.groups.set(key, g);
    const set = nameSet(labels);
    this.nameSets.set(set, (this.nameSets.get(set) ?? 0) + 1);
    const own = groupGaugeLabels(labels);
    for (const name of OWN_TYPES.keys()) this.ownSeries.set(seriesKey(name, own), g);
    return g;
  }

  private drop(g: Group): void {
    this.groups.delete(g.key);
    const set = nameSet(g.labels);
    const n = this.nameSets.get(set)! - 1;
    if (n > 0) this.nameSets.set(set, n);
    else this.nameSets.delete(set);
    if (this.nameSets.size < 2) this.series = undefined;
    const own = groupGaugeLabels(g.labels);
    for (const name of OWN_TYPES.keys()) this.ownSeries.delete(seriesKey(name, own));
  }

  private index(g: Group, sf: StoredFamily): void {
    const e = this.names.get(sf.name);
    if (e) e.groups++;
    else this.names.set(sf.name, { type: sf.type, groups: 1 });
    this.held += sf.size;
    const series = this.series;
    if (series) for (const k of sf.keys) series.set(k, g);
  }

  private unindex(g: Group, sf: StoredFamily): void {
    const e = this.names.get(sf.name)!;
    if (--e.groups === 0) this.names.delete(sf.name);
    this.held -= sf.size;
    const series = this.series;
    if (series) for (const k of sf.keys) if (series.get(k) === g) series.delete(k);
  }

  /**
   * The series index, when a write to a group keyed by `grouping` could meet one of its series
   * in another group: made the first time groups keyed by two sets of label names would exist.
   */
  private crossGroupIndex(grouping: readonly [string, string][]): Map<string, Group> | undefined {
    const others = this.nameSets.size - (this.nameSets.has(nameSet(grouping)) ? 1 : 0);
    if (others === 0) return undefined;
    if (this.series === undefined) {
      const series = new Map<string, Group>();
      for (const g of this.groups.values()) for (const sf of g.families.values()) for (const k of sf.keys) series.set(k, g);
      this.series = series;
    }
    return this.series;
  }

  /**
   * The metrics of `replaced` families that the group no longer holds, worked out when read
   * (only tests and sinks that end series read it: replacing a group of 100,000 families must
   * not build them all). What replaced each family is taken now, after indexing the new ones.
   */
  private gone(g: Group, replaced: StoredFamily[], reused: ReadonlySet<StoredFamily | undefined>): Removed | undefined {
    // Its successor has every one of its series.
    const pairs = replaced.filter((sf) => !reused.has(sf)).map((sf) => [sf, g.families.get(sf.name)] as const);
    if (pairs.length === 0) return undefined;
    let families: MetricFamily[] | undefined;
    const work = () => {
      const out: MetricFamily[] = [];
      for (const [sf, successor] of pairs) {
        const { family, keys } = sf;
        // A key holds its family's name: only the family of that name can still hold it.
        const held = new Set(successor?.keys);
        const metrics = family.metrics.filter((_, i) => !held.has(keys[i]));
        if (metrics.length > 0) out.push(metrics.length === family.metrics.length ? family : { ...family, metrics });
      }
      return out;
    };
    return {
      group: g,
      get families() {
        return (families ??= work());
      },
    };
  }

  /** The type a name will have once the write is applied, if any family will bear it. */
  private typeAfter(name: string, g: Group | undefined, pushed: ReadonlyMap<string, { type: MetricType }>, replaceAll: boolean): MetricType | undefined {
    const p = pushed.get(name);
    if (p) return p.type;
    const own = OWN_TYPES.get(name);
    if (own) return own;
    const e = this.names.get(name);
    if (!e) return undefined;
    const mine = g?.families.get(name);
    if (mine && replaceAll && e.groups === 1) return undefined;
    return e.type;
  }

  private check(g: Group | undefined, grouping: readonly [string, string][], prepared: readonly Prepared[], replaceAll: boolean): void {
    allSteps(this.checking(g, grouping, prepared, replaceAll));
  }

  /** check() as steps: each yields the work it did. */
  private *checking(g: Group | undefined, grouping: readonly [string, string][], prepared: readonly Prepared[], replaceAll: boolean): Generator<number, void> {
    if (this.o.reject_timestamps && prepared.some((p) => p.sf.hasTimestamps())) {
      throw new InconsistentPushError("pushed metrics must not have timestamps");
    }
    const reserved = this.reservedNames();
    for (const { sf: f } of prepared) {
      // The reference lets a push take these names and then replaces or serves the pushed
      // values in silence; a push that cannot be kept as sent is refused instead.
      if (reserved.has(f.name)) throw new InconsistentPushError(`metric family ${JSON.stringify(f.name)} is one of the agent's own metrics`);
      if (OWN_TYPES.has(f.name)) throw new InconsistentPushError(`metric family ${JSON.stringify(f.name)} is kept by the store itself for every group`);
      if (f.name === AGGREGATED) throw new InconsistentPushError(`metric family ${JSON.stringify(f.name)} is kept by the store itself for aggregated groups`);
    }
    if (!this.o.consistency_check) return;
    let pushedByName: Map<string, StoredFamily> | undefined;
    const pushed = () => {
      if (pushedByName === undefined) {
        pushedByName = new Map();
        for (const p of prepared) if (p.sf.size > 0) pushedByName.set(p.sf.name, p.sf);
      }
      return pushedByName;
    };
    if (!g) {
      // A new group's own gauges carry its grouping labels and instance="": {job="x"} and
      // {job="x",instance=""} would serve the same push_time_seconds series.
      const own = groupGaugeLabels(grouping);
      for (const name of OWN_TYPES.keys()) {
        if (this.ownSeries.has(seriesKey(name, own))) throw new InconsistentPushError(`collected metric ${JSON.stringify(name)} ${formatLabels(own)} was collected before with the same name and label values`);
      }
    }
    const seen = new Set<string>();
    const index = this.crossGroupIndex(grouping);
    for (const { sf, reuse, unique } of prepared) {
      // Same type and series as the family it replaces in this group: consistent already.
      if (reuse) continue;
      const keys = sf.keys;
      const expected = this.otherType(sf.name, g);
      if (sf.size > 0 && expected && expected !== sf.type) throw new InconsistentPushError(`collected metric ${where(sf, 0)} is not a ${expected}`);
      const reservedLabel = sf.type === "SUMMARY" ? "quantile" : sf.type === "HISTOGRAM" || sf.type === "GAUGE_HISTOGRAM" ? "le" : undefined;
      if (reservedLabel) {
        const labels = sf.labels;
        for (let i = 0; i < labels.length; i++) {
          if (hasLabel(labels[i], reservedLabel)) throw new InconsistentPushError(`collected metric ${where(sf, i)} must not have an explicit "${reservedLabel}" label`);
        }
      }
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        const holder = index?.get(k);
        if (holder !== undefined && holder !== g) throw new InconsistentPushError(`collected metric ${where(sf, i)} was collected before with the same name and label values`);
        if (unique) continue;
        if (seen.has(k)) throw new InconsistentPushError(`collected metric ${where(sf, i)} was collected before with the same name and label values`);
        seen.add(k);
      }
      if (sf.size > 0) this.checkSuffixes(sf, g, pushed, replaceAll);
      yield 1 + (unique && !index ? 0 : keys.length / 8);
    }
  }

  /** The type of `name` in groups other than g. */
  private otherType(name: string, g: Group | undefined): MetricType | undefined {
    const e = this.names.get(name);
    if (!e) return undefined;
    const mine = g?.families.has(name) ? 1 : 0;
    return e.groups > mine ? e.type : undefined;
  }

  // The text format spells a summary or histogram x as x_count, x_sum (and x_bucket): no other
  // family may bear those names, in either order of arrival.
  // `pushed` is made only when a name needs it: a push of 100,000 plain gauges never does.
  private checkSuffixes(f: { name: string; type: MetricType }, g: Group | undefined, pushed: () => ReadonlyMap<string, { type: MetricType }>, replaceAll: boolean): void {
    const after = (name: string) => this.typeAfter(name, g, pushed(), replaceAll);
    for (const suffix of ["_count", "_sum", "_bucket"]) {
      if (!f.name.endsWith(suffix)) continue;
      const base = f.name.slice(0, -suffix.length);
      const t = after(base);
      if (t === "SUMMARY" && suffix !== "_bucket") throw new InconsistentPushError(`collected metric named ${JSON.stringify(f.name)} collides with previously collected summary named ${JSON.stringify(base)}`);
      if (t === "HISTOGRAM" || t === "GAUGE_HISTOGRAM") throw new InconsistentPushError(`collected metric named ${JSON.stringify(f.name)} collides with previously collected histogram named ${JSON.stringify(base)}`);
    }
    // The text format writes a gauge histogram as a histogram.
    const histogram = f.type === "HISTOGRAM" || f.type === "GAUGE_HISTOGRAM";
    if (f.type === "SUMMARY" || histogram) {
      for (const suffix of histogram ? ["_count", "_sum", "_bucket"] : ["_count", "_sum"]) {
        if (after(f.name + suffix) !== undefined) {
          const what = suffix === "_bucket" ? "histogram" : "histogram or summary";
          throw new InconsistentPushError(`collected ${what} named ${JSON.stringify(f.name)} collides with previously collected metric named ${JSON.stringify(f.name + suffix)}`);
        }
      }
    }
  }
}

/** A grouping key's label names, as one string. */
function nameSet(labels: readonly [string, string][]): string {
  let s = "";
  for (const [n] of labels) s += n + SEP;
  return s;
}

function where(sf: StoredFamily, i: number): string {
  return `${JSON.stringify(sf.name)} ${formatLabels(sf.labels[i])}`;
}

function hasLabel(labels: readonly string[], name: string): boolean {
  for (let i = 0; i < labels.length; i += 2) if (labels[i] === name) return true;
  return false;
}
