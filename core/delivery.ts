// The delivery stage between inputs and sinks: every sink gets every point through its own
// bounded queue, written in batches by size or by time, one batch in flight at a time.
// A batch that fails is kept and retried with backoff; while a queue is full new points are
// refused (back-pressure) instead of dropping accepted ones.
import type { Logger } from "pino";
import { BackpressureError } from "./errors.ts";
import { opt } from "./options.ts";
import type { Sink } from "./plugin.ts";
import { PointBatch } from "./batch.ts";

export interface QueueOptions {
  batch_points: number;
  flush_interval: number;
  max_queue_points: number;
}

/** The delivery options every sink takes; a sink may change their defaults. */
export function deliveryOptions(defaults: Partial<QueueOptions> = {}) {
  return {
    batch_points: opt.integer({ default: defaults.batch_points ?? 5000, min: 1, description: "Largest batch handed to the sink, in points." }),
    flush_interval: opt.duration({ default: defaults.flush_interval ?? 1000, min: 10, description: "Longest time a point waits before its batch is written." }),
    max_queue_points: opt.integer({
      default: defaults.max_queue_points ?? 500_000,
      min: 1,
      description: "Points this sink may hold while it catches up; beyond that pushes are refused with 503.",
    }),
  };
}

export const DELIVERY_KEYS: readonly string[] = Object.keys(deliveryOptions());

const MAX_BACKOFF_MS = 30_000;

export class SinkQueue {
  private pending: PointBatch[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private backoff = 0;
  private closed = false;
  written = 0;
  failures = 0;

  constructor(
    readonly name: string,
    private readonly sink: Sink,
    private readonly opts: QueueOptions,
    private readonly log: Logger,
  ) {}

  get depth(): number {
    return this.queued;
  }

  hasRoomFor(n: number): boolean {
    // An empty queue takes any single push, so one large push can never be refused forever.
    return this.queued === 0 || this.queued + n <= this.opts.max_queue_points;
  }

  enqueue(batch: PointBatch): void {
    if (batch.size === 0) return;
    this.pending.push(batch);
    this.queued += batch.size;
    // While a write is running or a retry is scheduled, that drain picks these up.
    if (this.writing || this.backoff > 0) return;
    if (this.queued >= this.opts.batch_points) this.kick(0);
    else if (!this.timer) this.kick(this.opts.flush_interval);
  }

  private kick(delay: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, delay);
    this.timer.unref?.();
  }

  /** Whole batches up to batch_points (one push is never split; a larger one goes alone). */
  private takeBatch(): PointBatch {
    // One splice, not a shift per batch: thousands of one-point pushes may be waiting.
    const pending = this.pending;
    let n = 1;
    let size = pending[0].size;
    while (n < pending.length && size + pending[n].size <= this.opts.batch_points) size += pending[n++].size;
    return PointBatch.concat(pending.splice(0, n));
  }

  /** Writes batches until the queue is empty or a write fails. */
  private drain(): Promise<void> {
    if (this.writing) return this.writing;
    this.writing = (async () => {
      while (this.pending.length > 0) {
        const batch = this.takeBatch();
        try {
          await this.sink.write(batch);
          this.queued -= batch.size;
          this.written += batch.size;
          this.backoff = 0;
        } catch (e) {
          this.pending.unshift(batch);
          this.failures++;
          this.backoff = Math.min(MAX_BACKOFF_MS, this.backoff ? this.backoff * 2 : 500);
          this.log.error({ sink: this.name, err: e, points: batch.size, queued: this.queued, retryInMs: this.backoff }, "sink write failed; batch kept for retry");
          if (!this.closed) this.kick(this.backoff);
          return;
        }
      }
    })().finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  /** Writes everything queued; retries failed batches until the deadline. */
  async flush(deadline: number): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queued > 0 && Date.now() < deadline) {
      await this.drain();
      if (this.queued > 0) await sleep(Math.min(this.backoff || 100, Math.max(0, deadline - Date.now())));
    }
  }

  async close(deadline: number): Promise<void> {
    await this.flush(deadline);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.queued > 0) this.log.error({ sink: this.name, points: this.queued }, "shutdown deadline reached: points not delivered");
    await this.sink.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Fans points out to every sink queue; all or nothing. */
export class Delivery {
  constructor(readonly queues: SinkQueue[]) {}

  emit(batch: PointBatch): void {
    for (const q of this.queues) {
      if (!q.hasRoomFor(batch.size)) {
        throw new BackpressureError(
          `sink "${q.name}" is behind: ${q.depth} points queued (max_queue_points); nothing of this push was accepted, retry later`,
          5,
        );
      }
    }
    for (const q of this.queues) q.enqueue(batch);
  }

  async close(deadline: number): Promise<void> {
    await Promise.all(this.queues.map((q) => q.close(deadline)));
  }
}
