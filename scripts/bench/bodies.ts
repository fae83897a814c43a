// Deterministic Prometheus text-format (0.0.4) bodies for the benchmarks.
//
// Every run must push byte-identical bodies to every target, so values come
// from a seeded PRNG rather than Math.random(). The medium and large bodies
// share one recipe (counters, gauges, a histogram and a summary, with 2-3
// labels per series) scaled to a target sample count, so the per-sample cost
// is comparable across sizes.
//
// CLI: `tsx scripts/bench/bodies.ts [--out DIR] [--bodies small,medium,large]`
// writes DIR/<name>.prom (default DIR: .bench/bodies) for goparse and wrk.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface Body {
  name: string;
  body: Buffer;
  /** Sample lines in the body: non-empty lines that are not comments. */
  samples: number;
}

export const BODY_NAMES = ['small', 'medium', 'large'] as const;
export type BodyName = (typeof BODY_NAMES)[number];

const TARGET_SAMPLES: Record<Exclude<BodyName, 'small'>, number> = {
  medium: 1_000,
  large: 100_000,
};

/** Counts sample lines exactly as goparse does, so both sides agree. */
export function countSamples(body: Buffer | string): number {
  let n = 0;
  for (const raw of body.toString('utf8').split('\n')) {
    const line = raw.trim();
    if (line !== '' && !line.startsWith('#')) n++;
  }
  return n;
}

/** mulberry32: tiny, fast, and good enough to make values look organic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Labels = Array<[string, string]>;

function fmtLabels(labels: Labels): string {
  if (labels.length === 0) return '';
  return '{' + labels.map(([k, v]) => `${k}="${v}"`).join(',') + '}';
}

/**
 * Picks one element from each list by treating `i` as a mixed-radix number,
 * so consecutive indices give distinct label combinations. The last list is
 * the most significant digit and grows without wrapping, which keeps every
 * series unique however large the body gets (duplicates would make the
 * reference Pushgateway reject the push).
 */
function combo(i: number, lists: string[][], open: (k: number) => string): string[] {
  const out: string[] = [];
  let rest = i;
  for (const list of lists) {
    out.push(list[rest % list.length]);
    rest = Math.floor(rest / list.length);
  }
  out.push(open(rest));
  return out;
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
const CODES = ['200', '201', '304', '404', '500'];
const DIRECTIONS = ['rx', 'tx'];
const ZONES = ['a', 'b', 'c'];
const RPCS = ['Get', 'List', 'Watch', 'Update'];
const HIST_BOUNDS = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10'];
const QUANTILES = ['0.5', '0.9', '0.99'];

/**
 * Builds the medium/large recipe aiming at `target` sample lines:
 * ~40% counters, ~30% gauges, ~20% histogram and ~10% summary samples.
 */
function mixedBody(target: number, seed: number): string {
  const rnd = prng(seed);
  const out: string[] = [];
  const series = (share: number, perSeries: number) =>
    Math.max(1, Math.round((target * share) / perSeries));

  out.push('# HELP bench_http_requests_total Requests handled, by route, method and status code.');
  out.push('# TYPE bench_http_requests_total counter');
  for (let i = 0, n = series(0.25, 1); i < n; i++) {
    const [method, code, route] = combo(i, [METHODS, CODES], (k) => `/api/v1/items/${k}`);
    const labels: Labels = [['method', method], ['code', code], ['route', route]];
    out.push(`bench_http_requests_total${fmtLabels(labels)} ${Math.floor(rnd() * 1e7)}`);
  }

  out.push('# HELP bench_network_bytes_total Bytes moved per interface and direction.');
  out.push('# TYPE bench_network_bytes_total counter');
  for (let i = 0, n = series(0.15, 1); i < n; i++) {
    const [direction, device] = combo(i, [DIRECTIONS], (k) => `eth${k}`);
    const labels: Labels = [['device', device], ['direction', direction]];
    out.push(`bench_network_bytes_total${fmtLabels(labels)} ${Math.floor(rnd() * 1e12)}`);
  }

  out.push('# HELP bench_queue_depth Items waiting in each work queue shard.');
  out.push('# TYPE bench_queue_depth gauge');
  for (let i = 0, n = series(0.15, 1); i < n; i++) {
    const [zone, queue] = combo(i, [ZONES], (k) => `queue-${k}`);
    const labels: Labels = [['queue', queue], ['zone', zone]];
    out.push(`bench_queue_depth${fmtLabels(labels)} ${Math.floor(rnd() * 500)}`);
  }

  out.push('# HELP bench_sensor_temperature_celsius Last reading of each rack sensor.');
  out.push('# TYPE bench_sensor_temperature_celsius gauge');
  for (let i = 0, n = series(0.15, 1); i < n; i++) {
    const [zone, slot, rack] = combo(i, [ZONES, ['top', 'mid', 'bottom']], (k) => `r${k}`);
    const labels: Labels = [['rack', rack], ['slot', slot], ['zone', zone]];
    out.push(`bench_sensor_temperature_celsius${fmtLabels(labels)} ${(18 + rnd() * 20).toFixed(2)}`);
  }

  // A histogram series is HIST_BOUNDS + "+Inf" buckets, plus _sum and _count.
  const histPer = HIST_BOUNDS.length + 3;
  out.push('# HELP bench_request_duration_seconds Request latency by route and method.');
  out.push('# TYPE bench_request_duration_seconds histogram');
  for (let i = 0, n = series(0.2, histPer); i < n; i++) {
    const [method, route] = combo(i, [METHODS], (k) => `/api/v1/items/${k}`);
    const base: Labels = [['method', method], ['route', route]];
    let cumulative = 0;
    for (const le of HIST_BOUNDS) {
      cumulative += Math.floor(rnd() * 1000);
      out.push(`bench_request_duration_seconds_bucket${fmtLabels([...base, ['le', le]])} ${cumulative}`);
    }
    out.push(`bench_request_duration_seconds_bucket${fmtLabels([...base, ['le', '+Inf']])} ${cumulative}`);
    out.push(`bench_request_duration_seconds_sum${fmtLabels(base)} ${(cumulative * rnd() * 0.3).toFixed(4)}`);
    out.push(`bench_request_duration_seconds_count${fmtLabels(base)} ${cumulative}`);
  }

  // A summary series is its quantiles plus _sum and _count.
  const sumPer = QUANTILES.length + 2;
  out.push('# HELP bench_rpc_latency_seconds RPC latency by service and method.');
  out.push('# TYPE bench_rpc_latency_seconds summary');
  for (let i = 0, n = series(0.1, sumPer); i < n; i++) {
    const [rpc, service] = combo(i, [RPCS], (k) => `svc-${k}`);
    const base: Labels = [['rpc', rpc], ['service', service]];
    let q = rnd() * 0.01;
    for (const quantile of QUANTILES) {
      q += rnd() * 0.05;
      out.push(`bench_rpc_latency_seconds${fmtLabels([...base, ['quantile', quantile]])} ${q.toFixed(6)}`);
    }
    const count = 1 + Math.floor(rnd() * 1e5);
    out.push(`bench_rpc_latency_seconds_sum${fmtLabels(base)} ${(count * q * 0.6).toFixed(3)}`);
    out.push(`bench_rpc_latency_seconds_count${fmtLabels(base)} ${count}`);
  }

  return out.join('\n') + '\n';
}

function bodyText(name: BodyName): string {
  switch (name) {
    case 'small':
      // One sample, ~60 bytes: measures per-request overhead, not parsing.
      return '# TYPE bench_small_gauge gauge\nbench_small_gauge{host="a"} 42\n';
    case 'medium':
      return mixedBody(TARGET_SAMPLES.medium, 0x5eed01);
    case 'large':
      return mixedBody(TARGET_SAMPLES.large, 0x5eed02);
  }
}

export function isBodyName(s: string): s is BodyName {
  return (BODY_NAMES as readonly string[]).includes(s);
}

/** Builds the requested bodies (all three by default), in the given order. */
export function makeBodies(names: readonly BodyName[] = BODY_NAMES): Body[] {
  return names.map((name) => {
    const body = Buffer.from(bodyText(name), 'utf8');
    return { name, body, samples: countSamples(body) };
  });
}

/** Writes each body to DIR/<name>.prom and returns the paths by name. */
export function writeBodies(dir: string, bodies: readonly Body[]): Map<string, string> {
  mkdirSync(dir, { recursive: true });
  const paths = new Map<string, string>();
  for (const b of bodies) {
    const path = join(dir, `${b.name}.prom`);
    writeFileSync(path, b.body);
    paths.set(b.name, path);
  }
  return paths;
}

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const DEFAULT_BODY_DIR = join(REPO_ROOT, '.bench', 'bodies');

function cli(argv: string[]): void {
  let dir = DEFAULT_BODY_DIR;
  let names: BodyName[] = [...BODY_NAMES];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--out' && argv[i + 1]) dir = resolve(argv[++i]);
    else if (arg === '--bodies' && argv[i + 1]) names = parseBodyList(argv[++i]);
    else throw new Error(`bodies: unknown argument ${arg} (use --out DIR, --bodies a,b)`);
  }
  const bodies = makeBodies(names);
  const paths = writeBodies(dir, bodies);
  for (const b of bodies) {
    console.log(`${b.name}\t${b.body.length} bytes\t${b.samples} samples\t${paths.get(b.name)}`);
  }
}

/** Parses "small,large" into body names, rejecting unknown ones. */
export function parseBodyList(list: string): BodyName[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!isBodyName(n)) throw new Error(`unknown body "${n}" (known: ${BODY_NAMES.join(', ')})`);
  }
  if (names.length === 0) throw new Error('empty body list');
  return names as BodyName[];
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  cli(process.argv.slice(2));
}
