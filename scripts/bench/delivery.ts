// End-to-end delivery benchmark: pushes into the built agent (dist/core/cli.js) -> a network
// sink -> a real backend, timed from the first push until the backend itself holds every
// point. For each backend (InfluxDB 1.6 through the influxdb sink; Prometheus 2.42's
// remote-write receiver through the prometheus_remote_write sink) it runs the sink with
// durable = true and durable = false, alternating which goes first from round to round (this
// machine's speed drifts by tens of percent within minutes), each run with a fresh agent, a
// fresh data_dir and a fresh backend. The sinks keep their other delivery defaults.
//
// Load: a small Node pusher in this process with `connections` kept-alive connections, each
// pushing its own share of precomputed bodies one after the other (PUT, waiting for each
// answer). Each push holds `samples` gauges of one metric, one series per (connection,
// sample index), all with an explicit timestamp: the k-th push of a connection carries
// t0 + k ms. So no two samples share a series and a time (nothing deduplicates), every series'
// samples reach the agent in time order (Prometheus refuses out-of-order ones), and the
// timestamps are seconds from now (Prometheus refuses samples an hour older than its newest).
// A short warm-up of another metric runs first (and is delivered) so that V8 and the backend
// are warm when the clock starts.

import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from './bodies.ts';
import {
  influxCount,
  prometheusCount,
  startInfluxDB,
  startPrometheus,
  type BackendName,
  type RunningBackend,
} from './backends.ts';
import { div, median, mib, num, ratio, table } from './format.ts';
import { cpuSeconds, freePort, peakRssKb, scratchDir, spawnLogged, stop, tail, waitReady } from './proc.ts';

export interface DeliveryOptions {
  backends: BackendName[];
  /** Rounds; each runs every backend once durable and once not. */
  rounds: number;
  /** Timed pushes per run, over all connections. */
  pushes: number;
  /** Samples (points) per push. */
  samples: number;
  connections: number;
  /** Untimed pushes per connection before the clock starts. */
  warmupPushes: number;
  /** Longest wait, after the last push was answered, for the backend to hold every point. */
  timeoutS: number;
  /** Extra `key = value` TOML lines for the sink table, applied to every run. */
  sinkOptions: string[];
  log: (line: string) => void;
}

export interface DeliveryRun {
  backend: BackendName;
  durable: boolean;
  round: number;
  pushes: number;
  points: number;
  connections: number;
  /** Pushes answered 503 (queue full) and pushed again. */
  refused?: number;
  /** Seconds from the first push until every push was answered 2xx. */
  pushS?: number;
  /** Seconds until the agent's pushkit_sink_points_sent_total counted every point. */
  sentS?: number;
  /** Seconds until the backend's own count query returned every point. */
  totalS?: number;
  /** points / pushS: how fast the agent accepted them. */
  acceptedPerS?: number;
  /** points / totalS: end to end. */
  pointsPerS?: number;
  /** CPU cores kept busy over totalS. */
  agentCores?: number;
  backendCores?: number;
  /** This process: the pusher and the polling. */
  pusherCores?: number;
  /** Bytes the agent wrote to disk (its disk queue) over the timed part. */
  agentDiskBytes?: number;
  /** Sink writes (batches) over the timed part, and their mean duration (read, encode, send, answer). */
  batches?: number;
  batchMs?: number;
  /** Seconds spent in sink writes / stored s: 1 means one write was in flight all the time. */
  sinkBusy?: number;
  peakRssKb?: number;
  error?: string;
}

const METRIC = 'bench_v';
const WARM_METRIC = 'warm_v';
const JOB = 'bench';
const INFLUX_DB = 'bench';
const POLL_MS = 50;

// ---------------------------------------------------------------------------------------------
// Bodies

/** One push: `samples` gauges of `metric` for connection `conn`, all at time `tsMs`. */
function pushBody(metric: string, conn: number, k: number, samples: number, tsMs: number): Buffer {
  const lines = [`# TYPE ${metric} gauge`];
  for (let s = 0; s < samples; s++) lines.push(`${metric}{c="${conn}",s="${s}"} ${k + s / samples} ${tsMs}`);
  return Buffer.from(lines.join('\n') + '\n');
}

/** How many of `total` pushes connection `c` makes. */
function share(total: number, connections: number, c: number): number {
  return Math.floor(total / connections) + (c < total % connections ? 1 : 0);
}

function makeBodies(metric: string, total: number, connections: number, samples: number, t0: number): Buffer[][] {
  const out: Buffer[][] = [];
  for (let c = 0; c < connections; c++) {
    const n = share(total, connections, c);
    out.push(Array.from({ length: n }, (_, k) => pushBody(metric, c, k, samples, t0 + k)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pusher

function put(agent: http.Agent, url: URL, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'PUT',
        agent,
        headers: { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Length': body.length },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('push timed out after 60 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Each connection pushes its bodies in order, one at a time; 503 (queue full) is retried. */
async function pushAll(baseUrl: string, bodies: Buffer[][]): Promise<{ refused: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: bodies.length });
  let refused = 0;
  try {
    await Promise.all(
      bodies.map(async (list, conn) => {
        // A group per connection (its series carry c=<conn> anyway): a PUT replaces its group,
        // and one group shared by all would end the other connections' series at every push.
        const url = new URL(`${baseUrl}/metrics/job/${JOB}/c/${conn}`);
        for (const body of list) {
          for (;;) {
            const res = await put(agent, url, body);
            if (res.status >= 200 && res.status < 300) break;
            if (res.status === 503) {
              refused++;
              await sleep(20);
              continue;
            }
            throw new Error(`push got HTTP ${res.status}: ${res.text.slice(0, 300)}`);
          }
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return { refused };
}

// ---------------------------------------------------------------------------------------------
// The agent

interface RunningAgent {
  pid: number;
  baseUrl: string;
  logFile: string;
  child: ChildProcess;
  close(): Promise<void>;
}

function sinkTable(backend: RunningBackend, durable: boolean, extra: string[]): string {
  const head =
    backend.name === 'influxdb'
      ? `[[sinks.influxdb]]\n  url = "${backend.url}/write?db=${INFLUX_DB}&precision=ns"`
      : `[[sinks.prometheus_remote_write]]\n  url = "${backend.url}/api/v1/write"`;
  return [head, `  durable = ${durable}`, ...extra.map((l) => `  ${l}`)].join('\n') + '\n';
}

async function startAgent(backend: RunningBackend, durable: boolean, extra: string[]): Promise<RunningAgent> {
  const scratch = scratchDir('pushkit-bench-agent-');
  const dir = scratch.path;
  const confDir = join(dir, 'conf.d');
  mkdirSync(confDir);
  const port = await freePort();
  writeFileSync(
    join(confDir, 'agent.conf'),
    `[agent]
  data_dir = ${JSON.stringify(join(dir, 'data'))}
  shutdown_timeout = "30s"

[http]
  listen = "127.0.0.1:${port}"

[log]
  level = "warn"
  format = "json"

[[inputs.pushgateway]]

${sinkTable(backend, durable, extra)}`,
  );
  const logFile = join(dir, 'agent.log');
  // The built agent, as a deployment runs it; only what its conf says, no ENV_* of the caller.
  // BENCH_AGENT_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") go to its node, to profile it.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: dir };
  const nodeArgs = (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawnLogged(process.execPath, [...nodeArgs, 'dist/core/cli.js', 'run', '--conf-dir', confDir], logFile, { cwd: REPO_ROOT, env });
  const baseUrl = `http://127.0.0.1:${port}`;
  const close = async () => {
    await stop(child, 35_000);
    scratch.remove();
  };
  try {
    await waitReady(`${baseUrl}/-/ready`, child, 30_000);
  } catch (err) {
    const log = tail(logFile);
    await close();
    throw new Error(`agent: ${(err as Error).message}${log ? `\n--- agent log tail ---\n${log}` : ''}`);
  }
  return { pid: child.pid!, baseUrl, logFile, child, close };
}

/** Sums every series of the named counters in the agent's own /metrics. */
async function agentCounters(baseUrl: string, names: string[]): Promise<Record<string, number>> {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`agent GET /metrics: HTTP ${res.status}`);
  const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (m && m[1] in out) out[m[1]] += Number(m[3]);
  }
  return out;
}

function diskWriteBytes(pid: number): number | undefined {
  try {
    const m = /^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const SENT = 'pushkit_sink_points_sent_total';
const DEAD = 'pushkit_sink_points_dead_lettered_total';
const BATCH_SUM = 'pushkit_sink_batch_duration_seconds_sum';
const BATCH_COUNT = 'pushkit_sink_batch_duration_seconds_count';

/**
 * Waits until the agent says it sent `sentTarget` points, then until `count()` (the backend's
 * own count) reaches `want`. Returns the elapsed times (from `t0`) of both. Fails early when the
 * agent sets points aside (the backend refused them: they would never arrive).
 */
async function waitDelivered(
  agent: RunningAgent,
  sentTarget: number,
  want: number,
  count: () => Promise<number>,
  t0: number,
  timeoutS: number,
): Promise<{ sentS: number; totalS: number }> {
  const deadline = Date.now() + timeoutS * 1_000;
  let sentS: number | undefined;
  let last = '';
  while (Date.now() < deadline) {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) throw new Error(`agent exited\n${tail(agent.logFile)}`);
    if (sentS === undefined) {
      const c = await agentCounters(agent.baseUrl, [SENT, DEAD]);
      if (c[DEAD] > 0) throw new Error(`the backend refused ${c[DEAD]} points (dead-lettered)\n${tail(agent.logFile, 5)}`);
      last = `agent sent ${c[SENT]} of ${sentTarget}`;
      if (c[SENT] >= sentTarget) sentS = (performance.now() - t0) / 1_000;
    }
    if (sentS !== undefined) {
      const n = await count();
      last = `backend holds ${n} of ${want}`;
      if (n >= want) return { sentS, totalS: (performance.now() - t0) / 1_000 };
    }
    await sleep(POLL_MS);
  }
  throw new Error(`not delivered within ${timeoutS} s after the last push (${last})\n${tail(agent.logFile, 5)}`);
}

// ---------------------------------------------------------------------------------------------
// One run

function describe(o: DeliveryOptions, backend: BackendName, durable: boolean, round: number): DeliveryRun {
  return { backend, durable, round, pushes: o.pushes, points: o.pushes * o.samples, connections: o.connections };
}

async function measure(o: DeliveryOptions, name: BackendName, durable: boolean, round: number): Promise<DeliveryRun> {
  const run = describe(o, name, durable, round);
  const backend = name === 'influxdb' ? await startInfluxDB(INFLUX_DB) : await startPrometheus();
  let agent: RunningAgent | undefined;
  try {
    agent = await startAgent(backend, durable, o.sinkOptions);
    const count = (metric: string, lastTs: number) =>
      name === 'influxdb'
        ? () => influxCount(backend.url, INFLUX_DB, metric.slice(0, metric.indexOf('_')), metric.slice(metric.indexOf('_') + 1))
        : () => prometheusCount(backend.url, metric, lastTs + 1);

    // Warm-up: its own metric, fully delivered before the clock starts.
    const warmTotal = o.warmupPushes * o.connections;
    const warmPoints = warmTotal * o.samples;
    if (warmTotal > 0) {
      const t0 = Date.now();
      await pushAll(agent.baseUrl, makeBodies(WARM_METRIC, warmTotal, o.connections, o.samples, t0));
      await waitDelivered(agent, warmPoints, warmPoints, count(WARM_METRIC, t0 + o.warmupPushes), performance.now(), o.timeoutS);
    }

    // Timestamps after the warm-up's, near now.
    const tsBase = Date.now();
    const bodies = makeBodies(METRIC, o.pushes, o.connections, o.samples, tsBase);
    const lastTs = tsBase + share(o.pushes, o.connections, 0);

    const cpuA0 = cpuSeconds(agent.pid);
    const cpuB0 = cpuSeconds(backend.pid);
    const cpuP0 = process.cpuUsage();
    const disk0 = diskWriteBytes(agent.pid);
    const batches0 = await agentCounters(agent.baseUrl, [BATCH_SUM, BATCH_COUNT]);
    const t0 = performance.now();
    const { refused } = await pushAll(agent.baseUrl, bodies);
    run.pushS = (performance.now() - t0) / 1_000;
    const done = await waitDelivered(agent, warmPoints + run.points, run.points, count(METRIC, lastTs), t0, o.timeoutS);
    const cpuA1 = cpuSeconds(agent.pid);
    const cpuB1 = cpuSeconds(backend.pid);
    const cpuP = process.cpuUsage(cpuP0);
    const disk1 = diskWriteBytes(agent.pid);
    const batches1 = await agentCounters(agent.baseUrl, [BATCH_SUM, BATCH_COUNT]);

    run.peakRssKb = peakRssKb(agent.pid);
    run.refused = refused;
    run.sentS = done.sentS;
    run.totalS = done.totalS;
    run.acceptedPerS = run.points / run.pushS;
    run.pointsPerS = run.points / done.totalS;
    if (cpuA0 !== undefined && cpuA1 !== undefined) run.agentCores = (cpuA1 - cpuA0) / done.totalS;
    if (cpuB0 !== undefined && cpuB1 !== undefined) run.backendCores = (cpuB1 - cpuB0) / done.totalS;
    run.pusherCores = (cpuP.user + cpuP.system) / 1e6 / done.totalS;
    if (disk0 !== undefined && disk1 !== undefined) run.agentDiskBytes = disk1 - disk0;
    run.batches = batches1[BATCH_COUNT] - batches0[BATCH_COUNT];
    const busyS = batches1[BATCH_SUM] - batches0[BATCH_SUM];
    if (run.batches > 0) run.batchMs = (busyS / run.batches) * 1_000;
    run.sinkBusy = busyS / done.totalS;
    return run;
  } catch (err) {
    const msg = (err as Error).message;
    const blog = tail(backend.logFile, 5);
    throw new Error(blog && !msg.includes(blog) ? `${msg}\n--- ${name} log tail ---\n${blog}` : msg);
  } finally {
    await agent?.close();
    await backend.close();
  }
}

/**
 * Every round runs, per backend, durable and non-durable back to back, the order flipped each
 * round. A failed run is recorded with its error and the others still run.
 */
export async function runDeliveryBench(o: DeliveryOptions): Promise<DeliveryRun[]> {
  const runs: DeliveryRun[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    for (const backend of o.backends) {
      const order = round % 2 === 1 ? [true, false] : [false, true];
      for (const durable of order) {
        o.log(
          `delivery: round ${round}/${o.rounds}, ${backend}, durable=${durable}: ${num(o.pushes)} pushes x ${num(o.samples)} samples, ` +
            `${o.connections} conns`,
        );
        try {
          const r = await measure(o, backend, durable, round);
          o.log(`delivery:   ${num(r.pointsPerS)} points/s end to end (${num(r.totalS, 2)} s; pushes answered after ${num(r.pushS, 2)} s)`);
          runs.push(r);
        } catch (err) {
          const msg = (err as Error).message;
          o.log(`delivery:   FAILED: ${msg.split('\n')[0]}`);
          runs.push({ ...describe(o, backend, durable, round), error: msg });
        }
      }
    }
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Summary and report

export interface DeliverySummary {
  backend: BackendName;
  /** Median end-to-end points/s over the rounds. */
  durablePerS?: number;
  memoryPerS?: number;
  /** Median over rounds of (durable / non-durable) within the round. */
  ratio?: number;
  /** Median over rounds of the accepted-points/s ratio (how fast pushes are answered). */
  acceptedRatio?: number;
  durablePeakRssKb?: number;
  memoryPeakRssKb?: number;
  rounds: number;
}

export function deliverySummary(runs: DeliveryRun[]): DeliverySummary[] {
  const backends = [...new Set(runs.map((r) => r.backend))];
  return backends.map((backend) => {
    const ok = runs.filter((r) => r.backend === backend && !r.error);
    const of = (durable: boolean) => ok.filter((r) => r.durable === durable);
    const rounds = [...new Set(ok.map((r) => r.round))];
    const ratios: number[] = [];
    const accepted: number[] = [];
    for (const round of rounds) {
      const d = ok.find((r) => r.round === round && r.durable);
      const m = ok.find((r) => r.round === round && !r.durable);
      const x = div(d?.pointsPerS, m?.pointsPerS);
      if (x !== undefined) ratios.push(x);
      const y = div(d?.acceptedPerS, m?.acceptedPerS);
      if (y !== undefined) accepted.push(y);
    }
    const peak = (xs: DeliveryRun[]) => {
      const v = xs.map((r) => r.peakRssKb).filter((x): x is number => x !== undefined);
      return v.length ? Math.max(...v) : undefined;
    };
    return {
      backend,
      durablePerS: median(of(true).map((r) => r.pointsPerS!)),
      memoryPerS: median(of(false).map((r) => r.pointsPerS!)),
      ratio: median(ratios),
      acceptedRatio: median(accepted),
      durablePeakRssKb: peak(of(true)),
      memoryPeakRssKb: peak(of(false)),
      rounds: ratios.length,
    };
  });
}

export function deliveryReport(runs: DeliveryRun[]): string {
  const rows = runs.map((r) =>
    r.error
      ? [r.backend, r.durable ? 'yes' : 'no', String(r.round), 'error', ...Array<string>(14).fill('')]
      : [
          r.backend,
          r.durable ? 'yes' : 'no',
          String(r.round),
          num(r.points),
          num(r.pushS, 2),
          num(r.acceptedPerS),
          num(r.sentS, 2),
          num(r.totalS, 2),
          num(r.pointsPerS),
          num(r.refused),
          num(r.batches),
          num(r.batchMs, 1),
          num(r.sinkBusy, 2),
          num(r.agentCores, 2),
          num(r.backendCores, 2),
          num(r.pusherCores, 2),
          r.agentDiskBytes === undefined ? '-' : mib(r.agentDiskBytes / 1024),
          mib(r.peakRssKb),
        ],
  );
  const out = [
    table(
      [
        'backend', 'durable', 'round', 'points', 'push s', 'accepted/s', 'sent s', 'stored s', 'points/s', '503s',
        'batches', 'batch ms', 'sink busy', 'agent cores', 'backend cores', 'pusher cores', 'agent disk', 'agent peak RSS',
      ],
      rows,
    ),
    '',
    'durable / non-durable (points/s: median of the runs; ratio: median of the per-round ratios):',
    table(
      ['backend', 'durable points/s', 'non-durable points/s', 'end to end', 'accepted', 'rounds', 'peak RSS durable', 'peak RSS non-durable'],
      deliverySummary(runs).map((s) => [
        s.backend,
        num(s.durablePerS),
        num(s.memoryPerS),
        ratio(s.ratio),
        ratio(s.acceptedRatio),
        String(s.rounds),
        mib(s.durablePeakRssKb),
        mib(s.memoryPeakRssKb),
      ]),
    ),
    '',
    'push s: first push until every push was answered; sent s: until the agent counted every point sent;',
    'stored s: until the backend\'s own count query returned every point (points/s = points / stored s).',
    '503s: pushes refused because the sink queue was full (pushed again 20 ms later); batch ms: mean time of one sink',
    'write (read from the queue, encode, send, answer); sink busy: time in sink writes / stored s; cores: CPU s / stored s',
    '(pusher: this process, which also polls); agent disk: bytes the agent wrote (its disk queue).',
  ];
  for (const r of runs.filter((x) => x.error)) out.push('', `error: ${r.backend} durable=${r.durable} round ${r.round}: ${r.error}`);
  return out.join('\n');
}
