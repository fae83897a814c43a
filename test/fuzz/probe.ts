// What a fuzz property tells whoever runs it, beside pass or fail: the input it is about to
// try (a supervisor that sees a run stop moving saves that input as the hang's reproducer) and
// how long one input may take. Run in-process the probe does nothing; the fuzz worker
// (scripts/fuzz/worker.ts) replaces it.
export const probe = {
  /** Called with each input before it is tried. */
  input(_bytes: Uint8Array | string): void {},
  /** One input taking longer than this fails the property as too slow (a hang in the making). */
  slowMs: 2000,
  /** Called with the pid of a process a target started, for a supervisor to end if the target cannot. */
  spawned(_pid: number): void {},
};

export class SlowInput extends Error {}

/** Runs fn on one input, timed against probe.slowMs. */
export function timed<T>(what: string, fn: () => T): T {
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    const ms = performance.now() - t0;
    if (ms > probe.slowMs) throw new SlowInput(`${what} took ${Math.round(ms)} ms, more than ${probe.slowMs} ms for one input`);
  }
}
