// Reading the agent's JSON log lines (stderr) in tests, and a logger whose records a test reads.
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

/** The keys of a JSON object's top level, in order, duplicates kept (JSON.parse keeps only the last). */
export function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      const start = i;
      for (i++; json[i] !== '"'; i++) if (json[i] === "\\") i++;
      let j = i + 1;
      while (json[j] === " ") j++;
      if (depth === 1 && json[j] === ":") keys.push(JSON.parse(json.slice(start, i + 1)) as string);
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return keys;
}

/** Log lines (as text) in which some key stands twice, with the keys doubled. */
export function duplicateKeys(stderr: string): string[] {
  const out: string[] = [];
  for (const line of stderr.split("\n")) {
    if (!line.startsWith("{")) continue;
    const keys = topLevelKeys(line);
    const doubled = keys.filter((k, i) => keys.indexOf(k) !== i);
    if (doubled.length > 0) out.push(`${doubled.join(", ")}: ${line}`);
  }
  return out;
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** The JSON log lines of an agent's stderr. */
export function logLines(stderr: string): LogLine[] {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as LogLine);
}

/** A pino logger (debug and up by default) whose records end up in `records`; read them after a setImmediate. */
export function capturedLogger(level = "debug"): { log: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n")) if (line) records.push(JSON.parse(line));
      cb();
    },
  });
  return { log: pino({ level }, stream), records };
}
