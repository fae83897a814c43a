// `npm run soak -- --minutes N`: the production build (dist/, as the Containerfile runs it) under
// mixed realistic traffic (traffic.ts) for N minutes, delivering through the influxdb sink
// (durable disk queue, its defaults) to a real InfluxDB that is stopped for a while in the middle
// of the run and started again. Every --interval-s it prints the agent's RSS, /-/healthy
// latency probed from a separate process every 100 ms, the agent's own event-loop lag, the
// answers by kind and status, and the sink's queue. At the end it waits for the sink to drain
// and checks: every acknowledged point is in InfluxDB (exact counts per measurement), no 5xx and
// no other unexpected answer, the agent alive with nothing dead-lettered, and RSS growth over the
// last two thirds of the run under 10%. Exit status 1 when a check fails.
import { setTimeout as sleep } from 'node:timers/promises';
import { installCleanupHandlers, tail } from '../bench/proc.ts';
import { flags } from './cli.ts';
import { knownOptions, startAgent, sumMetrics, type RunningAgent } from './agent.ts';
import { send } from './http-client.ts';
import { Influx } from './influx.ts';
import { Ledger } from './ledger.ts';
import { Monitor, type MonitorSnapshot } from './monitor.ts';
import { intervalLine, rssGrowth, SELF_METRICS, verdict, type Check, type RssPoint, type SelfFigures } from './report.ts';
import { summarize, fmtLatencies, mibOf } from './stats.ts';
import { Traffic } from './traffic.ts';

const HELP = `usage: npm run soak -- [--minutes 30] [--outage-s 60] [--interval-s 30] [--rate 1] [--seed 1] [--drain-s 300]
  --minutes N     how long the traffic runs (default 30)
  --outage-s S    how long InfluxDB is down; it goes down at 40% of the run, for at most 30% of it (default 60)
  --interval-s S  seconds between progress lines (default 30)
  --rate X        multiplies every client's request rate (default 1)
  --seed N        seed of sizes, formats and values (default 1)
  --drain-s S     longest wait after the traffic for InfluxDB to hold every acknowledged point (default 300)`;

const DB = 'soak';
const MEASUREMENTS = ['soakapp', 'soakbatch', 'soaklarge', 'soakts'];
const SAMPLE_EVERY_MS = 5_000;
const RSS_LIMIT = 0.1;

function options() {
  const { positive } = flags(
    {
      minutes: '30',
      'outage-s': '60',
      'interval-s': '30',
      rate: '1',
      seed: '1',
      'drain-s': '300',
    },
    HELP,
  );
  return {
    minutes: positive('minutes'),
    outageS: positive('outage-s'),
    intervalS: positive('interval-s'),
    rate: positive('rate'),
    seed: positive('seed'),
    drainS: positive('drain-s'),
  };
}

function selfFigures(text: string): SelfFigures {
  // Only the agent's own lines: the store's series can be hundreds of thousands.
  const own = text.split('\n').filter((l) => l.startsWith('pushkit_')).join('\n');
  const m = sumMetrics(own, Object.values(SELF_METRICS));
  const ms = (v: number | undefined) => (v === undefined ? undefined : v * 1000);
  return {
    lagP99Ms: ms(m[SELF_METRICS.lagP99]),
    lagMaxMs: ms(m[SELF_METRICS.lagMax]),
    queuePoints: m[SELF_METRICS.queuePoints],
    diskQueueBytes: m[SELF_METRICS.diskQueueBytes],
    sent: m[SELF_METRICS.sent],
    deadLettered: m[SELF_METRICS.deadLettered],
    retried: m[SELF_METRICS.retried],
  };
}

async function scrapeSelf(agent: RunningAgent): Promise<SelfFigures | undefined> {
  const a = await send(`${agent.baseUrl}/metrics`, { timeoutMs: 60_000, keepBytes: Infinity });
  return a.status === 200 ? selfFigures(a.text) : undefined;
}

async function counts(influx: Influx): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of MEASUREMENTS) out.set(m, await influx.fieldValues(DB, m));
  return out;
}

async function main(): Promise<number> {
  const o = options();
  installCleanupHandlers();
  const runS = o.minutes * 60;
  const outageAtS = runS * 0.4;
  const outageS = Math.min(o.outageS, runS * 0.3);
  const known = knownOptions();
  const lvl = known.get('inputs.pushgateway')?.get('label_value_length_limit');

  const influx = await Influx.create(DB);
  let agent: RunningAgent | undefined;
  let monitor: Monitor | undefined;
  try {
    agent = await startAgent({
      // Left-over batch groups go after 2 minutes, so the store stays bounded.
      input: { group_ttl: '2m' },
      sinks: `[[sinks.influxdb]]\n  url = "${influx.url}/write?db=${DB}&precision=ns"\n  durable = true\n`,
    });
    monitor = await Monitor.start(agent.baseUrl, agent.pid, { everyMs: 100, rssEveryMs: 1_000 });
    console.log(
      `soak: ${o.minutes} min against ${agent.baseUrl} (pid ${agent.pid}, dist/core/cli.js), influxdb ${influx.url}; ` +
        `influxdb down from ${Math.round(outageAtS)} s for ${Math.round(outageS)} s; progress every ${o.intervalS} s`,
    );

    const ledger = new Ledger();
    let self: SelfFigures = {};
    let lag: { p99?: number; max?: number } = {};
    const t0 = performance.now();
    const atS = () => (performance.now() - t0) / 1000;
    const traffic = new Traffic({
      baseUrl: agent.baseUrl,
      deadline: t0 + runS * 1000,
      rate: o.rate,
      seed: o.seed,
      ledger,
      labelValueLimit: lvl === undefined ? undefined : Number(lvl),
      onScrape: (text) => {
        self = selfFigures(text);
        // The lag percentiles cover the time since the previous scrape: keep the worst.
        lag = { p99: Math.max(lag.p99 ?? 0, self.lagP99Ms ?? 0), max: Math.max(lag.max ?? 0, self.lagMaxMs ?? 0) };
      },
    });

    let backend = 'up';
    const outage = (async () => {
      await sleep(outageAtS * 1000);
      console.log(`[${String(Math.round(atS())).padStart(5)} s] influxdb: stopping it (pid ${influx.pid})`);
      await influx.stop();
      backend = 'DOWN';
      await sleep(outageS * 1000);
      await influx.start();
      backend = 'up';
      console.log(`[${String(Math.round(atS())).padStart(5)} s] influxdb: started again (pid ${influx.pid})`);
    })();

    const rss: RssPoint[] = [];
    const allHealthy: number[] = [];
    let healthyTimeouts = 0;
    let healthyErrors = 0;
    let agentDied = false;
    const reporting = (async () => {
      let pending: MonitorSnapshot[] = [];
      let nextPrint = o.intervalS;
      for (;;) {
        const done = atS() >= runS;
        const snap = await monitor!.take();
        pending.push(snap);
        if (snap.rssLastKb !== undefined) rss.push({ atS: atS(), kb: snap.rssLastKb });
        allHealthy.push(...snap.ms);
        healthyTimeouts += snap.timeouts;
        healthyErrors += snap.errors;
        if (!agent!.alive()) agentDied = true;
        if (atS() >= nextPrint || done) {
          const ms = pending.flatMap((s) => s.ms);
          const { answers, pushMs } = ledger.takeInterval();
          console.log(
            intervalLine({
              atS: atS(),
              rssKb: snap.rssLastKb,
              rssMinKb: Math.min(...pending.map((s) => s.rssMinKb ?? Infinity)),
              rssMaxKb: Math.max(...pending.map((s) => s.rssMaxKb ?? 0)),
              healthy: summarize(ms, pending.reduce((s, p) => s + p.timeouts, 0), pending.reduce((s, p) => s + p.errors, 0)),
              self: { ...self, lagP99Ms: lag.p99, lagMaxMs: lag.max },
              answers,
              pushMs,
              backend,
            }),
          );
          lag = {};
          pending = [];
          nextPrint += o.intervalS;
        }
        if (agentDied) {
          console.log(`[${String(Math.round(atS())).padStart(5)} s] the agent exited (${agent!.child.exitCode ?? agent!.child.signalCode}): stopping the traffic`);
          traffic.stop();
        }
        if (done || agentDied) return;
        await sleep(Math.min(SAMPLE_EVERY_MS, Math.max(0, (nextPrint - atS()) * 1000)));
      }
    })();

    await traffic.run();
    await reporting;
    await outage;

    // Drain: the sink writes what it queued during the outage; InfluxDB must end up with exactly
    // the acknowledged points (plus at most those of pushes that got no answer).
    console.log(`\ntraffic over after ${Math.round(atS())} s; waiting up to ${o.drainS} s for influxdb to hold every acknowledged point`);
    const drainStart = performance.now();
    let got = new Map<string, number>();
    const complete = () => MEASUREMENTS.every((m) => (got.get(m) ?? 0) >= (ledger.acked.get(m) ?? 0));
    while (agent.alive()) {
      got = await counts(influx);
      self = (await scrapeSelf(agent)) ?? self;
      if (complete() && self.queuePoints === 0) break;
      if (performance.now() - drainStart > o.drainS * 1000) break;
      await sleep(2_000);
    }
    const drainedS = (performance.now() - drainStart) / 1000;

    const checks: Check[] = [];
    checks.push({ name: 'agent alive', ok: agent.alive() && !agentDied, detail: agent.alive() ? `pid ${agent.pid} ran the whole soak` : `it exited (${agent.child.exitCode ?? agent.child.signalCode})\n${tail(agent.logFile, 10)}` });
    const rows = MEASUREMENTS.map((m) => {
      const want = ledger.acked.get(m) ?? 0;
      const doubt = ledger.unknown.get(m) ?? 0;
      const have = got.get(m) ?? 0;
      return { m, want, doubt, have, ok: have >= want && have <= want + doubt };
    });
    checks.push({
      name: 'every acknowledged point in influxdb',
      ok: rows.every((r) => r.ok),
      detail:
        `after ${drainedS.toFixed(0)} s of draining: ` +
        rows.map((r) => `${r.m} ${r.have}/${r.want}${r.doubt ? ` (+${r.doubt} in doubt)` : ''}${r.ok ? '' : ' MISMATCH'}`).join(', '),
    });
    // Without failed writes the outage was never felt, and delivery after it was not tested.
    checks.push({ name: 'the influxdb outage was felt (sink batches retried)', ok: (self.retried ?? 0) > 0, detail: `${self.retried ?? 0} batches retried` });
    checks.push({ name: 'nothing dead-lettered', ok: (self.deadLettered ?? 0) === 0, detail: `${self.deadLettered ?? 0} points` });
    const fives = [...ledger.total.values()].reduce((s, c) => s + c.entries().filter(([k]) => k.startsWith('5')).reduce((t, [, v]) => t + v, 0), 0);
    checks.push({ name: 'no 5xx', ok: fives === 0, detail: `${fives} answers 5xx` });
    const un = ledger.unexpected;
    checks.push({
      name: 'every answer as expected (push 200, bad push 4xx, delete 202, scrape 200)',
      ok: un.length === 0,
      detail: un.length === 0 ? 'all' : `${un.length} not: ` + un.slice(0, 5).map((u) => `${Math.round(u.atS)} s ${u.kind} ${u.what} -> ${u.status || 'no answer'} ${u.message}`).join('; '),
    });
    const g = rssGrowth(rss, runS);
    checks.push({
      name: `RSS growth over the last 2/3 < ${RSS_LIMIT * 100}%`,
      ok: g !== undefined && g.growth < RSS_LIMIT,
      detail: g
        ? `${mibOf(g.baselineKb)} (median ${Math.round(runS / 3)}-${Math.round(runS / 3 + g.windowS)} s) -> ${mibOf(g.endKb)} (median of the last ${Math.round(g.windowS)} s): ` +
          `${(g.growth * 100).toFixed(1)}%, slope ${g.slopeMibPerMin.toFixed(2)} MiB/min, peak ${mibOf(g.peakKb)}`
        : 'not enough RSS readings',
    });

    console.log('\nanswers over the run:');
    for (const [k, c] of ledger.total) console.log(`  ${k.padEnd(6)} ${c.toString()}`);
    if (ledger.retried) console.log(`  ${ledger.retried} requests sent again on a new connection: their kept-alive connection was reset unanswered (closed as idle while the request was on its way)`);
    console.log(`/-/healthy over the run: ${fmtLatencies(summarize(allHealthy, healthyTimeouts, healthyErrors))}`);
    console.log(`\nchecks:\n${verdict(checks)}`);
    return checks.every((c) => c.ok) ? 0 : 1;
  } finally {
    await monitor?.close();
    await agent?.close();
    await influx.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`soak: ${err.stack ?? err.message}`);
    process.exit(2);
  },
);
