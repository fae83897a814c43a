// The watcher process forked by monitor.ts. It lives apart from the traffic so that building
// bodies or reading large answers in the load generator never delays a probe: what it measures
// is the agent's delay alone.
//
// Every `everyMs` it sends GET /-/healthy on a new connection (as the kubelet does), without
// waiting for the previous probe: a stall of 5 s then shows as the 50 probes a liveness check
// arriving at any moment would have met, not as one slow sample. Every `rssEveryMs` it reads
// the agent's VmRSS. The parent asks for what was seen since its last question.
import http from 'node:http';
import { readFileSync } from 'node:fs';

export interface MonitorConfig {
  url: string;
  pid: number;
  everyMs: number;
  timeoutMs: number;
  rssEveryMs: number;
  /** SIGKILL the agent when its VmRSS passes this (kB): a guard for a shared machine. */
  killAboveKb?: number;
}

export interface MonitorSnapshot {
  /** Latencies of the probes finished since the last snapshot, ms; a timeout counts as its wait. */
  ms: number[];
  timeouts: number;
  errors: number;
  /** VmRSS, kB: the last, lowest and highest reading since the last snapshot. */
  rssLastKb?: number;
  rssMinKb?: number;
  rssMaxKb?: number;
  /** VmHWM, kB: the agent's peak since it started. */
  hwmKb?: number;
  /** VmRSS (kB) at which this watcher killed the agent (killAboveKb). */
  killedAtKb?: number;
}

function statusKb(pid: number, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // the agent is gone
  }
}

const config = JSON.parse(process.argv[2] ?? '{}') as MonitorConfig;
let current: MonitorSnapshot = { ms: [], timeouts: 0, errors: 0 };
let killedAtKb: number | undefined;

function probe(): void {
  const t0 = performance.now();
  let done = false;
  const finish = (kind: 'ok' | 'timeout' | 'error') => {
    if (done) return;
    done = true;
    current.ms.push(performance.now() - t0);
    if (kind === 'timeout') current.timeouts++;
    if (kind === 'error') current.errors++;
  };
  const req = http.get(config.url, { agent: false, headers: { Connection: 'close' } }, (res) => {
    res.resume();
    res.on('end', () => finish(res.statusCode === 200 ? 'ok' : 'error'));
    res.on('error', () => finish('error'));
  });
  // A whole-probe deadline (socket idle timeouts would restart on every byte).
  const timer = setTimeout(() => {
    finish('timeout');
    req.destroy();
  }, config.timeoutMs);
  req.on('close', () => clearTimeout(timer));
  req.on('error', () => finish('error'));
}

function sampleRss(): void {
  const kb = statusKb(config.pid, 'VmRSS');
  if (kb === undefined) return;
  if (config.killAboveKb !== undefined && kb > config.killAboveKb && killedAtKb === undefined) {
    killedAtKb = kb;
    try {
      process.kill(config.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  current.rssLastKb = kb;
  current.rssMinKb = Math.min(current.rssMinKb ?? kb, kb);
  current.rssMaxKb = Math.max(current.rssMaxKb ?? kb, kb);
}

sampleRss();
setInterval(probe, config.everyMs);
setInterval(sampleRss, config.rssEveryMs);

process.on('message', (msg: { type: string }) => {
  if (msg.type !== 'take') return;
  sampleRss();
  const out: MonitorSnapshot = { ...current, hwmKb: statusKb(config.pid, 'VmHWM'), killedAtKb };
  // The next interval starts from the last reading, so a flat RSS has a min and a max.
  current = { ms: [], timeouts: 0, errors: 0, rssLastKb: out.rssLastKb, rssMinKb: out.rssLastKb, rssMaxKb: out.rssLastKb };
  process.send?.({ type: 'snapshot', snapshot: out });
});
// The parent went away (or closed us): nothing left to report to.
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
