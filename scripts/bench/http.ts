// End-to-end push benchmark: for each body, start a fresh pushkit and a
// fresh reference Pushgateway (one at a time, so they never compete for the
// two cores), drive each with the same wrk script, and record throughput,
// latency, failures and the server's peak RSS for that body alone.

import type { Body, BodyName } from './bodies.ts';
import { div, mib, num, ratio, table } from './format.ts';
import { cpuSeconds, peakRssKb, tail } from './proc.ts';
import { startServer, type RunningServer, type TargetName } from './servers.ts';
import { runWrk } from './wrk.ts';

export interface HttpOptions {
  bodies: Body[];
  /** Body name -> file holding it (wrk reads the body from disk). */
  bodyFiles: Map<string, string>;
  targets: TargetName[];
  durationS: Record<BodyName, number>;
  connections: Record<BodyName, number>;
  threads: number;
  warmupS: number;
  timeoutS: number;
  method: 'PUT' | 'POST';
  log: (line: string) => void;
}

export interface HttpRun {
  target: TargetName;
  body: string;
  bytes: number;
  samples: number;
  connections: number;
  threads: number;
  durationS: number;
  requests?: number;
  pushesPerS?: number;
  samplesPerS?: number;
  p50Ms?: number;
  p99Ms?: number;
  non2xx?: number;
  non2xxByStatus?: Record<string, number>;
  socketErrors?: number;
  peakRssKb?: number;
  /** Average cores the server kept busy during the measured run. */
  serverCores?: number;
  sinkBytes?: number;
  error?: string;
}

/** The grouping key is the same for every push: the server replaces one group. */
const PUSH_PATH = '/metrics/job/bench';

/** One push outside wrk, so a rejected body fails fast with a readable reason. */
async function probe(server: RunningServer, body: Body, method: string): Promise<void> {
  const res = await fetch(server.baseUrl + PUSH_PATH, {
    method,
    body: new Uint8Array(body.body), // fetch's typings do not accept Buffer
    headers: { 'Content-Type': 'text/plain; version=0.0.4' },
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  if (res.status < 200 || res.status > 299) {
    throw new Error(`probe push got HTTP ${res.status}: ${text.slice(0, 300)}`);
  }
}

/** What a run was asked to do, before anything is measured. */
function describeRun(target: TargetName, body: Body, o: HttpOptions): HttpRun {
  const name = body.name as BodyName;
  return {
    target,
    body: body.name,
    bytes: body.body.length,
    samples: body.samples,
    connections: o.connections[name],
    threads: Math.min(o.threads, o.connections[name]),
    durationS: o.durationS[name],
  };
}

async function measure(target: TargetName, body: Body, o: HttpOptions): Promise<HttpRun> {
  const bodyFile = o.bodyFiles.get(body.name);
  if (!bodyFile) throw new Error(`no file for body ${body.name}`);
  const run = describeRun(target, body, o);
  const server = await startServer(target);
  try {
    await probe(server, body, o.method);
    const wrkOpts = {
      url: server.baseUrl + PUSH_PATH,
      bodyFile,
      method: o.method,
      connections: run.connections,
      threads: o.threads,
      timeoutS: o.timeoutS,
    };
    // Warm-up lets V8 optimise pushkit's hot paths; the reference gets the
    // same treatment so both are measured in the same state.
    if (o.warmupS > 0) await runWrk({ ...wrkOpts, durationS: o.warmupS });

    const cpuBefore = cpuSeconds(server.pid);
    const w = await runWrk({ ...wrkOpts, durationS: run.durationS });
    const cpuAfter = cpuSeconds(server.pid);

    // Read before stopping: VmHWM disappears with the process.
    run.peakRssKb = peakRssKb(server.pid);
    if (run.peakRssKb === undefined) {
      throw new Error(`server process ${server.pid} died during the run\n${tail(server.logFile)}`);
    }
    const ok = w.requests - w.non2xx;
    run.requests = w.requests;
    run.pushesPerS = ok / w.durationS;
    run.samplesPerS = run.pushesPerS * body.samples;
    run.p50Ms = w.latencyMs.p50;
    run.p99Ms = w.latencyMs.p99;
    run.non2xx = w.non2xx;
    run.non2xxByStatus = w.non2xxByStatus;
    const se = w.socketErrors;
    run.socketErrors = se.connect + se.read + se.write + se.timeout;
    if (cpuBefore !== undefined && cpuAfter !== undefined) run.serverCores = (cpuAfter - cpuBefore) / w.durationS;
    run.sinkBytes = server.sinkBytes();
    return run;
  } catch (err) {
    const log = tail(server.logFile, 10);
    const msg = (err as Error).message;
    throw new Error(log && !msg.includes(log) ? `${msg}\n--- ${target} log tail ---\n${log}` : msg);
  } finally {
    await server.close();
  }
}

/**
 * Runs every (body, target) pair. A failure of one pair is recorded in its
 * `error` and the rest still run, so one broken target does not hide the
 * other's figures.
 */
export async function runHttpBench(o: HttpOptions): Promise<HttpRun[]> {
  const runs: HttpRun[] = [];
  for (const body of o.bodies) {
    for (const target of o.targets) {
      const name = body.name as BodyName;
      o.log(`http: ${target} <- ${body.name} (${num(body.body.length)} B, ${body.samples} samples), ` +
        `${o.connections[name]} conns, ${o.durationS[name]} s`);
      try {
        runs.push(await measure(target, body, o));
      } catch (err) {
        const msg = (err as Error).message;
        o.log(`http: ${target} <- ${body.name} FAILED: ${msg.split('\n')[0]}`);
        runs.push({ ...describeRun(target, body, o), error: msg });
      }
    }
  }
  return runs;
}

export interface HttpRatio {
  body: string;
  pushesPerS?: number;
  samplesPerS?: number;
  peakRss?: number;
}

/** pushkit / reference for each body where both were measured. */
export function httpRatios(runs: HttpRun[]): HttpRatio[] {
  const bodies = [...new Set(runs.map((r) => r.body))];
  return bodies.map((body) => {
    const pk = runs.find((r) => r.body === body && r.target === 'pushkit' && !r.error);
    const ref = runs.find((r) => r.body === body && r.target === 'reference' && !r.error);
    return {
      body,
      pushesPerS: div(pk?.pushesPerS, ref?.pushesPerS),
      samplesPerS: div(pk?.samplesPerS, ref?.samplesPerS),
      peakRss: div(pk?.peakRssKb, ref?.peakRssKb),
    };
  });
}

export function httpReport(runs: HttpRun[]): string {
  const rows = runs.map((r) =>
    r.error
      ? [r.body, r.target, 'error', '', '', '', '', '', '', '']
      : [
          r.body,
          r.target,
          num(r.pushesPerS, 1),
          num(r.samplesPerS),
          num(r.p50Ms, 2),
          num(r.p99Ms, 2),
          num(r.non2xx),
          num(r.socketErrors),
          mib(r.peakRssKb),
          num(r.serverCores, 2),
        ],
  );
  const out = [
    table(['body', 'target', 'pushes/s', 'samples/s', 'p50 ms', 'p99 ms', 'non-2xx', 'sock err', 'peak RSS', 'cpu cores'], rows),
  ];
  const ratios = httpRatios(runs);
  if (ratios.some((r) => r.pushesPerS !== undefined)) {
    out.push(
      '',
      'pushkit / reference:',
      table(
        ['body', 'pushes/s', 'samples/s', 'peak RSS'],
        ratios.map((r) => [r.body, ratio(r.pushesPerS), ratio(r.samplesPerS), ratio(r.peakRss)]),
      ),
    );
  }
  const errors = runs.filter((r) => r.error);
  for (const r of errors) out.push('', `error: ${r.target} <- ${r.body}: ${r.error}`);
  const bad = runs.filter((r) => r.non2xxByStatus && Object.keys(r.non2xxByStatus).length > 0);
  for (const r of bad) out.push(`note: ${r.target} <- ${r.body} non-2xx by status: ${JSON.stringify(r.non2xxByStatus)}`);
  // pushkit reports success per push; an empty sink would mean it accepted
  // the pushes without emitting points, which would make its figures moot.
  for (const r of runs) {
    if (r.target === 'pushkit' && !r.error && !r.sinkBytes) out.push(`note: pushkit <- ${r.body} wrote nothing to its file sink`);
  }
  return out.join('\n');
}
