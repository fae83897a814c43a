// Worker threads for large pushes: a 100,000-sample push takes the main thread for a
// noticeable time, during which no other request is served. Large bodies are parsed,
// converted and encoded in workers instead, several at once on several cores.
import { extname } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { PointBatch } from "../../../../core/batch.ts";
import { LimitError } from "../../../formats/prometheus/limits.ts";
import { BodyParseError, type MetricFamily } from "../../../formats/prometheus/model.ts";
import type { BodyFormat } from "../../../formats/prometheus/mediatypes.ts";
import type { PushedFamily } from "../store/pushed-family.ts";
import { receivedFamilies } from "./packed-family.ts";
import type { FamiliesPart, ParseJob, ParseResult, PartTaken, WorkerSetup } from "./parse-worker.ts";

/** A push parsed: its points, and its families (still packed when a worker parsed them) when they were asked for. */
export interface Parsed {
  batch: PointBatch;
  families: (MetricFamily | PushedFamily)[];
}

interface Pending {
  resolve(parsed: Parsed): void;
  reject(e: Error): void;
  /** Families of the parts that came ahead of the answer. */
  families: PushedFamily[];
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Pending>;
  /** The worker has loaded its code (a worker that dies before that is not restarted). */
  online: boolean;
}

// The worker module next to this one: .js when built. When run from source (.ts) the worker
// first registers tsx's loader itself: a loader given to the main thread does not reach
// worker threads on Node 20.
const EXT = extname(fileURLToPath(import.meta.url));
const WORKER_URL = new URL(`./parse-worker${EXT}`, import.meta.url);

function newWorker(workerData: unknown): Worker {
  if (EXT !== ".ts") return new Worker(WORKER_URL, { workerData });
  // tsx's in-thread require hook compiles the TypeScript modules inside the worker itself.
  const tsx = createRequire(WORKER_URL).resolve("tsx/cjs/api");
  const boot = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(fileURLToPath(WORKER_URL))});`;
  return new Worker(boot, { eval: true, workerData });
}

export class ParsePool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;
  /** A worker could not start: no more are started, pushes are parsed on the main thread. */
  private broken = false;

  /** Workers start on demand, up to `size`: an agent that only gets small pushes never pays for them. */
  constructor(
    private readonly size: number,
    private readonly setup: WorkerSetup,
    private readonly log: Logger,
  ) {}

  private spawn(): Slot {
    const slot: Slot = { worker: newWorker(this.setup), jobs: new Map(), online: false };
    slot.worker.on("message", (r: ParseResult | FamiliesPart | { ready: true }) => {
      if ("ready" in r) {
        slot.online = true;
        return;
      }
      const job = slot.jobs.get(r.id);
      if (!job) return;
      if ("part" in r) {
        for (const f of receivedFamilies(r.part)) job.families.push(f);
        // The next part comes as a message of its own, read in a later turn of the event loop.
        const more: PartTaken = { id: r.id, taken: true };
        slot.worker.postMessage(more);
        return;
      }
      slot.jobs.delete(r.id);
      if (r.ok) {
        const families = job.families;
        if (r.families) for (const f of receivedFamilies(r.families)) families.push(f);
        job.resolve({ batch: PointBatch.fromLineProtocol(r.lineProtocol.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)), r.size), families });
      }
      else job.reject(r.limit ? new LimitError(r.limit.name, r.limit.value, r.limit.detail) : r.parseError ? new BodyParseError(r.message) : new Error(r.message));
    });
    // A worker that dies fails its own pushes (500) and is replaced; the others go on. One
    // that cannot even start is not retried: its pushes are then parsed on the main thread.
    const onDeath = (reason: string) => {
      for (const job of slot.jobs.values()) job.reject(new Error(`parse worker stopped: ${reason}`));
      slot.jobs.clear();
      const i = this.slots.indexOf(slot);
      if (i < 0 || this.closed) return;
      if (slot.online) {
        this.log.error({ reason }, "parse worker stopped; starting a new one");
        this.slots[i] = this.spawn();
      } else {
        this.log.error({ reason }, "parse worker cannot start; parsing on the main thread instead");
        this.slots.splice(i, 1);
        this.broken = true;
      }
    };
    let dead = false;
    const once = (reason: string) => {
      if (!dead) {
        dead = true;
        onDeath(reason);
      }
    };
    slot.worker.on("error", (e) => once(e.message));
    slot.worker.on("exit", (code) => once(`exit code ${code}`));
    return slot;
  }

  /** Workers running now. */
  get running(): number {
    return this.slots.length;
  }

  /** Whether a worker is there, or may be started, to take a push. */
  get available(): boolean {
    return this.slots.length > 0 || (!this.broken && this.size > 0);
  }

  /** An idle worker, else a new one while fewer than `size` run, else the least busy. */
  private pick(): Slot | undefined {
    const idle = this.slots.find((s) => s.jobs.size === 0);
    if (idle) return idle;
    if (!this.broken && !this.closed && this.slots.length < this.size) {
      const slot = this.spawn();
      this.slots.push(slot);
      return slot;
    }
    return this.slots.length ? this.slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a)) : undefined;
  }

  /** Parses, converts and encodes a body in a worker; `withFamilies` also brings the parsed families back (packed). */
  run(body: Buffer, format: BodyFormat, grouping: ReadonlyMap<string, string>, receivedNs: bigint, withFamilies = false): Promise<Parsed> {
    const slot = this.pick();
    if (!slot) return Promise.reject(new Error("no parse worker is running"));
    const id = this.nextId++;
    // A body that owns its whole memory moves to the worker without a copy; a view into
    // shared memory (e.g. Node's buffer pool) is copied first.
    const own = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
    const bytes = own ? new Uint8Array(body.buffer, 0, body.byteLength) : new Uint8Array(body);
    const job: ParseJob = { id, body: bytes, format, grouping: [...grouping], receivedNs: String(receivedNs), withFamilies };
    return new Promise((resolve, reject) => {
      slot.jobs.set(id, { resolve, reject, families: [] });
      slot.worker.postMessage(job, [bytes.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
