// Groups benchmark: push latency as a function of how many groups the server holds.
//
// For each round, target and group count N: start a fresh server (as the http benchmark
// starts it), fill it with N groups (PUT /metrics/job/bench/instance/i<k>, k = 0..N-1, over a
// pool of kept-alive connections), check every fill push was accepted and that the server
// holds N groups (GET /api/v1/metrics, when the server answers it), warm up, then measure
// pushes that replace existing groups with wrk, one connection and one thread (latency, not
// throughput): each request goes to a random existing group, with a body of the same shape as
// the fill's and other values. Afterwards the server must still hold exactly N groups (a push
// that created a group instead of replacing one would show there).
//
// Every group carries the same 10 metric names with the same HELP texts (a counter, a counter
// and a gauge with a label, plain gauges, an info-style gauge, a histogram and a summary), so
// that names collide across groups as they do in a real fleet: a server that checks the
// consistency of a push against every stored group (as the reference Pushgateway does, by
// gathering its whole store on every push) pays for N; one that indexes per name should not.
//
// Rounds alternate the order of the targets and of the group counts, to spread the drift of
// this machine's speed; the summary takes medians over the rounds, and the growth of a target
// (p50 at the largest N / p50 at the smallest) is the median of its per-round ratios.

import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countSamples, prng } from './bodies.ts';
import { div, median, mib, num, ratio, table } from './format.ts';
import { cpuSeconds, peakRssKb, scratchDir, tail } from './proc.ts';
import { startServer, type RunningServer, type TargetName } from './servers.ts';
import { runWrk } from './wrk.ts';

const LUA_SCRIPT = fileURLToPath(new URL('./groups.lua', import.meta.url));
const JOB = 'bench';
const PATH_PREFIX = `/metrics/job/${JOB}/instance/i`;
/** Distinct bodies (values) the measured pushes take in turn. */
const VARIANTS = 8;
const PUSH_TIMEOUT_MS = 120_000;
const PROGRESS_MS = 60_000;

export interface GroupsOptions {
  targets: TargetName[];
  /** Group counts N, ascending. */
  counts: number[];
  rounds: number;
  /** Measured wrk seconds per run. */
  seconds: number;
  /** wrk warm-up seconds per run (0: none). */
  warmupS: number;
  /** Concurrent connections of the fill. */
  fillConnections: number;
  /** wrk per-request timeout. */
  timeoutS: number;
  /** Method of the measured pushes (the fill always PUTs). */
  method: 'PUT' | 'POST';
  log: (line: string) => void;
}

export interface GroupRun {
  target: TargetName;
  groups: number;
  round: number;
  method: 'PUT' | 'POST';
  seconds: number;
  /** Seconds the fill took, and its rate. */
  fillS?: number;
  fillPerS?: number;
  /** Groups the server reported after the fill and after the run; absent when not checked. */
  storedAfterFill?: number;
  storedAfterRun?: number;
  requests?: number;
  pushesPerS?: number;
  p50Ms?: number;
  p90Ms?: number;
  p99Ms?: number;
  maxMs?: number;
  non2xx?: number;
  non2xxByStatus?: Record<string, number>;
  socketErrors?: number;
  peakRssKb?: number;
  serverCores?: number;
  notes?: string[];
  error?: string;
}

// ---------------------------------------------------------------------------------------------
// Bodies

/**
 * One group's push: 10 metric names, 22 samples, identical names, types, HELP texts and label
 * names in every group and every variant; only the values change with `seed`.
 */
export function groupBody(seed: number): Buffer {
  const rnd = prng(seed * 7919 + 17);
  const int = (max: number) => Math.floor(rnd() * max);
  const out: string[] = [];
  const family = (name: string, type: string, help: string, samples: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
  };
  family('batch_records_processed_total', 'counter', 'Records processed by the batch job.', [
    `batch_records_processed_total ${int(1e7)}`,
  ]);
  family('batch_errors_total', 'counter', 'Errors the batch job hit, by kind.', [
    `batch_errors_total{kind="timeout"} ${int(100)}`,
    `batch_errors_total{kind="invalid"} ${int(100)}`,
  ]);
  family('batch_queue_depth', 'gauge', 'Items waiting when the run ended, by queue.', [
    `batch_queue_depth{queue="high"} ${int(500)}`,
    `batch_queue_depth{queue="low"} ${int(5000)}`,
  ]);
  family('batch_last_success_timestamp_seconds', 'gauge', 'Unix time of the last successful run.', [
    `batch_last_success_timestamp_seconds ${1_700_000_000 + int(1e7)}`,
  ]);
  family('batch_last_duration_seconds', 'gauge', 'Duration of the last run.', [
    `batch_last_duration_seconds ${(rnd() * 600).toFixed(3)}`,
  ]);
  family('batch_in_progress', 'gauge', 'Whether a run is in progress.', [`batch_in_progress ${int(2)}`]);
  family('batch_peak_memory_bytes', 'gauge', 'Peak resident memory of the last run.', [
    `batch_peak_memory_bytes ${int(4e9)}`,
  ]);
  family('batch_build_info', 'gauge', 'Version of the batch job.', [
    `batch_build_info{version="1.4.2",revision="9f3c2ab"} 1`,
  ]);
  let cumulative = 0;
  const buckets = ['0.05', '0.25', '1', '5', '+Inf'].map((le) => {
    if (le !== '+Inf') cumulative += int(50);
    return `batch_step_duration_seconds_bucket{le="${le}"} ${cumulative}`;
  });
  family('batch_step_duration_seconds', 'histogram', 'Duration of the steps of the last run.', [
    ...buckets,
    `batch_step_duration_seconds_sum ${(cumulative * rnd() * 2).toFixed(3)}`,
    `batch_step_duration_seconds_count ${cumulative}`,
  ]);
  let q = rnd() * 0.01;
  const quantiles = ['0.5', '0.9', '0.99'].map((quantile) => {
    q += rnd() * 0.05;
    return `batch_upstream_latency_seconds{quantile="${quantile}"} ${q.toFixed(6)}`;
  });
  const count = 1 + int(1e5);
  family('batch_upstream_latency_seconds', 'summary', 'Latency of requests to the upstream service.', [
    ...quantiles,
    `batch_upstream_latency_seconds_sum ${(count * q * 0.6).toFixed(3)}`,
    `batch_upstream_latency_seconds_count ${count}`,
  ]);
  return Buffer.from(out.join('\n') + '\n');
}

export const GROUP_SAMPLES = countSamples(groupBody(0));

// ---------------------------------------------------------------------------------------------
// Fill and check

function send(agent: http.Agent, url: string, method: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Length': body.length },
        timeout: PUSH_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`push timed out after ${PUSH_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * PUTs groups 0..n-1 over `connections` kept-alive connections; throws unless all were
 * accepted. Logs progress every PROGRESS_MS (filling the reference takes minutes at 10,000).
 */
async function fill(baseUrl: string, n: number, connections: number, log: (line: string) => void): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const t0 = performance.now();
  let next = 0;
  const progress = setInterval(
    () => log(`groups:   filled ${num(next)} of ${num(n)} groups after ${num((performance.now() - t0) / 1_000)} s`),
    PROGRESS_MS,
  );
  let rejected = 0;
  const byStatus: Record<string, number> = {};
  let first: string | undefined;
  try {
    await Promise.all(
      Array.from({ length: Math.min(connections, n) }, async () => {
        for (let k = next++; k < n; k = next++) {
          const res = await send(agent, `${baseUrl}${PATH_PREFIX}${k}`, 'PUT', groupBody(VARIANTS + k));
          if (res.status < 200 || res.status > 299) {
            rejected++;
            byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
            first ??= `i${k}: HTTP ${res.status} ${res.text.trim().slice(0, 300)}`;
          }
        }
      }),
    );
  } finally {
    clearInterval(progress);
    agent.destroy();
  }
  if (rejected > 0) {
    throw new Error(`fill: ${num(rejected)} of ${num(n)} pushes not accepted ${JSON.stringify(byStatus)}; first: ${first}`);
  }
}

/**
 * How many groups the server holds, from GET /api/v1/metrics (the Pushgateway's status API:
 * `{"status":"success","data":[{"labels":{...},"last_push_successful":true,...},...]}`).
 * Throws when a group is not ours or its last push failed. Returns a note instead of a count
 * when the server does not answer 200 there, or answers in another shape (pushkit may not
 * serve the API yet).
 */
async function storedGroups(baseUrl: string): Promise<{ count?: number; note?: string }> {
  const res = await fetch(`${baseUrl}/api/v1/metrics`, { signal: AbortSignal.timeout(PUSH_TIMEOUT_MS) });
  const text = await res.text();
  if (res.status !== 200) return { note: `GET /api/v1/metrics answered HTTP ${res.status}: group count not checked` };
  let data: unknown;
  try {
    data = (JSON.parse(text) as { data?: unknown }).data;
  } catch {
    data = undefined;
  }
  if (!Array.isArray(data)) return { note: 'GET /api/v1/metrics answered 200 but not {"data": [...]}: group count not checked' };
  for (const g of data as Array<{ labels?: Record<string, string>; last_push_successful?: boolean }>) {
    const labels = g.labels ?? {};
    if (labels.job !== JOB || !/^i\d+$/.test(labels.instance ?? '')) {
      throw new Error(`the server holds a group that is not ours: ${JSON.stringify(labels)}`);
    }
    if (g.last_push_successful === false) throw new Error(`last push to group ${JSON.stringify(labels)} failed`);
  }
  return { count: data.length };
}

// ---------------------------------------------------------------------------------------------
// One run

function describe(target: TargetName, groups: number, round: number, o: GroupsOptions): GroupRun {
  return { target, groups, round, method: o.method, seconds: o.seconds };
}

async function measure(target: TargetName, groups: number, round: number, o: GroupsOptions, bodyDir: string): Promise<GroupRun> {
  const run = describe(target, groups, round, o);
  const notes: string[] = [];
  let server: RunningServer | undefined;
  try {
    server = await startServer(target);
    const t0 = performance.now();
    await fill(server.baseUrl, groups, o.fillConnections, o.log);
    run.fillS = (performance.now() - t0) / 1_000;
    run.fillPerS = groups / run.fillS;

    const check = async (when: string): Promise<number | undefined> => {
      const s = await storedGroups(server!.baseUrl);
      if (s.note !== undefined) {
        if (!notes.includes(s.note)) notes.push(s.note);
        return undefined;
      }
      if (s.count !== groups) throw new Error(`${when}: the server holds ${num(s.count)} groups, not ${num(groups)}`);
      return s.count;
    };
    run.storedAfterFill = await check('after the fill');

    const wrkOpts = {
      url: server.baseUrl + PATH_PREFIX + '0',
      method: o.method,
      connections: 1,
      threads: 1,
      timeoutS: o.timeoutS,
      script: LUA_SCRIPT,
      env: {
        GROUPS_N: String(groups),
        GROUPS_PATH_PREFIX: PATH_PREFIX,
        GROUPS_BODY_DIR: bodyDir,
        GROUPS_BODIES: String(VARIANTS),
      },
    };
    if (o.warmupS > 0) {
      const w = await runWrk({ ...wrkOpts, durationS: o.warmupS });
      if (w.non2xx > 0) throw new Error(`warm-up: ${w.non2xx} pushes not accepted ${JSON.stringify(w.non2xxByStatus)}`);
    }
    const cpu0 = cpuSeconds(server.pid);
    const w = await runWrk({ ...wrkOpts, durationS: o.seconds });
    const cpu1 = cpuSeconds(server.pid);
    run.peakRssKb = peakRssKb(server.pid);
    if (run.peakRssKb === undefined) throw new Error(`server process ${server.pid} died during the run`);

    run.requests = w.requests;
    run.non2xx = w.non2xx;
    run.non2xxByStatus = w.non2xxByStatus;
    run.socketErrors = w.socketErrors.connect + w.socketErrors.read + w.socketErrors.write + w.socketErrors.timeout;
    run.pushesPerS = (w.requests - w.non2xx) / w.durationS;
    run.p50Ms = w.latencyMs.p50;
    run.p90Ms = w.latencyMs.p90;
    run.p99Ms = w.latencyMs.p99;
    run.maxMs = w.latencyMs.max;
    if (cpu0 !== undefined && cpu1 !== undefined) run.serverCores = (cpu1 - cpu0) / w.durationS;
    if (w.requests === 0) throw new Error('wrk completed no request');
    // Latencies of refused pushes would mean nothing: a run with any is an error, not a result.
    if (w.non2xx > 0) throw new Error(`${w.non2xx} of ${w.requests} measured pushes not accepted ${JSON.stringify(w.non2xxByStatus)}`);
    if (run.socketErrors > 0) throw new Error(`${run.socketErrors} socket errors ${JSON.stringify(w.socketErrors)}`);
    run.storedAfterRun = await check('after the run');
    if (target === 'pushkit' && !server.sinkBytes()) notes.push('wrote nothing to its file sink');
    if (notes.length > 0) run.notes = notes;
    return run;
  } catch (err) {
    const msg = (err as Error).message;
    const log = server ? tail(server.logFile, 10) : '';
    throw Object.assign(new Error(log && !msg.includes(log) ? `${msg}\n--- ${target} log tail ---\n${log}` : msg), { partial: run });
  } finally {
    await server?.close();
  }
}

/**
 * Runs every (round, target, N). A failed run is recorded with its error (and whatever it
 * measured before failing, e.g. the fill time) and the others still run.
 */
export async function runGroupsBench(o: GroupsOptions): Promise<GroupRun[]> {
  const runs: GroupRun[] = [];
  const scratch = scratchDir('pushkit-bench-groups-');
  try {
    for (let v = 0; v < VARIANTS; v++) writeFileSync(join(scratch.path, `body-${v}.prom`), groupBody(v));
    for (let round = 1; round <= o.rounds; round++) {
      const targets = round % 2 === 1 ? o.targets : [...o.targets].reverse();
      const counts = round % 2 === 1 ? o.counts : [...o.counts].reverse();
      for (const target of targets) {
        for (const n of counts) {
          o.log(
            `groups: round ${round}/${o.rounds}, ${target}: fill ${num(n)} groups (${o.fillConnections} conns), ` +
              `then ${o.method} ${o.seconds} s, 1 conn`,
          );
          try {
            const r = await measure(target, n, round, o, scratch.path);
            o.log(
              `groups:   fill ${num(r.fillS, 1)} s (${num(r.fillPerS)} pushes/s); ` +
                `p50 ${num(r.p50Ms, 2)} ms, p99 ${num(r.p99Ms, 2)} ms, ${num(r.pushesPerS, 1)} pushes/s`,
            );
            runs.push(r);
          } catch (err) {
            const msg = (err as Error).message;
            o.log(`groups:   FAILED: ${msg.split('\n')[0]}`);
            const partial = (err as { partial?: GroupRun }).partial ?? describe(target, n, round, o);
            runs.push({ ...partial, error: msg });
          }
        }
      }
    }
  } finally {
    scratch.remove();
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Summary and report

export interface GroupPoint {
  target: TargetName;
  groups: number;
  /** Medians over the rounds that succeeded. */
  p50Ms?: number;
  p99Ms?: number;
  pushesPerS?: number;
  fillS?: number;
  rounds: number;
}

export interface GroupGrowth {
  target: TargetName;
  minGroups: number;
  maxGroups: number;
  /** Median over rounds of p50 at maxGroups / p50 at minGroups within the round. */
  p50Ratio?: number;
  rounds: number;
}

export interface GroupsSummary {
  points: GroupPoint[];
  growth: GroupGrowth[];
}

export function groupsSummary(runs: GroupRun[]): GroupsSummary {
  const ok = runs.filter((r) => !r.error);
  const targets = [...new Set(runs.map((r) => r.target))];
  const counts = [...new Set(runs.map((r) => r.groups))].sort((a, b) => a - b);
  const points: GroupPoint[] = [];
  for (const target of targets) {
    for (const groups of counts) {
      const rs = ok.filter((r) => r.target === target && r.groups === groups);
      points.push({
        target,
        groups,
        p50Ms: median(rs.map((r) => r.p50Ms!)),
        p99Ms: median(rs.map((r) => r.p99Ms!)),
        pushesPerS: median(rs.map((r) => r.pushesPerS!)),
        fillS: median(rs.map((r) => r.fillS!)),
        rounds: rs.length,
      });
    }
  }
  const growth: GroupGrowth[] = [];
  if (counts.length >= 2) {
    const [lo, hi] = [counts[0], counts[counts.length - 1]];
    for (const target of targets) {
      const ratios: number[] = [];
      for (const round of new Set(ok.map((r) => r.round))) {
        const at = (n: number) => ok.find((r) => r.target === target && r.round === round && r.groups === n)?.p50Ms;
        const x = div(at(hi), at(lo));
        if (x !== undefined) ratios.push(x);
      }
      growth.push({ target, minGroups: lo, maxGroups: hi, p50Ratio: median(ratios), rounds: ratios.length });
    }
  }
  return { points, growth };
}

export function groupsReport(runs: GroupRun[]): string {
  const stored = (v: number | undefined) => (v === undefined ? 'n/c' : num(v));
  const rows = runs.map((r) =>
    r.error
      ? [r.target, num(r.groups), String(r.round), num(r.fillS, 1), num(r.fillPerS), 'error', ...Array<string>(9).fill('')]
      : [
          r.target,
          num(r.groups),
          String(r.round),
          num(r.fillS, 1),
          num(r.fillPerS),
          r.storedAfterFill === undefined && r.storedAfterRun === undefined
            ? 'n/c'
            : `${stored(r.storedAfterFill)}/${stored(r.storedAfterRun)}`,
          num(r.requests),
          num(r.pushesPerS, 1),
          num(r.p50Ms, 2),
          num(r.p90Ms, 2),
          num(r.p99Ms, 2),
          num(r.maxMs, 2),
          mib(r.peakRssKb),
          num(r.serverCores, 2),
          num(r.non2xx),
        ],
  );
  const s = groupsSummary(runs);
  const targets = [...new Set(s.points.map((p) => p.target))];
  const counts = [...new Set(s.points.map((p) => p.groups))];
  const at = (t: TargetName, n: number) => s.points.find((p) => p.target === t && p.groups === n);
  const out = [
    table(
      ['target', 'groups', 'round', 'fill s', 'fill/s', 'stored', 'pushes', 'pushes/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'peak RSS', 'cpu cores', 'non-2xx'],
      rows,
    ),
    '',
    'median over the rounds, side by side:',
    table(
      ['groups', ...targets.flatMap((t) => [`${t} p50 ms`, `${t} p99 ms`, `${t} pushes/s`])],
      counts.map((n) => [
        num(n),
        ...targets.flatMap((t) => {
          const p = at(t, n);
          return [num(p?.p50Ms, 2), num(p?.p99Ms, 2), num(p?.pushesPerS, 1)];
        }),
      ]),
    ),
  ];
  if (s.growth.length > 0) {
    const g0 = s.growth[0];
    out.push(
      '',
      `growth: p50 at ${num(g0.maxGroups)} groups / p50 at ${num(g0.minGroups)} (median of the per-round ratios):`,
      table(['target', 'ratio', 'rounds'], s.growth.map((g) => [g.target, ratio(g.p50Ratio), String(g.rounds)])),
    );
  }
  out.push(
    '',
    `Each run: a fresh server filled with N groups (${GROUP_SAMPLES} samples of 10 names each, PUT over kept-alive`,
    'connections; fill/s = groups / fill s), then wrk -c1 -t1 replacing random existing groups for the measured seconds',
    `after a warm-up. stored: groups the server listed in GET /api/v1/metrics after the fill / after the run (n/c: not`,
    'checked, see notes).',
  );
  // A note every run of a target shares (e.g. no status API) is printed once for the target.
  for (const target of targets) {
    const mine = runs.filter((r) => r.target === target && !r.error);
    const notes = [...new Set(mine.flatMap((r) => r.notes ?? []))];
    for (const n of notes) {
      const with_ = mine.filter((r) => r.notes?.includes(n));
      if (with_.length === mine.length) out.push(`note: ${target}, every run: ${n}`);
      else for (const r of with_) out.push(`note: ${target} ${num(r.groups)} groups round ${r.round}: ${n}`);
    }
  }
  for (const r of runs.filter((x) => x.error)) out.push('', `error: ${r.target} ${num(r.groups)} groups round ${r.round}: ${r.error}`);
  return out.join('\n');
}
