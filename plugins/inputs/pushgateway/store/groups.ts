// Between the routes and the group store: orders the writes to each group as they arrived,
// applies a push to the store and hands its points on as one step (a push the sinks cannot
// take is taken back out of the store), turns what a change removed into ended series for
// the sinks that want them, and expires groups not pushed for group_ttl.
import type { Logger } from "pino";
import { PointBatch } from "../../../../core/batch.ts";
import type { InputContext } from "../../../../core/plugin.ts";
import { nowNs, type Point } from "../../../../core/point.ts";
import type { Converter } from "../../../formats/prometheus/convert.ts";
import type { MetricFamily } from "../../../formats/prometheus/model.ts";
import type { PushedFamily } from "./pushed-family.ts";
import { canonicalGrouping, type Applied, type GroupStore, type Removed, type Replaced, type Write } from "./store.ts";
import { Slicer } from "./slices.ts";
import { MergeError, mergePush } from "../aggregate/merge.ts";
import type { AggregateRule } from "../aggregate/rules.ts";

/** A series as the sinks see it: measurement, tags and one field. */
function seriesId(p: Point, field: string): string {
  return JSON.stringify([p.measurement, p.tags, field]);
}

function seriesIds(p: Point): string[] {
  return Object.keys(p.fields).map((f) => seriesId(p, f));
}

/** A place in line for a write to one group. */
export interface Turn {
  /** Whether a turn taken earlier is still running: only then need `ready` be awaited. */
  readonly waits: boolean;
  /** Resolves when every turn taken before this one is done. */
  readonly ready: Promise<void>;
  /** Ends this turn (also when it never ran: a request that failed before its turn came). */
  done(): void;
}

const NOW = Promise.resolve();

/** Pushes of this many families or more are applied in slices. */
const SLICED_WRITE_FAMILIES = 4096;

/**
 * Runs tasks one after another per key, in the order they were queued. A key nobody waits
 * for costs one map entry and no promise: most pushes find their group's line empty.
 */
class KeyedSequencer {
  /** Per key, the turns queued behind the running one. */
  private readonly lines = new Map<string, Waiting[]>();

  turn(key: string): Turn {
    const line = this.lines.get(key);
    if (!line) {
      this.lines.set(key, []);
      return { waits: false, ready: NOW, done: () => this.next(key) };
    }
    const me: Waiting = { wake: () => {}, running: false, finished: false };
    const ready = new Promise<void>((r) => (me.wake = r));
    line.push(me);
    return {
      waits: true,
      ready,
      done: () => {
        // Done before its turn came (its request failed early): skipped when the turn comes.
        if (me.running) this.next(key);
        else me.finished = true;
      },
    };
  }

  private next(key: string): void {
    const line = this.lines.get(key)!;
    for (let t = line.shift(); t; t = line.shift()) {
      if (t.finished) continue;
      t.running = true;
      t.wake();
      return;
    }
    this.lines.delete(key);
  }
}

interface Waiting {
  wake: () => void;
  running: boolean;
  finished: boolean;
}

export interface GroupsHooks {
  /** Called after every change (persistence writes on its interval when there were any). */
  changed?(): void;
  expired?(count: number): void;
}

export class Groups {
  private readonly order = new KeyedSequencer();
  /** Per aggregated group key, the time its last merge was stamped with (kept after a delete: a group made again goes on forward). */
  private readonly lastMergeNs = new Map<string, bigint>();
  private ttlTimer: NodeJS.Timeout | undefined;
  /** Set while a large push is applied in slices: no other change of the store may come between them. */
  private slicedWrite: Promise<unknown> | undefined;

  constructor(
    readonly store: GroupStore,
    private readonly input: Pick<InputContext, "emit" | "retract" | "removalsWanted">,
    private readonly converter: Converter,
    private readonly log: Logger,
    private readonly hooks: GroupsHooks = {},
  ) {}

  /** A place in line for a write to this group: take it when the request arrives. */
  turn(grouping: ReadonlyMap<string, string>): Turn {
    return this.order.turn(canonicalGrouping(grouping).key);
  }

  /**
   * Stores a parsed push and hands its points on, all or nothing: a refused push (store check,
   * or sinks that cannot take it) leaves the store as it was. `receivedNs` is the push's receive
   * time, the time of its points: series it ends are marked stale at that time, not later, or a
   * next push already received would come after the marker and a backend that takes samples in
   * time order (Prometheus) would refuse it.
   */
  async push(replaceAll: boolean, grouping: ReadonlyMap<string, string>, families: readonly (MetricFamily | PushedFamily)[], batch: PointBatch, receivedNs: bigint = nowNs()): Promise<void> {
    const { undo, replaced } = await this.whenSettled(() => this.apply({ replaceAll, grouping, families, timeMs: Date.now() }));
    let handedOn: Promise<void>;
    try {
      handedOn = this.input.emit(batch);
    } catch (e) {
      this.store.undo(undo);
      throw e;
    }
    try {
      await handedOn;
    } catch (e) {
      await this.whenSettled(() => this.store.undo(undo));
      for (const d of this.store.takeDropped()) {
        this.log.warn({ group: Object.fromEntries(d.group.labels), family: d.family.name, reason: d.reason }, "a refused push could not be taken back whole: the family it replaced no longer fits beside pushes stored meanwhile and is gone");
      }
      throw e;
    }
    this.hooks.changed?.();
    if (replaced) this.retractReplaced(replaced, receivedNs);
  }

  /**
   * Makes a change of the store (`change` must not await) once no push is being applied in
   * slices: at once when none is, which is nearly always.
   */
  async whenSettled<T>(change: () => T): Promise<Awaited<T>> {
    // Asked again after each wait: another push may have started a sliced write meanwhile.
    for (let busy = this.settled(); busy; busy = this.settled()) await busy;
    return await change();
  }

  /** Undefined when no push is being applied in slices; else a promise to await before asking again. */
  settled(): Promise<void> | undefined {
    if (this.slicedWrite === undefined) return undefined;
    return (async () => {
      while (this.slicedWrite) await this.slicedWrite;
    })();
  }

  /**
   * Applies a write to the store, a large one in slices (a push of 100,000 families takes
   * hundreds of milliseconds: in one go, it would hold every other request that long).
   */
  private apply(w: Write): Applied | Promise<Applied> {
    if (w.families.length < SLICED_WRITE_FAMILIES) return this.store.apply(w);
    const run = this.store.applyInSlices(w, new Slicer());
    const done = run.then(
      () => (this.slicedWrite = undefined),
      () => (this.slicedWrite = undefined),
    );
    this.slicedWrite = done;
    return run;
  }

  /**
   * Adds a push into its aggregated group (see aggregate/merge.ts) and hands the group's
   * resulting values of the families it touched to the sinks: one monotonic series per
   * aggregated counter. All or nothing, as push(). Throws MergeError when it cannot be added.
   */
  async merge(rule: AggregateRule, grouping: ReadonlyMap<string, string>, pushed: readonly MetricFamily[]): Promise<number> {
    const canonical = canonicalGrouping(grouping);
    // The merged values are stamped when merged, never earlier than the group's last merge and
    // a millisecond after it at least (remote write carries ms): a push that waited its turn
    // must not go back in time, nor two merges share a timestamp with different values.
    const { receivedNs, merged } = await this.whenSettled(() => {
      const last = this.lastMergeNs.get(canonical.key) ?? 0n;
      let at = nowNs();
      if (at <= last) at = last + 1_000_000n;
      try {
        return { receivedNs: at, merged: mergePush(this.store.get(canonical.key)?.families, pushed, rule, canonical) };
      } catch (e) {
        if (e instanceof MergeError) this.store.refused(canonical.key, Date.now());
        throw e;
      }
    });
    const { chunks, lines } = this.converter.lineProtocol(merged, grouping, receivedNs);
    const batch = PointBatch.fromLineProtocol(chunks, lines);
    await this.push(false, grouping, merged, batch, receivedNs);
    this.lastMergeNs.set(canonical.key, receivedNs);
    return batch.size;
  }

  /** Call through whenSettled(). */
  delete(grouping: ReadonlyMap<string, string>): void {
    this.assertSettled();
    const removed = this.store.delete(grouping);
    if (!removed) return;
    this.hooks.changed?.();
    this.retract([removed]);
  }

  /** Call through whenSettled(). */
  wipe(): number {
    this.assertSettled();
    const removed = this.store.wipe();
    if (removed.length > 0) this.hooks.changed?.();
    this.retract(removed);
    return removed.length;
  }

  /** Removes groups whose last successful push is older than ttlMs; returns how many. */
  expire(ttlMs: number, nowMs = Date.now()): number {
    // The next sweep takes them.
    if (this.slicedWrite) return 0;
    const old = [...this.store.olderThan(nowMs - ttlMs)];
    const removed = old.map((g) => this.store.remove(g));
    if (removed.length === 0) return 0;
    this.log.info({ groups: removed.length, ttlMs }, "groups not pushed for group_ttl removed");
    this.hooks.changed?.();
    this.hooks.expired?.(removed.length);
    this.retract(removed);
    return removed.length;
  }

  private assertSettled(): void {
    if (this.slicedWrite) throw new Error("the store is changed while a push is applied in slices: await settled() first (see whenSettled())");
  }

  startExpiry(ttlMs: number): void {
    if (ttlMs <= 0) return;
    // Sweeps a few times per TTL, at most once a second and at least once a minute.
    const every = Math.min(60_000, Math.max(1_000, Math.floor(ttlMs / 4)));
    this.ttlTimer = setInterval(() => this.expire(ttlMs), every);
    this.ttlTimer.unref();
  }

  stopExpiry(): void {
    if (this.ttlTimer) clearInterval(this.ttlTimer);
    this.ttlTimer = undefined;
  }

  /**
   * Ends the series of replaced families that the group no longer serves, compared as the
   * sinks see series (measurement, tags, field): a bucket or quantile that went, or a summary
   * that became a gauge, ends too, though its metric stays.
   */
  private retractReplaced(r: Replaced, at: bigint): void {
    if (!this.input.removalsWanted()) return;
    const grouping = new Map(r.group.labels);
    const now = r.families.map((f) => r.group.families.get(f.name)?.family).filter((f): f is MetricFamily => f !== undefined);
    const serving = new Set(this.converter.convert(now, grouping, at).flatMap(seriesIds));
    const ended: Point[] = [];
    for (const p of this.converter.convert(r.families.map((sf) => sf.family), grouping, at)) {
      const gone = Object.keys(p.fields).filter((f) => !serving.has(seriesId(p, f)));
      if (gone.length === 0) continue;
      ended.push({ ...p, time: at, fields: Object.fromEntries(gone.map((f) => [f, 0])) });
    }
    this.send(ended);
  }

  /**
   * Ends the removed series at the sinks that understand removals (Prometheus remote write
   * marks them stale). Best effort: a sink too full to take them is logged, and the series
   * then fade out by the backend's own staleness rules.
   */
  private retract(removed: readonly Removed[]): void {
    if (removed.length === 0 || !this.input.removalsWanted()) return;
    const at = nowNs();
    const points: Point[] = [];
    for (const r of removed) {
      const grouping = new Map(r.group.labels);
      for (const p of this.converter.convert(r.families, grouping, at)) points.push({ ...p, time: at });
    }
    this.send(points);
  }

  private send(points: Point[]): void {
    if (points.length === 0) return;
    this.input.retract(PointBatch.removals(points)).catch((e: Error) => {
      this.log.warn({ err: e, series: points.length }, "ended series could not be handed to the sinks; they go stale by the backend's own rules");
    });
  }
}
