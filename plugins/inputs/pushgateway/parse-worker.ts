// A parse worker: parses a push and converts it straight into line protocol, off the main
// thread. The encoded bytes travel back without copying (a transferred buffer); points as
// objects would cost more to copy between threads than to make.
import { parentPort, workerData } from "node:worker_threads";
import { LineWriter } from "../../../core/lineprotocol.ts";
import { Converter, type ConvertOptions } from "./convert.ts";
import { BodyParseError } from "./families.ts";
import { parseBody, type BodyFormat } from "./formats.ts";
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
  | { id: number; ok: true; lineProtocol: Uint8Array; size: number; families?: PackedFamily[] }
  | { id: number; ok: false; parseError: boolean; message: string };

/** Sent once, when the worker has loaded its code and can take jobs. */
export const READY = { ready: true } as const;

const converter = new Converter(workerData as ConvertOptions);
const shapes = new ShapeCache();

parentPort!.on("message", (job: ParseJob) => {
  let result: ParseResult;
  const transfer: ArrayBuffer[] = [];
  try {
    const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
    // Straight into line protocol: no point objects to make, or to collect afterwards.
    const writer = new LineWriter();
    const families = parseBody(body, job.format);
    converter.write(families, new Map(job.grouping), BigInt(job.receivedNs), writer);
    const chunks = writer.finish();
    // One fresh buffer: small chunks may live in Node's shared pool, which must not be transferred.
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    transfer.push(out.buffer);
    let packed: PackedFamily[] | undefined;
    if (job.withFamilies) {
      const narrow = narrowBody(body, job.format);
      const group = job.grouping.flat().join("\u0000");
      packed = families.map((f) => pack(f, narrow, shapes.shapeOf(group, f, narrow)));
      for (const p of packed) transfer.push(p.numbers.buffer as ArrayBuffer);
    }
    result = { id: job.id, ok: true, lineProtocol: out, size: writer.lines, ...(packed ? { families: packed } : {}) };
  } catch (e) {
    result = { id: job.id, ok: false, parseError: e instanceof BodyParseError, message: (e as Error).message };
  }
  parentPort!.postMessage(result, transfer);
});

parentPort!.postMessage(READY);
