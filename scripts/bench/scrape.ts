// Scrape benchmark: how long GET /metrics (text and protobuf) and GET /api/v1/metrics take
// with many groups stored, and how /-/healthy answers meanwhile.
//
// For each case (N groups of S gauges) and target: start a fresh server, fill it (PUT
// /metrics/job/scrape/instance/i<k>, k = 0..N-1, over kept-alive connections), let it settle,
// read its idle RSS, then for each endpoint scrape it once ("first": pushkit writes what changed
// since the last scrape, so its first scrape after the fill writes everything, with its code not
// yet optimised by V8), WARMUP times more unmeasured (as an agent that has run for a while, whose
// code V8 has optimised), then SCRAPES times one after another (the whole answer read), probing
// /-/healthy every ~10 ms on another connection during each scrape; the figure is the median of
// those. A last row, "text, 10% pushed", PUTs a tenth of the groups again (same series, new
// values) before each text scrape: what a scrape costs in a fleet that keeps pushing (the pushes
// are not timed). The reference runs with
// --push.disable-consistency-check: its check gathers the whole store on every push, which
// makes filling 10,000 groups take most of an hour (see groups.ts); it does not change a scrape.
// pushkit runs without max_series (the default would refuse the 1M-series case).
//
// ratio = reference median / pushkit median (above 1: pushkit is faster). Goals (issue 12 and
// 14): each ratio >= 2 at 2,000 and 10,000 groups; /-/healthy p99 < 100 ms during the scrapes.

import http from 'node:http';
import { readFileSync } from 'node:fs';
import { div, median, mib, num, ratio, table } from './format.ts';
import { peakRssKb, tail } from './proc.ts';
import { startServer, type RunningServer, type TargetName } from './servers.ts';

export interface ScrapeCase {
  groups: number;
  /** Gauges per group: one series each, or one family of that many series when above GAUGE_FAMILIES. */
  series: number;
}

export interface ScrapeOptions {
  targets: TargetName[];
  cases: ScrapeCase[];
  scrapes: number;
  /** Unmeasured scrapes of each endpoint after the first. */
  warmup: number;
  log: (line: string) => void;
}

const ENDPOINTS = [
  { name: 'text', path: '/metrics', accept: 'text/plain;version=0.0.4', changing: false },
  { name: 'protobuf', path: '/metrics', accept: 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited', changing: false },
  { name: 'json', path: '/api/v1/metrics', accept: 'application/json', changing: false },
  { name: 'text, 10% pushed', path: '/metrics', accept: 'text/plain;version=0.0.4', changing: true },
] as const;
type Endpoint = (typeof ENDPOINTS)[number];
export type EndpointName = Endpoint['name'];

/** Up to this many gauges per group, each is a family of its own (as a batch job's metrics); above, one family of that many series. */
const GAUGE_FAMILIES = 100;
const PROBE_EVERY_MS = 10;
const TIMEOUT_MS = 600_000;

export interface EndpointRun {
  endpoint: EndpointName;
  /** The first scrape's time (not in the median). */
  firstMs?: number;
  /** Each measured scrape's time, in order. */
  ms: number[];
  medianMs?: number;
  bytes?: number;
  probes?: number;
  /** /-/healthy during every scrape of the endpoint, the first included. */
  healthP99Ms?: number;
  healthMaxMs?: number;
  /** /-/healthy during the scrapes after the first (warm-up and measured). */
  laterHealthP99Ms?: number;
}

export interface ScrapeRun {
  target: TargetName;
  groups: number;
  series: number;
  fillS?: number;
  idleRssKb?: number;
  peakRssKb?: number;
  endpoints: EndpointRun[];
  error?: string;
}

export function caseName(c: ScrapeCase): string {
  return `${num(c.groups)} x ${num(c.series)}`;
}

/** "2000x22,10x100000" */
export function parseCases(list: string): ScrapeCase[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^(\d+)x(\d+)$/.exec(s);
      if (!m || Number(m[1]) === 0 || Number(m[2]) === 0) throw new Error(`bad scrape case "${s}" (expected GROUPSxSERIES, e.g. 2000x22)`);
      return { groups: Number(m[1]), series: Number(m[2]) };
    });
}

/** A group's push: `series` gauges, the same names in every group; values change with k (and round). */
function groupBody(k: number, series: number, round = 0): Buffer {
  k += round * 1_000_003;
  const lines: string[] = [];
  if (series <= GAUGE_FAMILIES) {
    for (let i = 0; i < series; i++) {
      const name = `scrape_gauge_${String(i).padStart(2, '0')}`;
      lines.push(`# HELP ${name} Gauge ${i} of the scrape benchmark.`, `# TYPE ${name} gauge`, `${name} ${((k * 7919 + i * 104729) % 1_000_003) / 7}`);
    }
  } else {
    lines.push('# HELP scrape_series A series of the scrape benchmark.', '# TYPE scrape_series gauge');
    for (let i = 0; i < series; i++) lines.push(`scrape_series{shard="${i % 64}",series="s${i}"} ${((k + 1) * i) % 1_000_003}`);
  }
  return Buffer.from(lines.join('\n') + '\n');
}

interface Answer {
  status: number;
  bytes: number;
  text?: string;
  ms: number;
}

function request(agent: http.Agent, url: string, method: string, body?: Buffer, accept?: string, keepText = false): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body) headers['Content-Length'] = body.length;
    if (accept) headers.Accept = accept;
    const req = http.request(url, { method, agent, headers, timeout: TIMEOUT_MS }, (res) => {
      let bytes = 0;
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        if (keepText) chunks.push(d);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: performance.now() - t0, ...(keepText ? { text: Buffer.concat(chunks).toString() } : {}) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** PUTs groups[0..]: the fill with round 0, a later round to push them again with other values. */
async function push(baseUrl: string, c: ScrapeCase, groups: number[], round: number): Promise<void> {
  // Large bodies one at a time: a client may hold only a share of pushkit's max_inflight_bytes.
  const connections = c.series > GAUGE_FAMILIES ? 1 : 4;
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(connections, groups.length) }, async () => {
        for (let at = next++; at < groups.length; at = next++) {
          const k = groups[at];
          const r = await request(agent, `${baseUrl}/metrics/job/scrape/instance/i${k}`, 'PUT', groupBody(k, c.series, round), undefined, true);
          if (r.status < 200 || r.status > 299) throw new Error(`push: group i${k} answered HTTP ${r.status}: ${r.text?.slice(0, 300)}`);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
}

function rssKb(pid: number): number | undefined {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
  return m ? Number(m[1]) : undefined;
}

function p99(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)];
}

/** Scrapes one endpoint once, `warmup` times more, and then `scrapes` times measured, probing /-/healthy meanwhile. */
async function scrapeEndpoint(server: RunningServer, c: ScrapeCase, e: Endpoint, warmup: number, scrapes: number): Promise<EndpointRun> {
  const scrapeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const run: EndpointRun = { endpoint: e.name, ms: [] };
  const health: number[] = [];
  const later: number[] = [];
  const tenth = Array.from({ length: Math.max(1, Math.round(c.groups / 10)) }, (_, i) => (i * 10) % c.groups);
  try {
    for (let i = 0; i <= warmup + scrapes; i++) {
      if (e.changing) await push(server.baseUrl, c, tenth, i + 1);
      let done = false;
      const scrape = request(scrapeAgent, server.baseUrl + e.path, 'GET', undefined, e.accept).finally(() => (done = true));
      while (!done) {
        const h = await request(probeAgent, `${server.baseUrl}/-/healthy`, 'GET');
        if (h.status !== 200) throw new Error(`/-/healthy answered HTTP ${h.status}`);
        health.push(h.ms);
        if (i > 0) later.push(h.ms);
        await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
      }
      const r = await scrape;
      if (r.status !== 200) throw new Error(`GET ${e.path} (${e.name}) answered HTTP ${r.status}`);
      if (i === 0) run.firstMs = r.ms;
      else if (i > warmup) run.ms.push(r.ms);
      run.bytes = r.bytes;
    }
  } finally {
    scrapeAgent.destroy();
    probeAgent.destroy();
  }
  run.medianMs = median(run.ms);
  run.probes = health.length;
  run.healthP99Ms = p99(health);
  run.healthMaxMs = health.length ? Math.max(...health) : undefined;
  run.laterHealthP99Ms = p99(later);
  return run;
}

async function measure(target: TargetName, c: ScrapeCase, o: ScrapeOptions): Promise<ScrapeRun> {
  const run: ScrapeRun = { target, groups: c.groups, series: c.series, endpoints: [] };
  let server: RunningServer | undefined;
  const saved = process.env.ENV_INPUT_PUSHGATEWAY_MAX_SERIES;
  process.env.ENV_INPUT_PUSHGATEWAY_MAX_SERIES = '0';
  try {
    server = await startServer(target, { referenceArgs: ['--push.disable-consistency-check'] });
  } finally {
    if (saved === undefined) delete process.env.ENV_INPUT_PUSHGATEWAY_MAX_SERIES;
    else process.env.ENV_INPUT_PUSHGATEWAY_MAX_SERIES = saved;
  }
  try {
    const t0 = performance.now();
    await push(server.baseUrl, c, Array.from({ length: c.groups }, (_, k) => k), 0);
    run.fillS = (performance.now() - t0) / 1000;
    // Pushed points reach the file sink, the collector settles.
    await new Promise((r) => setTimeout(r, 3000));
    run.idleRssKb = rssKb(server.pid);
    for (const e of ENDPOINTS) {
      const r = await scrapeEndpoint(server, c, e, o.warmup, o.scrapes);
      run.endpoints.push(r);
      o.log(`scrape:   ${e.name}: first ${num(r.firstMs)} ms, then ${r.ms.map((ms) => num(ms)).join(', ')} ms, ${num(r.bytes)} bytes; /-/healthy p99 ${num(r.healthP99Ms, 1)} ms, max ${num(r.healthMaxMs, 1)} ms (${r.probes} probes)`);
    }
    run.peakRssKb = peakRssKb(server.pid);
    if (run.peakRssKb === undefined) throw new Error(`server process ${server.pid} died during the run`);
    return run;
  } catch (err) {
    const msg = (err as Error).message;
    const log = tail(server.logFile, 10);
    throw Object.assign(new Error(log && !msg.includes(log) ? `${msg}\n--- ${target} log tail ---\n${log}` : msg), { partial: run });
  } finally {
    await server.close();
  }
}

export async function runScrapeBench(o: ScrapeOptions): Promise<ScrapeRun[]> {
  const runs: ScrapeRun[] = [];
  for (const c of o.cases) {
    for (const target of o.targets) {
      o.log(`scrape: ${target}, ${caseName(c)} gauges: fill, then ${o.scrapes} scrapes of each of ${ENDPOINTS.map((e) => e.name).join(', ')}`);
      try {
        const r = await measure(target, c, o);
        o.log(`scrape:   filled in ${num(r.fillS, 1)} s; RSS idle ${mib(r.idleRssKb)}, peak ${mib(r.peakRssKb)}`);
        runs.push(r);
      } catch (err) {
        const msg = (err as Error).message;
        o.log(`scrape:   FAILED: ${msg.split('\n')[0]}`);
        runs.push({ ...((err as { partial?: ScrapeRun }).partial ?? { target, groups: c.groups, series: c.series, endpoints: [] }), error: msg });
      }
    }
  }
  return runs;
}

export interface ScrapeRatio {
  groups: number;
  series: number;
  endpoint: EndpointName;
  /** reference median / pushkit median. */
  ratio?: number;
  pushkitHealthP99Ms?: number;
}

export function scrapeRatios(runs: ScrapeRun[]): ScrapeRatio[] {
  const out: ScrapeRatio[] = [];
  const cases = [...new Map(runs.map((r) => [`${r.groups}x${r.series}`, r])).values()];
  for (const c of cases) {
    const at = (t: TargetName, e: EndpointName) => runs.find((r) => r.target === t && r.groups === c.groups && r.series === c.series && !r.error)?.endpoints.find((x) => x.endpoint === e);
    for (const e of ENDPOINTS) {
      out.push({ groups: c.groups, series: c.series, endpoint: e.name, ratio: div(at('reference', e.name)?.medianMs, at('pushkit', e.name)?.medianMs), pushkitHealthP99Ms: at('pushkit', e.name)?.healthP99Ms });
    }
  }
  return out;
}

export function scrapeReport(runs: ScrapeRun[]): string {
  const rows = runs.flatMap((r) =>
    r.error
      ? [[r.target, `${num(r.groups)} x ${num(r.series)}`, 'error', '', '', '', '', '', '', '', '', '']]
      : r.endpoints.map((e) => [
          r.target,
          `${num(r.groups)} x ${num(r.series)}`,
          e.endpoint,
          num(e.bytes),
          num(e.firstMs),
          num(e.medianMs),
          num(e.healthP99Ms, 1),
          num(e.healthMaxMs, 1),
          num(e.laterHealthP99Ms, 1),
          String(e.probes ?? ''),
          mib(r.idleRssKb),
          mib(r.peakRssKb),
        ]),
  );
  const ratios = scrapeRatios(runs);
  const out = [
    table(['target', 'groups x gauges', 'endpoint', 'bytes', 'first ms', 'median ms', 'healthy p99 ms', 'healthy max ms', 'p99 after first', 'probes', 'idle RSS', 'peak RSS'], rows),
    '',
    'ratio = reference median / pushkit median (above 1: pushkit faster); goals: >= 2x at 2,000 and 10,000 groups, /-/healthy p99 < 100 ms:',
    table(
      ['groups x gauges', 'endpoint', 'ratio', 'goal', 'pushkit healthy p99 ms', 'goal'],
      ratios.map((x) => {
        const fleet = x.series <= GAUGE_FAMILIES && (x.groups === 2000 || x.groups === 10000);
        return [
          `${num(x.groups)} x ${num(x.series)}`,
          x.endpoint,
          ratio(x.ratio),
          fleet ? (x.ratio === undefined ? 'n/a' : x.ratio >= 2 ? 'PASS' : 'MISS') : '',
          num(x.pushkitHealthP99Ms, 1),
          x.pushkitHealthP99Ms === undefined ? 'n/a' : x.pushkitHealthP99Ms < 100 ? 'PASS' : 'MISS',
        ];
      }),
    ),
    '',
    `Each run: a fresh server, N groups PUT (${GAUGE_FAMILIES} gauges or fewer: one family each, the same names in every group;`,
    'more: one family of that many series per group), then each endpoint scraped once ("first"), then unmeasured warm-up',
    'scrapes, then the measured times,',
    'one after another; "text, 10% pushed": a tenth of the groups PUT again before each scrape. healthy p99/max: /-/healthy',
    'during all of them; "p99 after first": during all but the first. idle RSS: after the fill and 3 s of rest; peak',
    'RSS: the most over the run (fill included).',
  ];
  for (const r of runs.filter((x) => x.error)) out.push('', `error: ${r.target} ${num(r.groups)} x ${num(r.series)}: ${r.error}`);
  return out.join('\n');
}
