// Runs one fuzz target inside a worker thread: each property in chunks of fast-check runs with
// derived seeds, progress after each chunk, failures with their seed and path (and the input
// written to a file). Every run bumps a heartbeat in shared memory and the probe copies each
// input there, so that the supervisor can tell a hang and save what caused it.
import fc from "fast-check";
import { writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { probe } from "../../test/fuzz/probe.ts";
import { TARGETS } from "../../test/fuzz/targets/index.ts";
import type { FuzzProperty } from "../../test/fuzz/targets/target.ts";
import { chunkSeed, CHUNK_SEED, HB, HEADER_BYTES, INPUT_LENGTH, PROPERTY, RUN_IN_CHUNK, type Failure, type FuzzJob, type PropertyPlan, type WorkerMessage } from "./protocol.ts";

const { job, shared } = workerData as { job: FuzzJob; shared: SharedArrayBuffer };
const header = new Int32Array(shared, 0, HEADER_BYTES / 4);
const input = new Uint8Array(shared, HEADER_BYTES);

let last: Uint8Array = new Uint8Array(0);
probe.slowMs = job.slowMs;
probe.input = (x) => {
  const bytes = typeof x === "string" ? Buffer.from(x) : x;
  last = bytes;
  const n = Math.min(bytes.length, input.length);
  input.set(bytes.subarray(0, n));
  Atomics.store(header, INPUT_LENGTH, n);
};

function post(m: WorkerMessage): void {
  parentPort!.postMessage(m);
}

probe.spawned = (pid) => post({ type: "spawned", pid });

/** The property, with each run counted in shared memory. */
function counted(p: fc.IRawProperty<unknown>): fc.IRawProperty<unknown> {
  const wrapped = Object.create(p) as fc.IRawProperty<unknown>;
  wrapped.run = (v: unknown) => {
    Atomics.add(header, HB, 1);
    Atomics.add(header, RUN_IN_CHUNK, 1);
    return p.run(v);
  };
  return wrapped;
}

function plan(properties: FuzzProperty[]): PropertyPlan[] {
  const chosen = job.properties.length > 0 ? properties.filter((p) => job.properties.includes(p.name)) : properties;
  const total = chosen.reduce((n, p) => n + p.share, 0);
  return chosen.map((p) => ({ name: p.name, runs: Math.max(1, Math.round((job.runs * p.share) / total)) }));
}

async function failureOf(p: FuzzProperty, seed: number, r: fc.RunDetails<unknown>): Promise<Failure> {
  const err = r.errorInstance as Error | undefined;
  // Run the counterexample again: the probe then holds the input it gave the entry point.
  last = new Uint8Array(0);
  try {
    await p.property.run(r.counterexample as never);
  } catch {
    // it fails, as it did
  }
  mkdirSync(job.outDir, { recursive: true });
  const inputFile = path.join(job.outDir, `${job.target}-${p.name}-${seed}.input`);
  writeFileSync(inputFile, last);
  return {
    target: job.target,
    property: p.name,
    kind: "property",
    seed,
    path: r.counterexamplePath ?? "",
    message: err?.message ?? (r.interrupted ? `the chunk of runs took longer than its time limit (${r.numRuns} runs)` : String(r.errorInstance)),
    counterexample: fc.stringify(r.counterexample).slice(0, 4000),
    inputFile,
  };
}

async function main(): Promise<void> {
  const load = TARGETS[job.target];
  if (!load) throw new Error(`no fuzz target "${job.target}"; known: ${Object.keys(TARGETS).join(", ")}`);
  const opened = await (await load()).open();
  try {
    const plans = plan(opened.properties);
    post({ type: "plan", properties: plans });
    // Round by round, a chunk of each property sized by its share: under a deadline every
    // property has had its share of the time.
    const most = Math.max(...plans.map((p) => p.runs));
    const state = plans.map((pl) => {
      const index = opened.properties.findIndex((p) => p.name === pl.name);
      return { pl, index, p: opened.properties[index], done: 0, chunks: 0, failures: 0, over: false, size: Math.max(1, Math.round((job.chunk * pl.runs) / most)) };
    });
    const late = () => job.deadline > 0 && Date.now() > job.deadline;
    while (!late() && state.some((x) => !x.over)) {
      for (const [planned, x] of state.entries()) {
        if (x.over || late()) continue;
        const n = Math.min(x.size, x.pl.runs - x.done);
        const seed = chunkSeed(job.seed, x.index, x.chunks++);
        Atomics.store(header, PROPERTY, planned);
        Atomics.store(header, CHUNK_SEED, seed);
        Atomics.store(header, RUN_IN_CHUNK, 0);
        // Bounded as a whole, shrinking included: shrinking an input that is slow (a failure of
        // its own) would otherwise try many more slow inputs, each just under the hang limit.
        const r = await fc.check(counted(x.p.property), { numRuns: n, seed, interruptAfterTimeLimit: 60_000 + n * 100, markInterruptAsFailure: true });
        x.done += r.failed ? r.numRuns : n;
        post({ type: "progress", property: x.p.name, done: x.done });
        if (r.failed) {
          post({ type: "failure", failure: await failureOf(x.p, seed, r) });
          if (++x.failures > job.keepGoing) x.over = true;
        }
        if (x.done >= x.pl.runs) x.over = true;
      }
    }
  } finally {
    await opened.close();
  }
  post({ type: "done" });
}

main().catch((e) => {
  // An error of the harness itself, not of a property: the supervisor reports it.
  setImmediate(() => {
    throw e;
  });
});
