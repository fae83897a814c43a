// Batches a backend refused for what they are (a 4xx other than 408/429): sending them again
// cannot help, so they are set aside in a line-protocol file per sink, each preceded by a
// comment line with the time and the backend's answer, for a person to look at or replay.
import { appendFile, mkdir } from "node:fs/promises";
import path from "node:path";
import type { PointBatch } from "./batch.ts";

export class DeadLetters {
  constructor(readonly file: string) {}

  async add(batch: PointBatch, reason: string): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const note = `# ${new Date().toISOString()} ${batch.size} points refused: ${reason.replace(/\s+/g, " ").slice(0, 2000)}\n`;
    await appendFile(this.file, Buffer.concat([Buffer.from(note), ...batch.lineProtocol()]));
  }
}
