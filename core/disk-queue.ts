// A sink's durable queue: accepted batches as checksummed records in segment files under the
// sink's queue directory, written and synced before the push is answered, deleted once the
// sink has written every record of a segment.
//
// Record: u32 LE payload length, u32 LE CRC-32C of the payload, payload = u32 LE point count +
// the batch's line protocol. The count's top bit marks a removal batch (PointBatch.removal):
// records written before removals existed have it clear and read back as ordinary batches
// (no batch comes near 2^31 points). A file "cursor" holds the segment and offset before
// which every record was acknowledged. Records acknowledged out of order beyond it are sent
// again after a restart: delivery is at least once (backends keep one value per series and
// timestamp).
//
// At start the segments after the cursor are read back; a record whose length or checksum is
// wrong ends its segment: the rest of that file is set aside as "<segment>.corrupt-<time>",
// with an error log, and the records before it are kept.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, truncateSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { PointBatch } from "./batch.ts";
import { crc32c } from "./crc32c.ts";
import { takeRecords, type QueueStore, type StoredRecord } from "./queue-store.ts";

const HEADER = 8;
const COUNT = 4;
const REMOVAL_BIT = 0x8000_0000;
/** Appended batches stay in memory too, up to this, so that sending them costs no read. */
const CACHE_BYTES = 64 * 1024 * 1024;

interface DiskRecord extends StoredRecord {
  segment: number;
  /** Offset of the record's header in its segment. */
  offset: number;
  batch: PointBatch | undefined;
  acked: boolean;
}

interface Waiting {
  batch: PointBatch;
  resolve(): void;
  reject(e: Error): void;
}

export interface DiskQueueOptions {
  /** A segment is closed and a new one started once it holds this many bytes. */
  segmentBytes: number;
  /** Bytes of segment files the queue may hold; beyond that it is full. */
  maxBytes: number;
}

function segmentName(n: number): string {
  return `${String(n).padStart(12, "0")}.seg`;
}

export class DiskQueue implements QueueStore<DiskRecord> {
  private records: DiskRecord[] = [];
  private readonly busy = new Set<DiskRecord>();
  points = 0;
  bytes = 0;
  private busyPoints = 0;
  private cached = 0;
  /** Bytes of every segment file, acknowledged parts included: what the disk holds. */
  diskBytes = 0;
  private readonly segmentSizes = new Map<number, number>();
  private active: { n: number; handle: FileHandle; size: number } | undefined;
  private nextSegment: number;
  private waiting: Waiting[] = [];
  private writing: Promise<void> | undefined;
  private readonly readers = new Map<number, FileHandle>();
  private cursor: { segment: number; offset: number };
  private cursorDirty = false;
  private cursorTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly dir: string,
    private readonly o: DiskQueueOptions,
    private readonly log: Logger,
  ) {
    this.cursor = { segment: 0, offset: 0 };
    this.nextSegment = 1;
  }

  /** Opens (creating) the queue in `dir` and reads back what an earlier run left in it. */
  static open(dir: string, o: DiskQueueOptions, log: Logger): DiskQueue {
    mkdirSync(dir, { recursive: true });
    const q = new DiskQueue(dir, o, log);
    q.recover();
    return q;
  }

  private recover(): void {
    const segments = readdirSync(this.dir)
      .filter((f) => /^\d{12}\.seg$/.test(f))
      .map((f) => Number(f.slice(0, 12)))
      .sort((a, b) => a - b);
    try {
      const [seg, off] = readFileSync(path.join(this.dir, "cursor"), "utf8").trim().split(" ").map(Number);
      if (Number.isInteger(seg) && Number.isInteger(off)) this.cursor = { segment: seg, offset: off };
    } catch {
      // No cursor yet: nothing was acknowledged.
    }
    let recovered = 0;
    for (const n of segments) {
      const file = path.join(this.dir, segmentName(n));
      if (n < this.cursor.segment) {
        unlinkSync(file);
        continue;
      }
      const data = readFileSync(file);
      let at = n === this.cursor.segment ? Math.min(this.cursor.offset, data.length) : 0;
      let bad: string | undefined;
      while (at < data.length) {
        if (data.length - at < HEADER + COUNT) {
          bad = "a truncated record header";
          break;
        }
        const len = data.readUInt32LE(at);
        if (len < COUNT || at + HEADER + len > data.length) {
          bad = `a record of ${len} bytes that runs past the end of the file`;
          break;
        }
        const payload = data.subarray(at + HEADER, at + HEADER + len);
        if (crc32c(payload) !== data.readUInt32LE(at + 4)) {
          bad = "a record whose checksum does not match";
          break;
        }
        const count = payload.readUInt32LE(0);
        const removal = count >= REMOVAL_BIT;
        const points = removal ? count - REMOVAL_BIT : count;
        this.records.push({ segment: n, offset: at, points, bytes: len - COUNT, removal, batch: undefined, acked: false });
        this.points += points;
        this.bytes += len - COUNT;
        recovered += points;
        at += HEADER + len;
      }
      if (bad !== undefined) {
        const aside = `${file}.corrupt-${Date.now()}`;
        writeFileSync(aside, data.subarray(at));
        truncateSync(file, at);
        this.log.error({ segment: file, offset: at, setAside: aside, bytes: data.length - at }, `queue segment holds ${bad}; the records before it are kept, the rest is set aside`);
      }
      const size = bad === undefined ? data.length : at;
      this.segmentSizes.set(n, size);
      this.diskBytes += size;
      this.nextSegment = n + 1;
    }
    if (recovered > 0) this.log.info({ dir: this.dir, points: recovered, records: this.records.length }, "queued points from an earlier run will be delivered");
  }

  hasRoomFor(_points: number, bytes: number): boolean {
    return this.diskBytes + bytes + HEADER + COUNT <= this.o.maxBytes;
  }

  describeLimit(): string {
    return `its disk queue holds ${this.diskBytes} bytes (max_disk_bytes ${this.o.maxBytes})`;
  }

  get idlePoints(): number {
    return this.points - this.busyPoints;
  }

  append(batch: PointBatch): Promise<void> {
    // The count's top bit is the kind; no real push comes near this.
    if (batch.size >= REMOVAL_BIT) return Promise.reject(new RangeError(`a batch of ${batch.size} points is too large for the disk queue`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ batch, resolve, reject });
      this.startWriter();
    });
  }

  private startWriter(): void {
    this.writing ??= this.writeWaiting().finally(() => {
      this.writing = undefined;
      // A caller resumed by the last group's resolve may have appended before this ran: the
      // writer had already looked at `waiting` for the last time, so nobody would write it.
      if (this.waiting.length > 0) this.startWriter();
    });
  }

  /** Group commit: every batch waiting is written with one writev per segment and one sync. */
  private async writeWaiting(): Promise<void> {
    while (this.waiting.length > 0) {
      const group = this.waiting.splice(0);
      try {
        const added: DiskRecord[] = [];
        let buffers: Buffer[] = [];
        for (const w of group) {
          const chunks = w.batch.lineProtocol();
          const bytes = w.batch.byteLength();
          if (!this.active || (this.active.size > 0 && this.active.size + HEADER + COUNT + bytes > this.o.segmentBytes)) {
            if (this.active) await this.flushTo(this.active, buffers);
            buffers = [];
            await this.rotate();
          }
          const active = this.active!;
          const head = Buffer.allocUnsafe(HEADER + COUNT);
          head.writeUInt32LE(COUNT + bytes, 0);
          head.writeUInt32LE(w.batch.removal ? REMOVAL_BIT + w.batch.size : w.batch.size, HEADER);
          let crc = crc32c(head.subarray(HEADER));
          for (const c of chunks) crc = crc32c(c, crc);
          head.writeUInt32LE(crc, 4);
          buffers.push(head, ...chunks);
          const keep = this.cached + bytes <= CACHE_BYTES;
          if (keep) this.cached += bytes;
          added.push({ segment: active.n, offset: active.size, points: w.batch.size, bytes, removal: w.batch.removal, batch: keep ? w.batch : undefined, acked: false });
          active.size += HEADER + COUNT + bytes;
        }
        await this.flushTo(this.active!, buffers);
        await this.active!.handle.datasync();
        for (const r of added) {
          this.records.push(r);
          this.points += r.points;
          this.bytes += r.bytes;
        }
        for (const w of group) w.resolve();
      } catch (e) {
        for (const w of group) w.reject(e as Error);
        // Part of the group may be in the file: later records go to a fresh segment, so that
        // a torn record can only be the last of its file.
        const broken = this.active;
        this.active = undefined;
        await broken?.handle.close().catch(() => undefined);
        this.log.error({ err: e, dir: this.dir }, "cannot write to the disk queue");
      }
    }
  }

  private async flushTo(segment: { n: number; handle: FileHandle }, buffers: Buffer[]): Promise<void> {
    // Stay below the system's limit of buffers per writev (IOV_MAX, 1024).
    for (let i = 0; i < buffers.length; i += 512) await segment.handle.writev(buffers.slice(i, i + 512));
    const size = buffers.reduce((n, b) => n + b.length, 0);
    this.segmentSizes.set(segment.n, (this.segmentSizes.get(segment.n) ?? 0) + size);
    this.diskBytes += size;
  }

  private async rotate(): Promise<void> {
    if (this.active) {
      await this.active.handle.datasync();
      await this.active.handle.close();
    }
    const n = this.nextSegment++;
    const handle = await open(path.join(this.dir, segmentName(n)), "a");
    this.active = { n, handle, size: 0 };
    this.segmentSizes.set(n, 0);
    // The new file's name must survive a crash as well as its bytes.
    syncDir(this.dir);
  }

  take(maxPoints: number, maxBytes: number): DiskRecord[] {
    const taken = takeRecords(this.records, this.busy, maxPoints, maxBytes);
    for (const r of taken) this.busyPoints += r.points;
    return taken;
  }

  async read(records: DiskRecord[]): Promise<PointBatch> {
    const batches: PointBatch[] = [];
    for (const r of records) {
      if (r.batch) {
        batches.push(r.batch);
        continue;
      }
      let reader = this.readers.get(r.segment);
      if (!reader) {
        reader = await open(path.join(this.dir, segmentName(r.segment)), "r");
        this.readers.set(r.segment, reader);
      }
      const buf = Buffer.allocUnsafe(r.bytes);
      const { bytesRead } = await reader.read(buf, 0, r.bytes, r.offset + HEADER + COUNT);
      if (bytesRead !== r.bytes) throw new Error(`queue segment ${segmentName(r.segment)} ends inside a record at ${r.offset}`);
      batches.push(PointBatch.fromLineProtocol([buf], r.points, r.removal));
    }
    return PointBatch.concat(batches);
  }

  ack(records: DiskRecord[]): void {
    for (const r of records) {
      // It stays marked busy (so it is not taken again) until the cursor passes it.
      r.acked = true;
      this.busyPoints -= r.points;
      this.points -= r.points;
      this.bytes -= r.bytes;
      if (r.batch) {
        this.cached -= r.bytes;
        r.batch = undefined;
      }
    }
    // The cursor moves over the acknowledged records at the head.
    let n = 0;
    while (n < this.records.length && this.records[n].acked) n++;
    if (n === 0) return;
    const last = this.records[n - 1];
    for (const r of this.records.splice(0, n)) this.busy.delete(r);
    this.cursor = { segment: last.segment, offset: last.offset + HEADER + COUNT + last.bytes };
    this.dropSegmentsBefore(this.records.length > 0 ? this.records[0].segment : this.cursor.segment);
    this.saveCursorSoon();
    if (this.records.length === 0 && !this.writing) void this.retireActive();
  }

  /** Everything was delivered: the segment being written is closed and deleted too, so that an idle queue holds no disk. */
  private async retireActive(): Promise<void> {
    const active = this.active;
    if (!active || active.size === 0 || this.cursor.segment !== active.n || this.cursor.offset < active.size) return;
    this.active = undefined;
    await active.handle.close();
    this.dropSegmentsBefore(active.n + 1);
  }

  release(records: DiskRecord[]): void {
    for (const r of records) {
      this.busy.delete(r);
      this.busyPoints -= r.points;
    }
  }

  /** Deletes segments wholly acknowledged: before `first`, and `first` itself when it is done and no longer written to. */
  private dropSegmentsBefore(first: number): void {
    for (const [n, size] of [...this.segmentSizes]) {
      const done = n < first || (n === this.cursor.segment && this.records.length === 0 && this.cursor.offset >= size);
      if (!done || n === this.active?.n) continue;
      void this.readers.get(n)?.close();
      this.readers.delete(n);
      try {
        unlinkSync(path.join(this.dir, segmentName(n)));
      } catch (e) {
        this.log.error({ err: e, segment: n }, "cannot delete a delivered queue segment");
      }
      this.segmentSizes.delete(n);
      this.diskBytes -= size;
    }
  }

  /** The cursor is rewritten at most every 100 ms: a stale one only means records sent twice. */
  private saveCursorSoon(): void {
    this.cursorDirty = true;
    this.cursorTimer ??= setTimeout(() => {
      this.cursorTimer = undefined;
      this.saveCursor();
    }, 100);
  }

  private saveCursor(): void {
    if (!this.cursorDirty) return;
    this.cursorDirty = false;
    const tmp = path.join(this.dir, "cursor.tmp");
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, `${this.cursor.segment} ${this.cursor.offset}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path.join(this.dir, "cursor"));
  }

  async close(): Promise<void> {
    await this.writing;
    if (this.cursorTimer) clearTimeout(this.cursorTimer);
    this.cursorTimer = undefined;
    this.saveCursor();
    await this.active?.handle.close();
    // An empty active segment is not worth keeping.
    if (this.active && this.active.size === 0) {
      unlinkSync(path.join(this.dir, segmentName(this.active.n)));
      this.segmentSizes.delete(this.active.n);
    }
    this.active = undefined;
    for (const r of this.readers.values()) await r.close();
    this.readers.clear();
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
