// A parse worker: parses a push and converts it straight into line protocol, off the main
// thread. The encoded bytes travel back without copying (a transferred buffer); points as
// objects would cost more to copy between threads than to make.
import { parentPort, workerData } from "node:worker_threads";
import { Converter, type ConvertOptions } from "../../../formats/prometheus/convert.ts";
import { BodyParseError, type Metric, type MetricFamily, type ParseOptions } from "../../../formats/prometheus/model.ts";
import { canonicalGrouping, storedSeries, type CanonicalGrouping } from "../store/store.ts";
import { LimitError, type LimitName } from "../../../formats/prometheus/limits.ts";
import type { BodyFormat } from "../../../formats/prometheus/mediatypes.ts";
import { parseBody } from "../../../formats/prometheus/parse.ts";
import { narrowBody, pack, ShapeCache, type PackedFamily, type WireFamilies } from "./packed.ts";
import { runBehindMainThread } from "./worker-priority.ts";

export interface ParseJob {
  id: number;
  body: Uint8Array;
  format: BodyFormat;
  grouping: [string, string][];
  receivedNs: string;
  /** Send the parsed families back too, packed (the group store keeps them). */
  withFamilies: boolean;
}

/** Families of a push sent ahead of its answer (see PART_FAMILIES). */
export interface FamiliesPart {
  id: number;
  part: WireFamilies;
}

/** From the main thread: it has taken the last part of job `id`; the worker sends the next. */
export interface PartTaken {
  id: number;
  taken: true;
}

export type ParseResult =
  | { id: number; ok: true; lineProtocol: Uint8Array[]; size: number; families?: WireFamilies }
  | { id: number; ok: false; parseError: boolean; message: string; limit?: { name: LimitName; value: number; detail: string } };

/** What a worker is started with: how to parse and convert, as the main thread does. */
export interface WorkerSetup {
  convert: ConvertOptions;
  parse: ParseOptions;
}

/** Sent once, when the worker has loaded its code and can take jobs. */
export const READY = { ready: true } as const;

runBehindMainThread();

const setup = workerData as WorkerSetup;
const converter = new Converter(setup.convert);
const shapes = new ShapeCache();

/**
 * The chunks as views that can travel without a copy: the large buffers a LineWriter filled
 * are moved (each once). Small ones are copied: one may be Node's shared allocation pool
 * (8 KiB), which must not move, and copying them costs nothing much.
 */
function transferable(chunks: readonly Buffer[], transfer: ArrayBuffer[]): Uint8Array[] {
  const moved = new Set<ArrayBuffer>();
  return chunks.map((c) => {
    const buffer = c.buffer as ArrayBuffer;
    if (buffer.byteLength <= 64 * 1024) return new Uint8Array(c);
    if (!moved.has(buffer)) {
      moved.add(buffer);
      transfer.push(buffer);
    }
    return new Uint8Array(buffer, c.byteOffset, c.byteLength);
  });
}

/**
 * The keys the store will give the family's series, made here rather than on the main thread;
 * none when two are equal (the store then finds and reports the duplicate itself).
 */
function keysOf(f: MetricFamily, grouping: CanonicalGrouping): string[] | undefined {
  const { keys } = storedSeries(f.name, f.metrics.map(labelsOf), grouping, setup.parse.limits?.label_limit ?? 0);
  return new Set(keys).size === keys.length ? keys : undefined;
}

function labelsOf(m: Metric): readonly string[] {
  return m.labels;
}

/**
 * Packed families as they cross to the main thread: columns of plain values, every family's
 * numbers in one array. Receiving 100,000 families as 100,000 objects with a typed-array view
 * each costs the main thread far more (in deserialising and in garbage) than a few arrays do,
 * and transferring one buffer costs less than one per family.
 */
function wire(packed: readonly PackedFamily[], keys: readonly (string[] | undefined)[], grouping: string): WireFamilies {
  let length = 0;
  for (const p of packed) length += p.numbers.length;
  const numbers = new Float64Array(length);
  const ends = new Float64Array(packed.length);
  let at = 0;
  packed.forEach((p, i) => {
    numbers.set(p.numbers, at);
    at += p.numbers.length;
    ends[i] = at;
  });
  return {
    grouping,
    names: packed.map((p) => p.name),
    helps: packed.map((p) => p.help),
    types: packed.map((p) => p.type),
    sizes: packed.map((p) => p.size),
    shapes: packed.map((p) => p.shape),
    keys: keys as (string[] | undefined)[],
    numbers,
    ends,
  };
}

/**
 * Families per message to the main thread. Reading a message is one task there, whatever its
 * size: 100,000 families in one message hold its event loop for a few hundred milliseconds (the
 * objects it deserialises, and the collections they cause). A push's families go in parts, each
 * sent when the main thread has taken the one before (see PartTaken).
 */
const PART_FAMILIES = 4096;

/** Per job waiting for the main thread to take a part, what resumes it. */
const waiting = new Map<number, () => void>();

function taken(id: number): Promise<void> {
  return new Promise((resolve) => waiting.set(id, resolve));
}

async function run(job: ParseJob): Promise<void> {
  let result: ParseResult;
  const transfer: ArrayBuffer[] = [];
  try {
    const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
    // Straight into line protocol: no point objects to make, or to collect afterwards.
    const families = parseBody(body, job.format, setup.parse);
    const { chunks, lines } = converter.lineProtocol(families, new Map(job.grouping), BigInt(job.receivedNs));
    let last: WireFamilies | undefined;
    if (job.withFamilies) {
      const narrow = narrowBody(body, job.format);
      const group = job.grouping.flat().join("\u0000");
      const canonical = canonicalGrouping(new Map(job.grouping));
      const keys: (string[] | undefined)[] = [];
      const packed = families.map((f) => {
        const p = pack(f, narrow, shapes.shapeOf(group, f, narrow));
        // Label sets the group had last time are most likely still in the store, which reuses their keys.
        keys.push(shapes.hit ? undefined : keysOf(f, canonical));
        return p;
      });
      // Every part but the last goes ahead; the last comes with the answer.
      let from = 0;
      for (; packed.length - from > PART_FAMILIES; from += PART_FAMILIES) {
        const part = wire(packed.slice(from, from + PART_FAMILIES), keys.slice(from, from + PART_FAMILIES), canonical.key);
        const next = taken(job.id);
        const message: FamiliesPart = { id: job.id, part };
        parentPort!.postMessage(message, [part.numbers.buffer as ArrayBuffer, part.ends.buffer as ArrayBuffer]);
        await next;
      }
      last = wire(packed.slice(from), keys.slice(from), canonical.key);
      transfer.push(last.numbers.buffer as ArrayBuffer, last.ends.buffer as ArrayBuffer);
    }
    result = { id: job.id, ok: true, lineProtocol: transferable(chunks, transfer), size: lines, ...(last ? { families: last } : {}) };
  } catch (e) {
    const limit = e instanceof LimitError ? { name: e.limit, value: e.value, detail: e.detail } : undefined;
    result = { id: job.id, ok: false, parseError: e instanceof BodyParseError, message: (e as Error).message, ...(limit ? { limit } : {}) };
  }
  parentPort!.postMessage(result, transfer);
}

parentPort!.on("message", (m: ParseJob | PartTaken) => {
  if ("taken" in m) {
    const resume = waiting.get(m.id);
    waiting.delete(m.id);
    resume?.();
  } else {
    void run(m);
  }
});

parentPort!.postMessage(READY);
