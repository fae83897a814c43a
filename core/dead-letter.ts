// Batches a backend refused for what they are (a 4xx other than 408/429): sending them again
// cannot help, so they are set aside in a line-protocol file per sink, each preceded by a
// comment line with the time and the backend's answer, for a person to look at or replay. Of a
// batch refused in part, only the parts refused are set aside (see split-write.ts).
//
// A refused removal batch (series that ended) is set aside too, but every one of its lines is
// commented out ("#removed <line>"): replayed as data, its 0 values would write points the
// series never had. The person can still read which series ended when.
import { appendFile, mkdir } from "node:fs/promises";
import path from "node:path";
import type { PointBatch } from "./batch.ts";

export class DeadLetters {
  constructor(readonly file: string) {}

  async add(batch: PointBatch, reason: string): Promise<void> {
    await this.addAll([{ batch, reason }]);
  }

  /**
   * Sets several refused batches aside in one append (the parts of one batch a backend refused
   * in part, each with its own answer), so that a batch retried after a failed append is not
   * found set aside in part already.
   */
  async addAll(entries: readonly { batch: PointBatch; reason: string }[]): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const at = new Date().toISOString();
    const parts: Buffer[] = [];
    for (const { batch, reason } of entries) {
      const what = batch.removal ? "removals (series that ended, each line commented out)" : "points";
      parts.push(Buffer.from(`# ${at} ${batch.size} ${what} refused: ${reason.replace(/\s+/g, " ").slice(0, 2000)}\n`), ...(batch.removal ? commentedOut(batch) : batch.lineProtocol()));
    }
    await appendFile(this.file, Buffer.concat(parts));
  }
}

function commentedOut(batch: PointBatch): Buffer[] {
  // Each "\n" ends a line (the encoder escapes newlines in names and values); a regex's
  // multiline ^ would also start one at a U+2028 inside a tag value.
  const lines = Buffer.concat(batch.lineProtocol()).toString("utf8").split("\n");
  return [Buffer.from(lines.map((l) => (l === "" ? l : `#removed ${l}`)).join("\n"))];
}
