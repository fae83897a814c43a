// A batch a backend refuses may be refused only in part: InfluxDB 1.x stores the good lines of
// a batch and answers 400 "partial write" for the others; Prometheus refuses a whole
// remote-write request (400) for one out-of-order sample and stores none of it, Mimir stores
// the other samples. Setting the whole batch aside would put points the backend stored among
// the refused ones, or keep good points from a backend that stored none. So a refused batch is
// split in halves and each half written again, down to the parts refused on their own: only
// those are set aside. A point written again that the backend already stored changes nothing:
// InfluxDB keeps one point per series, field and time (the same values overwrite themselves),
// and a remote-write receiver takes the same sample again as a duplicate of itself.
import { PointBatch } from "./batch.ts";
import { SinkWriteError } from "./errors.ts";

/** Statuses whose refusal may concern part of a body only: bad points (400, 422), a body too large (413). */
const PART_STATUSES: ReadonlySet<number> = new Set([400, 413, 422]);

/**
 * Writes one refused batch may take for its parts. Splitting down to k refused points among
 * n takes about 2k*log2(n/k) writes; a backend that refuses every point without saying so
 * would otherwise cost 2n. Parts still refused when it is spent are set aside as they are.
 */
export const MAX_PART_WRITES = 512;

export interface RefusedPart {
  batch: PointBatch;
  error: SinkWriteError;
}

export interface PartsOutcome {
  refused: RefusedPart[];
  /** Writes of parts made. */
  writes: number;
  /** Parts were set aside unsplit because maxWrites was spent. */
  exhausted: boolean;
}

/** Whether writing parts of a batch of `size` points refused with e may get some of them written. */
export function splittable(e: SinkWriteError, size: number): boolean {
  if (size < 2 || e.retry || e.detail.status === undefined || !PART_STATUSES.has(e.detail.status)) return false;
  return e.detail.refused === undefined || e.detail.refused < size;
}

/** The batch's lines in two halves, as they are encoded (nothing is encoded again); undefined for a single line. */
export function halves(batch: PointBatch): [PointBatch, PointBatch] | undefined {
  const chunks = batch.lineProtocol();
  const lp = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  const ends: number[] = [];
  for (let at = lp.indexOf(10); at >= 0; at = lp.indexOf(10, at + 1)) ends.push(at + 1);
  if (ends.length < 2) return undefined;
  const half = ends.length >> 1;
  const cut = ends[half - 1];
  return [PointBatch.fromLineProtocol([lp.subarray(0, cut)], half, batch.removal), PointBatch.fromLineProtocol([lp.subarray(cut)], ends.length - half, batch.removal)];
}

/**
 * Writes the parts of `batch`, which was refused with `error`: halves, each written in
 * order, a refused half split again while splittable(). Resolves to the parts refused for
 * good; rejects with the first failure that is not a refusal (network, timeout, 5xx), and
 * then the whole batch is to be written again later.
 */
export async function writeParts(write: (b: PointBatch) => Promise<void>, batch: PointBatch, error: SinkWriteError, maxWrites = MAX_PART_WRITES): Promise<PartsOutcome> {
  const out: PartsOutcome = { refused: [], writes: 0, exhausted: false };
  const settle = async (part: PointBatch, e: SinkWriteError): Promise<void> => {
    const split = splittable(e, part.size) ? halves(part) : undefined;
    if (!split || out.writes >= maxWrites) {
      if (split) out.exhausted = true;
      out.refused.push({ batch: part, error: e });
      return;
    }
    for (const half of split) {
      out.writes++;
      try {
        await write(half);
      } catch (he) {
        if (!(he instanceof SinkWriteError) || he.retry) throw he;
        await settle(half, he);
      }
    }
  };
  await settle(batch, error);
  return out;
}
