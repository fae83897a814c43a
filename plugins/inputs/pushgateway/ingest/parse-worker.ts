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
import { narrowBody, pack, ShapeCache, type PackedFamily } from "./packed.ts";

export interface ParseJob {
  id: number;
  body: Uint8Array;
  format: BodyFormat;
  grouping: [string, string][];
  receivedNs: string;
  /** Send the parsed families back too, packed (the group store keeps them). */
  withFamilies: boolean;
}

export type ParseResult =
  | { id: number; ok: true; lineProtocol: Uint8Array[]; size: number; families?: PackedFamily[] }
  | { id: number; ok: false; parseError: boolean; message: string; limit?: { name: LimitName; value: number; detail: string } };

/** What a worker is started with: how to parse and convert, as the main thread does. */
export interface WorkerSetup {
  convert: ConvertOptions;
  parse: ParseOptions;
}

/** Sent once, when the worker has loaded its code and can take jobs. */
export const READY = { ready: true } as const;

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
function seriesOf(f: MetricFamily, grouping: CanonicalGrouping): { grouping: string; keys: string[] } | undefined {
  const { keys } = storedSeries(f.name, f.metrics.map(labelsOf), grouping, setup.parse.limits?.label_limit ?? 0);
  return new Set(keys).size === keys.length ? { grouping: grouping.key, keys } : undefined;
}

function labelsOf(m: Metric): readonly string[] {
  return m.labels;
}

/**
 * Moves every family's numbers into one buffer, each family keeping a view of its part: one
 * buffer to transfer instead of one per family (a push of 200,000 one-sample families would
 * otherwise transfer 200,000 buffers, which costs far more than copying the numbers once).
 */
function oneBuffer(packed: PackedFamily[]): ArrayBuffer {
  let length = 0;
  for (const p of packed) length += p.numbers.length;
  const all = new Float64Array(length);
  let at = 0;
  for (const p of packed) {
    all.set(p.numbers, at);
    p.numbers = all.subarray(at, at + p.numbers.length);
    at += p.numbers.length;
  }
  return all.buffer;
}

parentPort!.on("message", (job: ParseJob) => {
  let result: ParseResult;
  const transfer: ArrayBuffer[] = [];
  try {
    const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
    // Straight into line protocol: no point objects to make, or to collect afterwards.
    const families = parseBody(body, job.format, setup.parse);
    const { chunks, lines } = converter.lineProtocol(families, new Map(job.grouping), BigInt(job.receivedNs));
    let packed: PackedFamily[] | undefined;
    if (job.withFamilies) {
      const narrow = narrowBody(body, job.format);
      const group = job.grouping.flat().join("\u0000");
      const canonical = canonicalGrouping(new Map(job.grouping));
      packed = families.map((f) => {
        const p = pack(f, narrow, shapes.shapeOf(group, f, narrow));
        // Label sets the group had last time are most likely still in the store, which reuses their keys.
        if (!shapes.hit) p.series = seriesOf(f, canonical);
        return p;
      });
      transfer.push(oneBuffer(packed));
    }
    result = { id: job.id, ok: true, lineProtocol: transferable(chunks, transfer), size: lines, ...(packed ? { families: packed } : {}) };
  } catch (e) {
    const limit = e instanceof LimitError ? { name: e.limit, value: e.value, detail: e.detail } : undefined;
    result = { id: job.id, ok: false, parseError: e instanceof BodyParseError, message: (e as Error).message, ...(limit ? { limit } : {}) };
  }
  parentPort!.postMessage(result, transfer);
});

parentPort!.postMessage(READY);
