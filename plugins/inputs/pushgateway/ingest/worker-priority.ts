// Parse workers run behind the main thread (see runBehindMainThread).
import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/** The nice value a worker takes (0 is the usual, 19 the lowest priority), unless it runs lower already. */
export const WORKER_NICE = 10;

/**
 * Puts this thread behind the main thread where the system allows it (Linux: a thread has a
 * nice value of its own, and raising it needs no privilege). When workers and the main thread
 * want the same CPU (an agent held to one core, or an overload), the main thread goes first:
 * it serves health probes and every other request, and applies what the workers parsed.
 * Elsewhere, or without /proc, the worker keeps the usual priority.
 */
export function runBehindMainThread(): void {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isSafeInteger(tid) && tid > 0 && getPriority(tid) < WORKER_NICE) setPriority(tid, WORKER_NICE);
  } catch {
    // Not Linux, or not allowed: the usual priority.
  }
}
