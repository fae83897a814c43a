// What the fuzz supervisor and its worker share: the job, the messages, and the layout of the
// shared memory through which the worker shows, without a message (it may be stuck in a loop),
// which input of which property it is on.

export interface FuzzJob {
  target: string;
  /** Inputs for the whole target, shared out by the properties' shares (all to one property when only one is run). */
  runs: number;
  seed: number;
  /** Inputs per fast-check run: progress is reported, and seeds derived, per chunk. */
  chunk: number;
  /** Only these properties (all when empty). */
  properties: string[];
  slowMs: number;
  /** Go on after a failure with the next chunk, up to this many failures per property (0: stop the property at its first). */
  keepGoing: number;
  /** Where counterexamples are written. */
  outDir: string;
  /** No new chunk starts after this time (ms since the epoch; 0: none): a run that fits a time budget. */
  deadline: number;
}

export interface PropertyPlan {
  name: string;
  runs: number;
}

export interface Failure {
  target: string;
  property: string;
  kind: "property" | "hang" | "crash";
  seed: number;
  /** fast-check's path of the (shrunk) counterexample, for --replay seed:path. */
  path: string;
  message: string;
  counterexample?: string;
  /** The input the failing run gave its entry point, as a file. */
  inputFile?: string;
}

export type WorkerMessage =
  | { type: "plan"; properties: PropertyPlan[] }
  | { type: "progress"; property: string; done: number }
  | { type: "failure"; failure: Failure }
  | { type: "spawned"; pid: number }
  | { type: "done" };

// Shared memory: Int32 slots, then the bytes of the current input.
export const HB = 0; // runs so far (a heartbeat)
export const PROPERTY = 1; // index of the property running
export const CHUNK_SEED = 2;
export const RUN_IN_CHUNK = 3;
export const INPUT_LENGTH = 4;
export const HEADER_BYTES = 64;
export const INPUT_BYTES = 1 << 20;

/** The seed of chunk k of property p: distinct streams, and each chunk replays alone. */
export function chunkSeed(seed: number, property: number, chunk: number): number {
  return (seed ^ Math.imul(property + 1, 0x9e3779b1) ^ Math.imul(chunk + 1, 0x85ebca6b)) | 0;
}
