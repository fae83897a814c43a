// The parent side of the watcher (monitor-child.ts): a child process, tracked by proc.ts so it
// dies with the run, that probes /-/healthy and samples the agent's RSS on its own event loop.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setPriority } from 'node:os';
import { spawnTracked, stop } from '../bench/proc.ts';
import type { MonitorConfig, MonitorSnapshot } from './monitor-child.ts';

export type { MonitorSnapshot };

const CHILD = fileURLToPath(new URL('./monitor-child.ts', import.meta.url));

export class Monitor {
  private waiting: ((s: MonitorSnapshot) => void) | undefined;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (msg: { type: string; snapshot?: MonitorSnapshot }) => {
      if (msg.type === 'snapshot' && msg.snapshot && this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(msg.snapshot);
      }
    });
  }

  /** Starts probing `baseUrl`/-/healthy every `everyMs` and sampling `pid`'s RSS. */
  static async start(baseUrl: string, pid: number, o: { everyMs: number; timeoutMs?: number; rssEveryMs?: number; killAboveKb?: number }): Promise<Monitor> {
    const config: MonitorConfig = { url: `${baseUrl}/-/healthy`, pid, everyMs: o.everyMs, timeoutMs: o.timeoutMs ?? 10_000, rssEveryMs: o.rssEveryMs ?? 250, killAboveKb: o.killAboveKb };
    // The same node and tsx loader as this process, so the child runs from its .ts source.
    const child = spawnTracked(process.execPath, [...process.execArgv, CHILD, JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // Ahead of the load generator, where the system allows it: a probe that waits for a CPU
    // the load generator holds measures the machine, not the agent (a kubelet does not share
    // the agent's node budget with its clients).
    try {
      if (child.pid !== undefined) setPriority(child.pid, -10);
    } catch {
      // Not permitted (not root, no CAP_SYS_NICE): the probes run at the usual priority.
    }
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`monitor exited (${code}) before it started`)));
    });
    return new Monitor(child);
  }

  /** What the watcher saw since the previous take(). */
  take(): Promise<MonitorSnapshot> {
    if (this.waiting) throw new Error('monitor: one take() at a time');
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.child.send({ type: 'take' }, (err) => {
        if (err) {
          this.waiting = undefined;
          reject(err);
        }
      });
    });
  }

  async close(): Promise<void> {
    await stop(this.child, 2_000);
  }
}
