// The delivery stage between inputs and sinks. Every sink gets every point through its own
// queue (in memory, or on disk when durable) and writes it in batches, by points, bytes and
// time, with up to max_in_flight writes at once. A write that fails for a reason that may
// pass (network, timeout, 5xx, 429) is retried with exponential backoff and jitter, honouring
// Retry-After; a batch the backend refuses for what it is goes to the sink's dead-letter file,
// or, when only part of it is refused, that part (split-write.ts).
// A push is taken by every sink or by none: while a sink's queue is full, pushes are refused
// with 503 and nothing of them is kept. No accepted point is dropped: on shutdown what a
// memory queue could not write is logged as lost; a disk queue keeps it for the next start.
// Removal batches (series that ended) take the same path, but only to sinks that accept them.
import type { Logger } from "pino";
import type { PointBatch } from "./batch.ts";
import type { DeadLetters } from "./dead-letter.ts";
import { BackpressureError, HttpError, SinkWriteError } from "./errors.ts";
import { opt } from "./options.ts";
import type { Sink } from "./plugin.ts";
import type { QueueStore, StoredRecord } from "./queue-store.ts";
import type { SelfMetrics } from "./self-metrics.ts";
import { writeParts, type PartsOutcome } from "./split-write.ts";

export interface QueueOptions {
  batch_points: number;
  batch_bytes: number;
  flush_interval: number;
  max_in_flight: number;
  max_queue_points: number;
  max_queue_bytes: number;
  durable: boolean;
  max_disk_bytes: number;
  segment_bytes: number;
  retry_initial: number;
  retry_max: number;
}

const MiB = 1024 * 1024;

/** The delivery options every sink takes; a sink may change their defaults. */
export function deliveryOptions(d: Partial<QueueOptions> = {}) {
  return {
    batch_points: opt.integer({ default: d.batch_points ?? 5000, min: 1, description: "Most points in one write to the sink (a push is never split; a larger one goes alone)." }),
    batch_bytes: opt.bytes({ default: d.batch_bytes ?? 4 * MiB, min: 1, description: "Most line-protocol bytes in one write to the sink (a push is never split)." }),
    flush_interval: opt.duration({ default: d.flush_interval ?? 1000, min: 10, description: "Longest time a point waits for its batch to fill before it is written." }),
    max_in_flight: opt.integer({ default: d.max_in_flight ?? 1, min: 1, max: 64, description: "Writes to the sink at once." }),
    max_queue_points: opt.integer({
      default: d.max_queue_points ?? 500_000,
      min: 1,
      description: "Points a memory queue may hold while the sink catches up; beyond that pushes are refused with 503 (not used when durable).",
    }),
    max_queue_bytes: opt.bytes({
      default: d.max_queue_bytes ?? 256 * MiB,
      min: 1,
      description: "Line-protocol bytes a memory queue may hold; beyond that pushes are refused with 503 (not used when durable).",
    }),
    durable: opt.boolean({
      default: d.durable ?? false,
      description: "Keep accepted points in a disk queue under [agent] data_dir, written and synced before a push is answered, until the sink has written them: they survive a restart or a crash.",
    }),
    max_disk_bytes: opt.bytes({ default: d.max_disk_bytes ?? 1024 * MiB, min: 1, description: "Bytes the disk queue may hold (durable); beyond that pushes are refused with 503." }),
    segment_bytes: opt.bytes({ default: d.segment_bytes ?? 16 * MiB, min: 4096, description: "Size of one disk queue file (durable); a file is deleted once all of it was written to the sink." }),
    retry_initial: opt.duration({ default: d.retry_initial ?? 500, min: 1, description: "Wait before the first retry of a failed write; it doubles per failure in a row, with jitter." }),
    retry_max: opt.duration({ default: d.retry_max ?? 30_000, min: 1, description: "Longest wait between retries (a backend's longer Retry-After is honoured)." }),
  };
}

export const DELIVERY_KEYS: readonly string[] = Object.keys(deliveryOptions());

/** The longest Retry-After honoured, so that a backend's odd answer cannot stall a sink for days. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

export interface SinkQueueParts {
  sink: Sink;
  store: QueueStore;
  deadLetters: DeadLetters;
  metrics?: SelfMetrics;
  log: Logger;
}

export class SinkQueue {
  private readonly sink: Sink;
  private readonly store: QueueStore;
  private readonly deadLetters: DeadLetters;
  private readonly metrics: SelfMetrics | undefined;
  private readonly log: Logger;
  private inFlight = 0;
  private reservedPoints = 0;
  private reservedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerFired = false;
  private flushing = false;
  private pausedUntil = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private failuresInRow = 0;
  private failingSince = 0;
  private closed = false;
  private settled: (() => void)[] = [];
  written = 0;
  failures = 0;
  deadLettered = 0;

  constructor(
    readonly name: string,
    readonly o: QueueOptions,
    parts: SinkQueueParts,
  ) {
    this.sink = parts.sink;
    this.store = parts.store;
    this.deadLetters = parts.deadLetters;
    this.metrics = parts.metrics;
    this.log = parts.log;
  }

  /** Whether removal batches are for this queue's sink. */
  get acceptsRemovals(): boolean {
    return this.sink.acceptsRemovals === true;
  }

  /** Points accepted and not yet written. */
  get depth(): number {
    return this.store.points;
  }

  get queuedBytes(): number {
    return this.store.bytes;
  }

  /** Holds room for a push; false when the queue is full. An empty queue takes any one push. */
  reserve(points: number, bytes: number): boolean {
    const empty = this.store.points === 0 && this.reservedPoints === 0;
    if (!empty && !this.store.hasRoomFor(this.reservedPoints + points, this.reservedBytes + bytes)) return false;
    this.reservedPoints += points;
    this.reservedBytes += bytes;
    return true;
  }

  unreserve(points: number, bytes: number): void {
    this.reservedPoints -= points;
    this.reservedBytes -= bytes;
  }

  fullMessage(): string {
    return `sink "${this.name}" is behind: ${this.store.describeLimit()}; nothing of this push was accepted, retry later`;
  }

  /** Starts writing what the queue already holds (a disk queue's points from an earlier run). */
  resume(): void {
    this.pump();
  }

  /** Keeps a reserved push (on disk: written and synced) and lets the writer know. */
  async enqueue(batch: PointBatch): Promise<void> {
    try {
      await this.store.append(batch);
    } finally {
      this.unreserve(batch.size, batch.byteLength());
    }
    this.pump();
  }

  /** Starts writes while there is room in flight and a batch is due (full, or waited flush_interval). */
  private pump(): void {
    if (this.closed) return;
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) {
      // Backing off after a failure; timers may fire a little early, so this re-arms.
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = undefined;
        this.pump();
      }, wait + 1);
    }
    while (this.inFlight < this.o.max_in_flight && Date.now() >= this.pausedUntil) {
      const idle = this.store.idlePoints;
      if (idle === 0) break;
      if (!this.flushing && !this.timerFired && idle < this.o.batch_points && this.store.bytes < this.o.batch_bytes) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.timerFired = true;
          this.pump();
        }, this.o.flush_interval);
        break;
      }
      const records = this.store.take(this.o.batch_points, this.o.batch_bytes);
      if (records.length === 0) break;
      this.inFlight++;
      void this.send(records);
    }
    if (this.store.idlePoints === 0) this.timerFired = false;
    if (this.store.points === 0 && this.inFlight === 0) for (const done of this.settled.splice(0)) done();
  }

  private async send(records: StoredRecord[]): Promise<void> {
    const points = records.reduce((n, r) => n + r.points, 0);
    const started = performance.now();
    let batch: PointBatch | undefined;
    try {
      batch = await this.store.read(records);
      const refused = await this.write(batch);
      if (refused) await this.setAside(batch, refused);
      this.store.ack(records);
      const sent = points - (refused ? refusedPoints(refused) : 0);
      this.written += sent;
      if (this.failuresInRow > 0) this.recovered();
      this.metrics?.sinkSent.inc({ sink: this.name }, sent);
      this.metrics?.sinkBatchSeconds.observe({ sink: this.name, outcome: sent === points ? "sent" : "failed" }, (performance.now() - started) / 1000);
    } catch (e) {
      this.metrics?.sinkBatchSeconds.observe({ sink: this.name, outcome: "failed" }, (performance.now() - started) / 1000);
      if (!(e instanceof DeadLetterWriteError)) this.metrics?.sinkFailed.inc({ sink: this.name, retry: "true" });
      this.retryLater(records, e instanceof DeadLetterWriteError ? e.refusal : (e as Error), points);
    } finally {
      this.inFlight--;
      this.pump();
    }
  }

  /**
   * Writes the batch; resolves to what the backend refused for good, if anything (see
   * split-write.ts: of a batch refused in part, only the parts refused), and rejects with a
   * failure worth retrying, after which the whole batch is written again.
   */
  private async write(batch: PointBatch): Promise<PartsOutcome | undefined> {
    try {
      await this.sink.write(batch);
      return undefined;
    } catch (e) {
      if (!(e instanceof SinkWriteError) || e.retry) throw e;
      this.metrics?.sinkFailed.inc({ sink: this.name, retry: "false" });
      const outcome = await writeParts((part) => this.sink.write(part), batch, e);
      if (outcome.refused.length > 0) return outcome;
      this.log.info({ points: batch.size, status: e.detail.status, partWrites: outcome.writes }, `backend refused a batch whole (${e.message}) but took all of its parts`);
      return undefined;
    }
  }

  /** Appends the refused parts to the dead-letter file; rejects with DeadLetterWriteError when it cannot. */
  private async setAside(batch: PointBatch, outcome: PartsOutcome): Promise<void> {
    const { refused, writes, exhausted } = outcome;
    const reasons = refused.map(({ batch: part, error: e }) => ({ batch: part, reason: `${e.message}${e.detail.response ? `; answer: ${e.detail.response}` : ""}` }));
    try {
      await this.deadLetters.addAll(reasons);
    } catch (writeError) {
      this.log.error({ err: writeError, file: this.deadLetters.file }, "cannot write the dead-letter file; the refused batch stays queued");
      throw new DeadLetterWriteError(refused[0].error);
    }
    const count = refusedPoints(outcome);
    this.deadLettered += count;
    this.metrics?.sinkDeadLettered.inc({ sink: this.name }, count);
    const first = refused[0].error;
    const about = { status: first.detail.status, answer: first.detail.response?.slice(0, 500), file: this.deadLetters.file };
    if (count === batch.size) {
      this.log.error({ points: count, ...about, ...(writes > 0 ? { partWrites: writes } : {}) }, `backend refused a batch for good (${first.message}); set aside in the dead-letter file`);
    } else {
      this.log.error(
        { points: count, written: batch.size - count, parts: refused.length, partWrites: writes, ...about },
        `backend refused ${count} of the ${batch.size} points of a batch for good (${first.message}); the rest is written, the refused points set aside in the dead-letter file`,
      );
    }
    if (exhausted) {
      this.log.warn({ partWrites: writes, file: this.deadLetters.file }, "the backend refused parts of a batch more often than they are split for; parts set aside unsplit may hold points it stored");
    }
  }

  private recovered(): void {
    this.log.info({ failedWrites: this.failuresInRow, failingForMs: Date.now() - this.failingSince, queued: this.store.points }, "sink writes succeed again");
    this.failuresInRow = 0;
  }

  private retryLater(records: StoredRecord[], e: Error, points: number): void {
    this.store.release(records);
    this.failures++;
    if (this.failuresInRow++ === 0) this.failingSince = Date.now();
    this.metrics?.sinkRetried.inc({ sink: this.name });
    // Exponential backoff with jitter (half fixed, half random), at least the backend's Retry-After.
    const ceiling = Math.min(this.o.retry_max, this.o.retry_initial * 2 ** (this.failuresInRow - 1));
    let delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    const asked = e instanceof SinkWriteError ? e.detail.retryAfterMs : undefined;
    if (asked !== undefined) delay = Math.max(delay, Math.min(asked, MAX_RETRY_AFTER_MS));
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delay);
    // A failure the sink understood (network, timeout, 5xx, 429) is expected: one line, no stack.
    const why = e instanceof SinkWriteError ? { error: e.message, status: e.detail.status } : { err: e };
    this.log.warn({ ...why, points, queued: this.store.points, retryInMs: Math.round(delay), failuresInRow: this.failuresInRow }, "sink write failed; batch kept for retry");
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Writes everything queued, without waiting for flush_interval; retries until the deadline. */
  async flush(deadline: number): Promise<void> {
    this.flushing = true;
    try {
      while ((this.store.points > 0 || this.inFlight > 0) && Date.now() < deadline) {
        const settled = new Promise<void>((resolve) => this.settled.push(resolve));
        this.pump();
        await Promise.race([settled, sleep(Math.min(100, Math.max(0, deadline - Date.now())))]);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Flushes until the deadline, then closes the sink and the queue; returns the points lost (memory queues only). */
  async close(deadline: number): Promise<number> {
    await this.flush(deadline);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const left = this.store.points;
    let lost = 0;
    if (left > 0 && this.o.durable) {
      this.log.warn({ points: left }, "shutdown: points not yet written stay in the disk queue and are delivered after the next start");
    } else if (left > 0) {
      lost = left;
      this.log.error({ points: left }, "shutdown deadline reached: points in the memory queue were not delivered and are lost");
    }
    await this.sink.close();
    await this.store.close();
    return lost;
  }
}

/**
 * A disk queue could not keep the push: the client must push again (sinks that took it may
 * then get it twice, which backends store as one value per series and time).
 */
function cannotQueue(q: SinkQueue, reason: Error): HttpError {
  return new HttpError(503, `sink "${q.name}" cannot queue the push: ${reason.message}; retry later`, { "Retry-After": "5" });
}

function refusedPoints(o: PartsOutcome): number {
  return o.refused.reduce((n, r) => n + r.batch.size, 0);
}

/** The dead-letter file could not take a refused batch: it stays queued, retried like a failure. */
class DeadLetterWriteError extends Error {
  constructor(readonly refusal: SinkWriteError) {
    super(refusal.message);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Fans points out to every sink queue, and removals to those whose sink accepts them; all or nothing. */
export class Delivery {
  constructor(
    readonly queues: SinkQueue[],
    private readonly metrics?: SelfMetrics,
  ) {}

  /** Queues a batch on every sink; rejects with BackpressureError, nothing queued, when one is full. */
  async emit(batch: PointBatch): Promise<void> {
    return this.admit(batch);
  }

  /**
   * emit(), but a full sink throws BackpressureError synchronously, before anything is queued,
   * so that a caller can keep its own state in step with what was taken. The promise rejects
   * when a disk queue could not keep the batch.
   */
  admit(batch: PointBatch): Promise<void> {
    // Sent everywhere, a removal would reach line-protocol sinks as points of value 0.
    if (batch.removal) throw new TypeError("a removal batch goes through emitRemovals, not emit");
    return this.fanOut(batch, this.queues);
  }

  /** Whether any sink accepts removals (when none does, an input need not build them). */
  get removalsWanted(): boolean {
    return this.queues.some((q) => q.acceptsRemovals);
  }

  /** Queues a removal batch for the sinks that accept removals; resolves at once when none does. */
  async emitRemovals(batch: PointBatch): Promise<void> {
    if (!batch.removal) throw new TypeError("emitRemovals takes a removal batch (PointBatch.removals)");
    return this.fanOut(batch, this.queues.filter((q) => q.acceptsRemovals));
  }

  private fanOut(batch: PointBatch, queues: readonly SinkQueue[]): Promise<void> {
    if (batch.size === 0 || queues.length === 0) return Promise.resolve();
    const bytes = batch.byteLength();
    const held: SinkQueue[] = [];
    for (const q of queues) {
      if (q.reserve(batch.size, bytes)) {
        held.push(q);
        continue;
      }
      for (const h of held) h.unreserve(batch.size, bytes);
      this.metrics?.sinkRefused.inc({ sink: q.name });
      throw new BackpressureError(q.fullMessage(), 5);
    }
    return this.settle(batch, queues);
  }

  private settle(batch: PointBatch, queues: readonly SinkQueue[]): Promise<void> {
    // One sink, the usual case: no need to wait for the others.
    if (queues.length === 1) return queues[0].enqueue(batch).catch((e: Error) => Promise.reject(cannotQueue(queues[0], e)));
    return this.settleAll(batch, queues);
  }

  private async settleAll(batch: PointBatch, queues: readonly SinkQueue[]): Promise<void> {
    const results = await Promise.allSettled(queues.map((q) => q.enqueue(batch)));
    const failed = results.findIndex((r) => r.status === "rejected");
    if (failed >= 0) throw cannotQueue(queues[failed], (results[failed] as PromiseRejectedResult).reason as Error);
  }

  /** Writes what every queue holds, without waiting for flush_interval, until the deadline. */
  async flush(deadline: number): Promise<void> {
    await Promise.all(this.queues.map((q) => q.flush(deadline)));
  }

  /** Closes every queue; resolves to the number of points lost (not delivered, not on disk). */
  async close(deadline: number): Promise<number> {
    const lost = await Promise.all(this.queues.map((q) => q.close(deadline)));
    return lost.reduce((a, b) => a + b, 0);
  }
}
