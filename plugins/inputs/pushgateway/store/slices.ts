// Long work on the main thread in slices: a scrape of a large store runs for a few milliseconds,
// lets the event loop serve what waits (a health probe, a push), and goes on; and stops for good
// when its client went away.
import { setImmediate as nextTurn } from "node:timers/promises";

/** The work was stopped (its client went away). */
export class SliceAborted extends Error {
  constructor() {
    super("stopped: the client went away");
    this.name = "SliceAborted";
  }
}

/** Milliseconds of work between two turns of the event loop. */
export const SLICE_MS = 10;
const WORK_PER_CLOCK = 32;

/**
 * Slicers sharing the event loop (see share()): the slices of all of them run in one turn of
 * the loop, so each takes its share of SLICE_MS, and a turn stays about SLICE_MS long however
 * many answers are being written.
 */
let sharing = 0;

export class Slicer {
  private start = performance.now();
  private work = 0;
  private over = false;
  private shared = false;

  constructor(
    private readonly signal?: AbortSignal,
    private readonly budgetMs = SLICE_MS,
  ) {}

  /** Counts this slicer among those sharing the event loop until its signal aborts (when its answer ends, however it ends). */
  share(): this {
    if (!this.signal || this.signal.aborted || this.shared) return this;
    this.shared = true;
    sharing++;
    this.signal.addEventListener("abort", () => sharing--, { once: true });
    return this;
  }

  private get budget(): number {
    return this.shared ? Math.max(1, this.budgetMs / sharing) : this.budgetMs;
  }

  /**
   * Whether this slice has used its time (until the next pause). `work` is what was done since
   * the last call, in metrics written or compared (about a microsecond each): the clock is read
   * after every WORK_PER_CLOCK of them, so that a loop of small steps does not pay for it.
   */
  due(work = 1): boolean {
    if (this.over) return true;
    this.work += work;
    if (this.work < WORK_PER_CLOCK) return false;
    this.work = 0;
    this.over = performance.now() - this.start >= this.budget;
    return this.over;
  }

  /** Lets the event loop turn, then starts a new slice; throws SliceAborted when the work is to stop. */
  async pause(): Promise<void> {
    await nextTurn();
    if (this.signal?.aborted) throw new SliceAborted();
    this.start = performance.now();
    this.work = 0;
    this.over = false;
  }
}

/** Entries this long are sorted in one go (Array.prototype.sort): a few milliseconds at most. */
const BLOCK = 2048;

/**
 * The numbers 0..n-1 sorted by `cmp`, stable, in slices: blocks of BLOCK sorted at once, then
 * merged pairwise. Input already sorted (pushes usually are, or nearly) costs one pass per merge
 * level and no moves within a block.
 */
export async function sortInSlices(n: number, cmp: (a: number, b: number) => number, slicer: Slicer): Promise<Int32Array> {
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = i;
  for (let start = 0; start < n; start += BLOCK) {
    const block = ids.subarray(start, Math.min(n, start + BLOCK));
    if (!sorted(block, cmp)) {
      // A plain array: TypedArray.prototype.sort is not guaranteed stable with a comparator in every engine version.
      const a = Array.from(block).sort(cmp);
      block.set(a);
    }
    if (slicer.due(block.length)) await slicer.pause();
  }
  let from: Int32Array = ids;
  let to: Int32Array = new Int32Array(n);
  for (let width = BLOCK; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(n, lo + width);
      const hi = Math.min(n, lo + 2 * width);
      let i = lo;
      let j = mid;
      let k = lo;
      // Runs already in order (the usual case for one group's metrics) are copied whole.
      if (mid < hi && cmp(from[mid - 1], from[mid]) <= 0) {
        to.set(from.subarray(lo, hi), lo);
        if (slicer.due((hi - lo) / 64)) await slicer.pause();
        continue;
      }
      while (i < mid && j < hi) {
        to[k++] = cmp(from[j], from[i]) < 0 ? from[j++] : from[i++];
        if (slicer.due()) await slicer.pause();
      }
      while (i < mid) to[k++] = from[i++];
      while (j < hi) to[k++] = from[j++];
    }
    [from, to] = [to, from];
  }
  return from;
}

function sorted(a: Int32Array, cmp: (a: number, b: number) => number): boolean {
  for (let i = 1; i < a.length; i++) if (cmp(a[i - 1], a[i]) > 0) return false;
  return true;
}
