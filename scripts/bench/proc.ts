// Child-process plumbing shared by the benchmarks: every process we spawn is
// tracked so that it is stopped by PID on normal completion, on errors and on
// SIGINT/SIGTERM (no orphaned servers or load generators), plus small /proc
// readers for memory and CPU figures.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const live = new Set<ChildProcess>();
const scratch = new Set<string>();

/** A temporary directory that is removed at exit even if its owner never
 * got to clean up (e.g. interrupted mid-run). */
export function scratchDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  scratch.add(path);
  return {
    path,
    remove() {
      rmSync(path, { recursive: true, force: true });
      scratch.delete(path);
    },
  };
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Spawns a child and tracks it until it exits. */
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
  const child = spawn(cmd, args, opts);
  live.add(child);
  child.once('exit', () => live.delete(child));
  // Without this an ENOENT would surface as an uncaught 'error' event.
  child.once('error', () => live.delete(child));
  return child;
}

/** Spawns a child whose stdout and stderr go to `logFile` (never a pipe we
 * might forget to drain, which could stall a busy server). */
export function spawnLogged(cmd: string, args: string[], logFile: string, opts: SpawnOptions): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawnTracked(cmd, args, { ...opts, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
}

/** Resolves when the child has exited (immediately if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (!alive(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL if the child is still there after `graceMs`. */
export async function stop(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (!alive(child)) return;
  child.kill('SIGTERM');
  const done = exited(child);
  const timedOut = await Promise.race([done.then(() => false), sleep(graceMs).then(() => true)]);
  if (timedOut && alive(child)) {
    child.kill('SIGKILL');
    await Promise.race([done, sleep(2_000)]);
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => stop(c)));
}

let handlersInstalled = false;

/**
 * Makes sure tracked children die with us. On SIGINT/SIGTERM we stop them
 * gracefully, then exit; the synchronous 'exit' hook is the last resort for
 * any path that skipped the normal cleanup.
 */
export function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`\nbench: got ${sig}, stopping child processes`);
      void stopAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    });
  }
  process.on('exit', () => {
    for (const c of live) if (alive(c)) c.kill('SIGKILL');
    for (const d of scratch) rmSync(d, { recursive: true, force: true });
  });
}

/** Asks the kernel for a free loopback port. There is a small race between
 * closing the probe socket and the server binding it, acceptable here. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not get a port'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

/** Polls GET `url` until it answers 200, the child dies, or time runs out. */
export async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (!alive(child)) throw new Error(`exited (code ${child.exitCode}, signal ${child.signalCode}) before ready`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`not ready after ${timeoutMs} ms (${url}: ${last})`);
}

/** Last `n` lines of a log file, for error messages. */
export function tail(file: string, n = 20): string {
  if (!existsSync(file)) return '';
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  return lines.slice(-n).join('\n');
}

function statusField(pid: number, field: string): number | undefined {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // process already gone
  }
}

/** The process and all its descendants (via /proc/<pid>/task/<tid>/children). */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
        const kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      // the process exited while we walked; skip it
    }
  }
  return out;
}

/**
 * Peak resident memory (VmHWM) in kB, summed over the process and any
 * children it spawned, so a server that forks workers is not under-counted.
 * Must be read before the process exits.
 */
export function peakRssKb(pid: number): number | undefined {
  let total = 0;
  let seen = false;
  for (const p of processTree(pid)) {
    const kb = statusField(p, 'VmHWM');
    if (kb !== undefined) {
      total += kb;
      seen = true;
    }
  }
  return seen ? total : undefined;
}

// USER_HZ is 100 on every Linux we target; /proc/<pid>/stat counts in it.
const CLOCK_TICKS_PER_S = 100;

/** User+system CPU seconds consumed so far by the process tree. */
export function cpuSeconds(pid: number): number | undefined {
  let ticks = 0;
  let seen = false;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      // Fields after the parenthesised command name; utime and stime are
      // fields 14 and 15 of the whole line, i.e. 12 and 13 after ")".
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(rest[11]) + Number(rest[12]);
      seen = true;
    } catch {
      // gone
    }
  }
  return seen ? ticks / CLOCK_TICKS_PER_S : undefined;
}
