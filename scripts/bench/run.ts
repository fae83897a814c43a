// Entry point of `npm run bench`: the HTTP push benchmark, then what TLS and credentials cost a
// push, then what the pushgateway input's aggregating mode costs a push (aggregated against plain
// pushes), then push latency against the number of stored groups, then the parser micro-benchmark
// (text against Go's expfmt, then protobuf against text), then the end-to-end delivery benchmark
// (agent -> sink -> real InfluxDB / Prometheus, durable against non-durable), then the goals,
// printed and saved to .bench/results.json.
//
//   npx tsx scripts/bench/run.ts [--only http|security|aggregate|groups|scrape|parser|formats|delivery] [--bodies small,medium,large]
//       [--duration 10 | small=10,medium=10,large=15] [--connections 4 | large=2]
//       [--threads 1] [--warmup 2] [--parser-seconds 6] [--timeout 30]
//       [--method PUT|POST] [--targets pushkit,reference] [--out FILE]
//       [--backends influxdb,prometheus] [--rounds 2] [--pushes 1000] [--push-samples 1000]
//       [--push-connections 4] [--delivery-warmup 5] [--delivery-timeout 60] [--sink-option 'k = v']...
//       [--group-counts 10,1000,10000] [--group-seconds 10] [--group-rounds 2] [--group-warmup 1]
//       [--group-fill-connections 4]
//       [--security-configs plain,basic,https-basic,bearer,https-bearer] [--security-seconds 8]
//       [--security-rounds 2] [--pin]
//       [--aggregate-seconds 10] [--aggregate-rounds 2] [--aggregate-connections 16]
//       [--scrape-cases 2000x22,10000x22,10x100000] [--scrapes 3] [--scrape-warmup 2]
//
// Every numeric flag can also come from the environment (BENCH_DURATION,
// BENCH_CONNECTIONS, ...); flags win. Exit status is non-zero only when the
// harness itself fails (a server that won't start, a crashed run), never for
// a missed performance goal (a security run with a non-2xx answer is a harness failure).

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BODY_NAMES,
  DEFAULT_BODY_DIR,
  REPO_ROOT,
  makeBodies,
  parseBodyList,
  writeBodies,
  type BodyName,
} from './bodies.ts';
import { BACKENDS, type BackendName } from './backends.ts';
import type { DeliveryRun, DeliverySummary } from './delivery.ts';
import type { HttpRatio, HttpRun } from './http.ts';
import type { AggregateRatio, AggregateRun, AggregateSummary } from './aggregate.ts';
import {
  SECURITY_CONFIGS,
  parseSecurityConfigs,
  runSecurityBench,
  securityPairs,
  securityRatios as ratiosOfSecurity,
  securityReport,
  securitySummary as summaryOfSecurity,
  type SecurityRatio,
  type SecurityRun,
  type SecuritySummary,
} from './security.ts';
import type { ParserRun } from './parse-bench.ts';
import type { FormatRun } from './protobuf.ts';
import type { GroupRun, GroupsSummary } from './groups.ts';
import { parseCases, type ScrapeRatio, type ScrapeRun } from './scrape.ts';
import { installCleanupHandlers, stopAll } from './proc.ts';
import { TARGETS, type TargetName } from './servers.ts';
import { evaluateTargets, targetsReport } from './targets.ts';

const HELP = `usage: npx tsx scripts/bench/run.ts [options]
  --only http|security|aggregate|groups|scrape|parser|formats|delivery  run one benchmark (default: all, in that order)
  --bodies LIST            bodies to use, from small,medium,large (default: all)
  --duration SPEC          wrk seconds: N for all, or small=10,medium=10,large=15 (env BENCH_DURATION)
  --connections SPEC       wrk connections: N or small=4,medium=4,large=2 (env BENCH_CONNECTIONS)
  --threads N              wrk threads, capped at connections (default 1, env BENCH_THREADS)
  --warmup S               http warm-up seconds per run, 0 to skip (default 2, env BENCH_WARMUP)
  --parser-seconds S       timed seconds per body in the parser benchmark, split into 3 alternating rounds (default 6, env BENCH_PARSER_SECONDS)
  --timeout S              wrk per-request timeout (default 30, env BENCH_TIMEOUT)
  --method PUT|POST        push method, also of the groups benchmark's measured pushes (default PUT, env BENCH_METHOD)
  --targets LIST           http and groups targets, from pushkit,reference (default: both, env BENCH_TARGETS)
  --out FILE               JSON results (default .bench/results.json)
 delivery (agent -> sink -> real backend, durable = true against durable = false):
  --backends LIST          from influxdb,prometheus (default: both, env BENCH_BACKENDS)
  --rounds N               rounds, each running every backend durable and non-durable, order alternating (default 2, env BENCH_ROUNDS)
  --pushes N               timed pushes per run (default 1000, env BENCH_PUSHES)
  --push-samples N         samples per push (default 1000, env BENCH_PUSH_SAMPLES)
  --push-connections N     concurrent pushing connections (default 4, env BENCH_PUSH_CONNECTIONS)
  --delivery-warmup N      untimed warm-up pushes per connection, delivered before the clock starts (default 5, env BENCH_DELIVERY_WARMUP)
  --delivery-timeout S     longest wait after the last push for the backend to hold every point (default 60, env BENCH_DELIVERY_TIMEOUT)
  --sink-option 'K = V'    extra TOML line for the sink table of every run, repeatable (e.g. 'max_in_flight = 4')
 groups (push latency with N groups stored, wrk -c1 -t1 replacing random existing groups):
  --group-counts LIST      group counts N, each run on a fresh server (default 10,1000,10000, env BENCH_GROUP_COUNTS)
  --group-seconds S        measured seconds per (round, target, N) (default 10, env BENCH_GROUP_SECONDS)
  --group-rounds N         rounds, target and N order alternating (default 2, env BENCH_GROUP_ROUNDS)
  --group-warmup S         wrk warm-up seconds after the fill, 0 to skip (default 1, env BENCH_GROUP_WARMUP)
  --group-fill-connections N  concurrent connections filling the groups (default 4, env BENCH_GROUP_FILL_CONNECTIONS)
 security (small body to one group, each config on a fresh server; also uses --warmup, --threads,
 --timeout, --method, --targets, and --connections' small value):
  --security-configs LIST  from plain,basic,https-basic,bearer,https-bearer (bearer ones pushkit only; default: all, env BENCH_SECURITY_CONFIGS)
  --security-seconds S     measured wrk seconds per (round, target, config) (default 8, env BENCH_SECURITY_SECONDS)
  --security-rounds N      rounds, the second in reverse order; medians are reported (default 2, env BENCH_SECURITY_ROUNDS)
  --pin                    servers under taskset -c 0, wrk under taskset -c 1 (env BENCH_PIN=1; also the aggregate benchmark)
 aggregate (pushkit only: the small body merged into ONE aggregated group, an instance per push,
 against plain pushes to one group of a job no rule matches; also uses --warmup, --threads, --timeout, --method, --pin):
  --aggregate-seconds S    measured wrk seconds per (round, case) (default 10, env BENCH_AGGREGATE_SECONDS)
  --aggregate-rounds N     rounds, the second in reverse order; medians are reported (default 2, env BENCH_AGGREGATE_ROUNDS)
  --aggregate-connections N  wrk connections (default 16, env BENCH_AGGREGATE_CONNECTIONS)
 scrape (GET /metrics as text and protobuf, GET /api/v1/metrics, with /-/healthy probed meanwhile; also uses --targets):
  --scrape-cases LIST      GROUPSxGAUGES per case (default 2000x22,10000x22,10x100000, env BENCH_SCRAPE_CASES)
  --scrapes N              scrapes of each endpoint per run, the median reported (default 3, env BENCH_SCRAPES)
  --scrape-warmup N        unmeasured scrapes of each endpoint before those (after the first, shown apart; default 2, env BENCH_SCRAPE_WARMUP)`;

const DEFAULT_DURATION: Record<BodyName, number> = { small: 10, medium: 10, large: 15 };
// The 100k-sample body is ~7.7 MB per push; fewer connections keep the
// servers from drowning in concurrent giant requests on two cores.
const DEFAULT_CONNECTIONS: Record<BodyName, number> = { small: 4, medium: 4, large: 2 };

function positive(value: string, what: string, allowZero = false): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new Error(`bad ${what}: "${value}"`);
  return n;
}

/** "N" sets every body; "small=5,large=20" overrides only those named. */
function perBody(spec: string | undefined, defaults: Record<BodyName, number>, what: string, integer: boolean) {
  const out = { ...defaults };
  if (!spec) return out;
  const check = (v: string) => {
    const n = positive(v, what);
    if (integer && !Number.isInteger(n)) throw new Error(`bad ${what}: "${v}" is not an integer`);
    return n;
  };
  if (!spec.includes('=')) {
    const n = check(spec);
    for (const k of BODY_NAMES) out[k] = n;
    return out;
  }
  for (const part of spec.split(',')) {
    const [k, v] = part.split('=').map((s) => s.trim());
    const [name] = parseBodyList(k);
    out[name] = check(v ?? '');
  }
  return out;
}

function parseTargets(list: string): TargetName[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(TARGETS as readonly string[]).includes(n)) throw new Error(`unknown target "${n}" (known: ${TARGETS.join(', ')})`);
  }
  return names as TargetName[];
}

function parseBackends(list: string): BackendName[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(BACKENDS as readonly string[]).includes(n)) throw new Error(`unknown backend "${n}" (known: ${BACKENDS.join(', ')})`);
  }
  return names as BackendName[];
}

function integer(value: string, what: string, allowZero = false): number {
  const n = positive(value, what, allowZero);
  if (!Number.isInteger(n)) throw new Error(`bad ${what}: "${value}" is not an integer`);
  return n;
}

/** "10,1000,10000": distinct positive integers, ascending. */
function groupCounts(list: string): number[] {
  const counts = list.split(',').map((s) => s.trim()).filter(Boolean).map((s) => integer(s, 'group count'));
  if (counts.length === 0) throw new Error('--group-counts: no count given');
  return [...new Set(counts)].sort((a, b) => a - b);
}

function options(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      only: { type: 'string' },
      bodies: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      warmup: { type: 'string' },
      'parser-seconds': { type: 'string' },
      timeout: { type: 'string' },
      method: { type: 'string' },
      targets: { type: 'string' },
      out: { type: 'string' },
      backends: { type: 'string' },
      rounds: { type: 'string' },
      pushes: { type: 'string' },
      'push-samples': { type: 'string' },
      'push-connections': { type: 'string' },
      'delivery-warmup': { type: 'string' },
      'delivery-timeout': { type: 'string' },
      'sink-option': { type: 'string', multiple: true },
      'group-counts': { type: 'string' },
      'group-seconds': { type: 'string' },
      'group-rounds': { type: 'string' },
      'group-warmup': { type: 'string' },
      'group-fill-connections': { type: 'string' },
      'security-configs': { type: 'string' },
      'security-seconds': { type: 'string' },
      'security-rounds': { type: 'string' },
      'aggregate-seconds': { type: 'string' },
      'aggregate-rounds': { type: 'string' },
      'aggregate-connections': { type: 'string' },
      'scrape-cases': { type: 'string' },
      scrapes: { type: 'string' },
      'scrape-warmup': { type: 'string' },
      pin: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const env = process.env;
  const only = values.only;
  const benches = ['http', 'security', 'aggregate', 'groups', 'scrape', 'parser', 'formats', 'delivery'];
  if (only !== undefined && !benches.includes(only)) throw new Error(`--only must be one of ${benches.join(', ')}`);
  const method = (values.method ?? env.BENCH_METHOD ?? 'PUT').toUpperCase();
  if (method !== 'PUT' && method !== 'POST') throw new Error(`--method must be PUT or POST`);
  return {
    http: only === undefined || only === 'http',
    security: only === undefined || only === 'security',
    aggregate: only === undefined || only === 'aggregate',
    groups: only === undefined || only === 'groups',
    scrape: only === undefined || only === 'scrape',
    parser: only === undefined || only === 'parser',
    formats: only === undefined || only === 'formats',
    delivery: only === undefined || only === 'delivery',
    bodies: parseBodyList(values.bodies ?? env.BENCH_BODIES ?? BODY_NAMES.join(',')),
    durationS: perBody(values.duration ?? env.BENCH_DURATION, DEFAULT_DURATION, 'duration', false),
    connections: perBody(values.connections ?? env.BENCH_CONNECTIONS, DEFAULT_CONNECTIONS, 'connections', true),
    threads: Math.floor(positive(values.threads ?? env.BENCH_THREADS ?? '1', 'threads')),
    warmupS: positive(values.warmup ?? env.BENCH_WARMUP ?? '2', 'warmup', true),
    parserSeconds: positive(values['parser-seconds'] ?? env.BENCH_PARSER_SECONDS ?? '6', 'parser seconds'),
    timeoutS: positive(values.timeout ?? env.BENCH_TIMEOUT ?? '30', 'timeout'),
    method: method as 'PUT' | 'POST',
    targets: parseTargets(values.targets ?? env.BENCH_TARGETS ?? TARGETS.join(',')),
    out: resolve(values.out ?? join(REPO_ROOT, '.bench', 'results.json')),
    backends: parseBackends(values.backends ?? env.BENCH_BACKENDS ?? BACKENDS.join(',')),
    rounds: integer(values.rounds ?? env.BENCH_ROUNDS ?? '2', 'rounds'),
    pushes: integer(values.pushes ?? env.BENCH_PUSHES ?? '1000', 'pushes'),
    pushSamples: integer(values['push-samples'] ?? env.BENCH_PUSH_SAMPLES ?? '1000', 'push samples'),
    pushConnections: integer(values['push-connections'] ?? env.BENCH_PUSH_CONNECTIONS ?? '4', 'push connections'),
    deliveryWarmup: integer(values['delivery-warmup'] ?? env.BENCH_DELIVERY_WARMUP ?? '5', 'delivery warm-up', true),
    deliveryTimeoutS: positive(values['delivery-timeout'] ?? env.BENCH_DELIVERY_TIMEOUT ?? '60', 'delivery timeout'),
    sinkOptions: values['sink-option'] ?? [],
    groupCounts: groupCounts(values['group-counts'] ?? env.BENCH_GROUP_COUNTS ?? '10,1000,10000'),
    groupSeconds: positive(values['group-seconds'] ?? env.BENCH_GROUP_SECONDS ?? '10', 'group seconds'),
    groupRounds: integer(values['group-rounds'] ?? env.BENCH_GROUP_ROUNDS ?? '2', 'group rounds'),
    groupWarmupS: positive(values['group-warmup'] ?? env.BENCH_GROUP_WARMUP ?? '1', 'group warm-up', true),
    groupFillConnections: integer(values['group-fill-connections'] ?? env.BENCH_GROUP_FILL_CONNECTIONS ?? '4', 'group fill connections'),
    securityConfigs: parseSecurityConfigs(values['security-configs'] ?? env.BENCH_SECURITY_CONFIGS ?? SECURITY_CONFIGS.join(',')),
    securitySeconds: positive(values['security-seconds'] ?? env.BENCH_SECURITY_SECONDS ?? '8', 'security seconds'),
    securityRounds: integer(values['security-rounds'] ?? env.BENCH_SECURITY_ROUNDS ?? '2', 'security rounds'),
    aggregateSeconds: positive(values['aggregate-seconds'] ?? env.BENCH_AGGREGATE_SECONDS ?? '10', 'aggregate seconds'),
    aggregateRounds: integer(values['aggregate-rounds'] ?? env.BENCH_AGGREGATE_ROUNDS ?? '2', 'aggregate rounds'),
    aggregateConnections: integer(values['aggregate-connections'] ?? env.BENCH_AGGREGATE_CONNECTIONS ?? '16', 'aggregate connections'),
    scrapeCases: parseCases(values['scrape-cases'] ?? env.BENCH_SCRAPE_CASES ?? '2000x22,10000x22,10x100000'),
    scrapes: integer(values.scrapes ?? env.BENCH_SCRAPES ?? '3', 'scrapes'),
    scrapeWarmup: integer(values['scrape-warmup'] ?? env.BENCH_SCRAPE_WARMUP ?? '2', 'scrape warm-up', true),
    pin: values.pin ?? (env.BENCH_PIN !== undefined && env.BENCH_PIN !== '' && env.BENCH_PIN !== '0'),
  };
}

type Options = ReturnType<typeof options>;

/** Generous upper bound on the whole run, so nothing can hang forever. */
function timeBudgetS(o: Options): number {
  let s = 60;
  if (o.http) {
    for (const b of o.bodies) {
      // start (tsx compile) + probe + warm-up + run + in-flight timeout + stop
      s += o.targets.length * (60 + 30 + o.warmupS + o.durationS[b] + o.timeoutS + 20);
    }
  }
  // per run: start (a TLS server too), probes, warm-up, run, in-flight timeout, stop
  if (o.security) {
    s += o.securityRounds * securityPairs(o.targets, o.securityConfigs).length * (60 + 30 + o.warmupS + o.securitySeconds + o.timeoutS + 20);
  }
  // per run: start, probes, warm-up, run, in-flight timeout, scrape, merge check (aggregated runs), stop
  if (o.aggregate) {
    s += o.aggregateRounds * 2 * (60 + 30 + o.warmupS + o.aggregateSeconds + o.timeoutS + 20) + o.aggregateRounds * (3 + o.timeoutS + 60);
  }
  // per run: start, fill, checks, warm-up, run, stop. The reference checks each push against
  // its whole store, so its fill grows with N squared (~40 us per stored group and push on this
  // 2-core machine near 10,000 groups, ~2,000 s to fill 10,000; 100 us is the bound).
  if (o.groups) {
    for (const n of o.groupCounts) {
      s += o.groupRounds * o.targets.length * (90 + n / 100 + (100e-6 * n * n) / 2 + o.groupWarmupS + o.groupSeconds + 2 * o.timeoutS);
    }
  }
  // per run: start, fill (~1 ms per group and 10 us per series), settle, scrapes (bounded by their timeout), stop
  if (o.scrape) for (const c of o.scrapeCases) s += o.targets.length * (120 + c.groups / 200 + (c.groups * c.series) / 50_000 + 4 * (1 + o.scrapeWarmup + o.scrapes) * 60);
  if (o.parser) s += 180 + 2 * o.bodies.length * (o.parserSeconds + 1) + 120;
  if (o.formats) s += 60 + 2 * o.bodies.length * (o.parserSeconds + 1);
  // per run: backend + agent start, warm-up, pushes, delivery wait, stops (the agent gets 35 s)
  if (o.delivery) s += o.rounds * o.backends.length * 2 * (60 + 2 * o.deliveryTimeoutS + (o.pushes * o.pushSamples) / 5_000 + 40);
  return s;
}

const log = (line: string) => console.error(line);

async function main(): Promise<number> {
  const o = options(process.argv.slice(2));
  installCleanupHandlers();
  const budget = timeBudgetS(o);
  const watchdog = setTimeout(() => {
    console.error(`bench: exceeded the ${budget} s time budget, stopping`);
    void stopAll().finally(() => process.exit(1));
  }, budget * 1_000);

  const bodies = makeBodies(o.bodies);
  const bodyFiles = writeBodies(DEFAULT_BODY_DIR, bodies);
  // The security benchmark always pushes the small body, whatever --bodies says.
  const smallBody = bodies.find((b) => b.name === 'small') ?? makeBodies(['small'])[0];
  if (!bodyFiles.has('small')) bodyFiles.set('small', writeBodies(DEFAULT_BODY_DIR, [smallBody]).get('small')!);
  const started = new Date();
  let http: HttpRun[] | undefined;
  let httpRatios: HttpRatio[] | undefined;
  let security: SecurityRun[] | undefined;
  let securityRatios: SecurityRatio[] | undefined;
  let securitySummary: SecuritySummary[] | undefined;
  let aggregate: AggregateRun[] | undefined;
  let aggregateSummary: AggregateSummary[] | undefined;
  let aggregateRatio: AggregateRatio | undefined;
  let parser: ParserRun[] | undefined;
  let formats: FormatRun[] | undefined;
  let delivery: DeliveryRun[] | undefined;
  let groups: GroupRun[] | undefined;
  let groupsSummary: GroupsSummary | undefined;
  let scrape: ScrapeRun[] | undefined;
  let scrapeRatios: ScrapeRatio[] | undefined;
  let deliverySummary: DeliverySummary[] | undefined;
  let failed = false;
  const sections: string[] = [];

  try {
    if (o.http) {
      // Imported lazily so `--only parser` works without wrk installed, and
      // `--only http` works before pushkit's parser module exists.
      const h = await import('./http.ts');
      http = await h.runHttpBench({ ...o, bodies, bodyFiles, log });
      httpRatios = h.httpRatios(http);
      failed ||= http.some((r) => r.error !== undefined);
      sections.push(`== HTTP push benchmark (wrk, ${o.method} /metrics/job/bench) ==\n${h.httpReport(http)}`);
    }
    if (o.security) {
      security = await runSecurityBench({
        body: smallBody,
        bodyFile: bodyFiles.get('small')!,
        targets: o.targets,
        configs: o.securityConfigs,
        rounds: o.securityRounds,
        durationS: o.securitySeconds,
        warmupS: o.warmupS,
        connections: o.connections.small,
        threads: o.threads,
        timeoutS: o.timeoutS,
        method: o.method,
        pin: o.pin,
        log,
      });
      securitySummary = summaryOfSecurity(security);
      securityRatios = ratiosOfSecurity(security);
      failed ||= security.some((r) => r.error !== undefined);
      sections.push(
        `== Security: TLS and credentials (wrk -c${o.connections.small}, ${o.method} /metrics/job/bench, small body, ` +
          `${o.securitySeconds} s per run, ${o.securityRounds} rounds${o.pin ? ', servers on core 0, wrk on core 1' : ', unpinned'}) ==\n${securityReport(security)}`,
      );
    }
    if (o.aggregate) {
      const a = await import('./aggregate.ts');
      aggregate = await a.runAggregateBench({
        body: smallBody,
        bodyFile: bodyFiles.get('small')!,
        rounds: o.aggregateRounds,
        durationS: o.aggregateSeconds,
        warmupS: o.warmupS,
        connections: o.aggregateConnections,
        threads: o.threads,
        timeoutS: o.timeoutS,
        method: o.method,
        pin: o.pin,
        log,
      });
      aggregateSummary = a.aggregateSummary(aggregate);
      aggregateRatio = a.aggregateRatio(aggregate);
      failed ||= aggregate.some((r) => r.error !== undefined);
      sections.push(
        `== Aggregating pushes: small body merged into one group vs plain pushes to one group (pushkit, wrk -c${o.aggregateConnections}, ` +
          `${o.method}, rule ${a.AGGREGATE_RULE_ENV}, ${o.aggregateSeconds} s per run, ${o.aggregateRounds} rounds` +
          `${o.pin ? ', server on core 0, wrk on core 1' : ', unpinned'}) ==\n${a.aggregateReport(aggregate)}`,
      );
    }
    if (o.groups) {
      const g = await import('./groups.ts');
      groups = await g.runGroupsBench({
        targets: o.targets,
        counts: o.groupCounts,
        rounds: o.groupRounds,
        seconds: o.groupSeconds,
        warmupS: o.groupWarmupS,
        fillConnections: o.groupFillConnections,
        timeoutS: o.timeoutS,
        method: o.method,
        log,
      });
      groupsSummary = g.groupsSummary(groups);
      failed ||= groups.some((r) => r.error !== undefined);
      sections.push(
        `== Push latency against stored groups (wrk -c1 -t1, ${o.method} /metrics/job/bench/instance/i<k> to random existing groups) ==\n` +
          g.groupsReport(groups),
      );
    }
    if (o.scrape) {
      const sc = await import('./scrape.ts');
      scrape = await sc.runScrapeBench({ targets: o.targets, cases: o.scrapeCases, scrapes: o.scrapes, warmup: o.scrapeWarmup, log });
      scrapeRatios = sc.scrapeRatios(scrape);
      failed ||= scrape.some((r) => r.error !== undefined);
      sections.push(`== Scrapes: GET /metrics (text, protobuf) and /api/v1/metrics with N groups stored, /-/healthy probed every 10 ms ==\n${sc.scrapeReport(scrape)}`);
    }
    if (o.parser) {
      const p = await import('./parser.ts');
      parser = await p.runParser({ bodies, bodyFiles, seconds: o.parserSeconds, warmupS: 1, log });
      failed ||= parser.some((r) => r.error !== undefined);
      sections.push(`== Parser benchmark (1 thread each) ==\n${p.parserReport(parser)}`);
    }
    if (o.formats) {
      const f = await import('./protobuf.ts');
      formats = f.runFormatBench({ bodies, seconds: o.parserSeconds, warmupS: 1, log });
      failed ||= formats.some((r) => r.error !== undefined);
      sections.push(`== Protobuf against text (pushkit's parsers, 1 thread) ==\n${f.formatReport(formats)}`);
    }
    if (o.delivery) {
      const d = await import('./delivery.ts');
      delivery = await d.runDeliveryBench({
        backends: o.backends,
        rounds: o.rounds,
        pushes: o.pushes,
        samples: o.pushSamples,
        connections: o.pushConnections,
        warmupPushes: o.deliveryWarmup,
        timeoutS: o.deliveryTimeoutS,
        sinkOptions: o.sinkOptions,
        log,
      });
      deliverySummary = d.deliverySummary(delivery);
      failed ||= delivery.some((r) => r.error !== undefined);
      sections.push(
        `== Delivery: push -> agent -> sink -> backend, durable against not ` +
          `(${o.pushes} pushes x ${o.pushSamples} samples, ${o.pushConnections} connections) ==\n${d.deliveryReport(delivery)}`,
      );
    }
  } catch (err) {
    console.error(`bench: ${(err as Error).stack ?? err}`);
    failed = true;
  } finally {
    clearTimeout(watchdog);
    await stopAll();
  }

  const targets = evaluateTargets(httpRatios, parser, formats, deliverySummary, groupsSummary?.growth, aggregateRatio);
  if (targets.length > 0) sections.push(`== Goals (reported only; never fail the run) ==\n${targetsReport(targets)}`);
  console.log('\n' + sections.join('\n\n'));

  const results = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    host: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model },
    config: { ...o, out: undefined },
    bodies: bodies.map((b) => ({ name: b.name, bytes: b.body.length, samples: b.samples })),
    http,
    httpRatios,
    security,
    securitySummary,
    securityRatios,
    aggregate,
    aggregateSummary,
    aggregateRatio,
    parser,
    formats,
    delivery,
    deliverySummary,
    groups,
    groupsSummary,
    scrape,
    scrapeRatios,
    targets,
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nresults: ${o.out}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    console.error(`bench: ${(err as Error).message ?? err}`);
    await stopAll();
    process.exit(2);
  },
);
