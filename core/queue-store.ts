// Where a sink's accepted points wait until the sink has written them: in memory, or on disk
// (disk-queue.ts). A store hands out its oldest waiting records, remembers which are being
// written, and forgets a record only when it is acknowledged.
import { PointBatch } from "./batch.ts";

export interface StoredRecord {
  points: number;
  /** Bytes of line protocol. */
  bytes: number;
  /** A removal batch (PointBatch.removal). */
  removal: boolean;
}

export interface QueueStore<R extends StoredRecord = StoredRecord> {
  /** Whether the store has room for this many more points and bytes. */
  hasRoomFor(points: number, bytes: number): boolean;
  /** What makes the store full, for the 503's message. */
  describeLimit(): string;
  /** Keeps a batch; resolves once it is kept (on disk: written and synced). */
  append(batch: PointBatch): Promise<void>;
  /** Points and bytes waiting, being written included. */
  readonly points: number;
  readonly bytes: number;
  /** Points waiting and not being written. */
  readonly idlePoints: number;
  /** The oldest waiting records not being written, up to the limits (at least one), now marked as being written. */
  take(maxPoints: number, maxBytes: number): R[];
  /** The records as one batch. */
  read(records: R[]): Promise<PointBatch>;
  /** Written: forget them. */
  ack(records: R[]): void;
  /** Not written: they wait again, first in line. */
  release(records: R[]): void;
  close(): Promise<void>;
}

/**
 * Takes waiting records in order up to the limits; `busy` marks those being written. Only
 * records of the kind at the head of the queue are taken, up to the first of the other kind,
 * busy records included: a removal then reaches the sink after every batch queued before it
 * was written and before any queued after it, even with several writes in flight.
 */
export function takeRecords<R extends StoredRecord>(records: readonly R[], busy: Set<R>, maxPoints: number, maxBytes: number): R[] {
  const out: R[] = [];
  let points = 0;
  let bytes = 0;
  for (const r of records) {
    if (r.removal !== records[0].removal) break;
    if (busy.has(r)) continue;
    if (out.length > 0 && (points + r.points > maxPoints || bytes + r.bytes > maxBytes)) break;
    out.push(r);
    busy.add(r);
    points += r.points;
    bytes += r.bytes;
  }
  return out;
}

interface MemoryRecord extends StoredRecord {
  batch: PointBatch;
}

export class MemoryStore implements QueueStore<MemoryRecord> {
  private records: MemoryRecord[] = [];
  private readonly busy = new Set<MemoryRecord>();
  points = 0;
  bytes = 0;
  private busyPoints = 0;

  constructor(
    private readonly maxPoints: number,
    private readonly maxBytes: number,
  ) {}

  hasRoomFor(points: number, bytes: number): boolean {
    return this.points + points <= this.maxPoints && this.bytes + bytes <= this.maxBytes;
  }

  describeLimit(): string {
    return `${this.points} points, ${this.bytes} bytes queued in memory (max_queue_points ${this.maxPoints}, max_queue_bytes ${this.maxBytes})`;
  }

  get idlePoints(): number {
    return this.points - this.busyPoints;
  }

  async append(batch: PointBatch): Promise<void> {
    this.records.push({ batch, points: batch.size, bytes: batch.byteLength(), removal: batch.removal });
    this.points += batch.size;
    this.bytes += batch.byteLength();
  }

  take(maxPoints: number, maxBytes: number): MemoryRecord[] {
    const taken = takeRecords(this.records, this.busy, maxPoints, maxBytes);
    for (const r of taken) this.busyPoints += r.points;
    return taken;
  }

  async read(records: MemoryRecord[]): Promise<PointBatch> {
    return PointBatch.concat(records.map((r) => r.batch));
  }

  ack(records: MemoryRecord[]): void {
    const done = new Set(records);
    this.records = this.records.filter((r) => !done.has(r));
    for (const r of records) {
      this.busy.delete(r);
      this.busyPoints -= r.points;
      this.points -= r.points;
      this.bytes -= r.bytes;
    }
  }

  release(records: MemoryRecord[]): void {
    for (const r of records) {
      this.busy.delete(r);
      this.busyPoints -= r.points;
    }
  }

  async close(): Promise<void> {}
}
