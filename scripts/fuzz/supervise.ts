// Runs a fuzz target in a worker thread and watches it: progress and failures come as
// messages; a worker whose heartbeat stops for hangMs is a hang (its current input is saved,
// the worker terminated), and a worker that dies (out of memory, a native crash) is a crash.
// Used by `npm run fuzz` and by the bounded fuzz tests, which must not hang on a parser that loops.
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { CHUNK_SEED, HB, HEADER_BYTES, INPUT_BYTES, INPUT_LENGTH, PROPERTY, RUN_IN_CHUNK, type Failure, type FuzzJob, type PropertyPlan, type WorkerMessage } from "./protocol.ts";

export interface RunOptions extends Partial<Omit<FuzzJob, "target" | "runs" | "seed">> {
  target: string;
  runs: number;
  seed: number;
  /** No heartbeat for this long is a hang. */
  hangMs?: number;
  /** Heap of the worker: a parser that grows memory without bound fails here, not the machine. */
  maxHeapMb?: number;
  onProgress?(property: string, done: number): void;
  onFailure?(f: Failure): void;
}

export interface RunResult {
  target: string;
  plan: PropertyPlan[];
  /** Inputs tried, by property. */
  done: Record<string, number>;
  failures: Failure[];
  ms: number;
}

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));

/**
 * A worker that registers tsx's ESM loader itself (a loader given to the main thread does not
 * reach workers on Node 20), then imports the worker module: as ESM, so that the targets it
 * imports on demand are the same module instances as its own imports.
 */
function startWorker(workerData: unknown, maxHeapMb: number): Worker {
  const tsx = pathToFileURL(path.join(path.dirname(createRequire(WORKER).resolve("tsx/package.json")), "dist/esm/api/index.mjs")).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(WORKER).href)}); })`;
  // Not the parent's --import=tsx (mocha's): the worker registers its own loader.
  return new Worker(boot, { eval: true, workerData, execArgv: [], resourceLimits: { maxOldGenerationSizeMb: maxHeapMb }, stdout: false, stderr: false });
}

export function runTarget(o: RunOptions): Promise<RunResult> {
  const job: FuzzJob = {
    target: o.target,
    runs: o.runs,
    seed: o.seed,
    chunk: o.chunk ?? 2000,
    properties: o.properties ?? [],
    slowMs: o.slowMs ?? 2000,
    keepGoing: o.keepGoing ?? 0,
    outDir: o.outDir ?? path.join("/tmp", "pushkit-fuzz"),
    deadline: o.deadline ?? 0,
  };
  const hangMs = o.hangMs ?? 30_000;
  const shared = new SharedArrayBuffer(HEADER_BYTES + INPUT_BYTES);
  const header = new Int32Array(shared, 0, HEADER_BYTES / 4);
  const started = Date.now();
  const worker = startWorker({ job, shared }, o.maxHeapMb ?? 2048);
  const result: RunResult = { target: o.target, plan: [], done: {}, failures: [], ms: 0 };

  const fail = (f: Failure) => {
    result.failures.push(f);
    o.onFailure?.(f);
  };

  /** A failure seen from outside: which run of which property, and the input it had. */
  const stuck = (kind: "hang" | "crash", message: string) => {
    const index = Atomics.load(header, PROPERTY);
    const property = result.plan[index]?.name ?? "(starting)";
    const seed = Atomics.load(header, CHUNK_SEED);
    const run = Atomics.load(header, RUN_IN_CHUNK);
    mkdirSync(job.outDir, { recursive: true });
    const inputFile = path.join(job.outDir, `${job.target}-${property}-${kind}-${seed}-${run}.input`);
    writeFileSync(inputFile, new Uint8Array(shared, HEADER_BYTES, Atomics.load(header, INPUT_LENGTH)));
    // The first runs of a chunk are its generated values in order: run n is path n-1.
    fail({ target: job.target, property, kind, seed, path: String(Math.max(0, run - 1)), message, inputFile });
  };

  return new Promise((resolve) => {
    const spawned: number[] = [];
    let beats = -1;
    let lastBeat = Date.now();
    let finished = false;
    let completed = false;
    const watchdog = setInterval(() => {
      const hb = Atomics.load(header, HB);
      if (hb !== beats) {
        beats = hb;
        lastBeat = Date.now();
      } else if (Date.now() - lastBeat > hangMs && !finished) {
        finished = true;
        stuck("hang", `no run finished for ${hangMs} ms: the input in the file hangs its entry point (or takes far too long)`);
        void worker.terminate();
      }
    }, 250);
    worker.on("message", (m: WorkerMessage) => {
      if (m.type === "plan") {
        result.plan = m.properties;
        for (const p of m.properties) result.done[p.name] = 0;
      } else if (m.type === "progress") {
        result.done[m.property] = m.done;
        o.onProgress?.(m.property, m.done);
      } else if (m.type === "failure") {
        fail(m.failure);
      } else if (m.type === "spawned") {
        spawned.push(m.pid);
      } else {
        finished = true;
        completed = true;
      }
    });
    worker.on("error", (e) => {
      if (finished) return;
      finished = true;
      stuck("crash", `the worker died: ${e.stack ?? e}`);
    });
    worker.on("exit", () => {
      clearInterval(watchdog);
      // What the target started and could not stop itself (its worker was terminated, or died).
      for (const pid of completed ? [] : spawned) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone: the target stopped it
        }
      }
      result.ms = Date.now() - started;
      resolve(result);
    });
  });
}

/** A failure as a report: what failed, the message, and how to replay it. */
export function describeFailure(f: Failure): string {
  const replay = f.kind === "property" ? `npm run fuzz -- --only ${f.target} --property ${f.property} --replay=${f.seed}:${f.path}` : `npm run fuzz -- --only ${f.target} --property ${f.property} --replay=${f.seed}:${f.path}  (the input is in the file)`;
  return [
    `${f.target}/${f.property}: ${f.kind === "property" ? "property failed" : f.kind}`,
    `  ${f.message.split("\n").join("\n  ")}`,
    ...(f.counterexample ? [`  counterexample: ${f.counterexample.slice(0, 1500)}`] : []),
    ...(f.inputFile ? [`  input: ${f.inputFile}`] : []),
    `  replay: ${replay}`,
  ].join("\n");
}
