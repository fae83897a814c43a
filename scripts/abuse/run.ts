// `npm run abuse`: replays the findings of issue 14 against the production build (dist/), each
// in a fresh agent with the default configuration unless the finding sets something, one agent
// at a time. For each it prints what happened (answers, times, RSS before/peak/after, whether the
// agent survived, /-/healthy latency probed every 50 ms from a separate process) and its checks,
// then a summary. It reports; it fixes nothing. Exit status 1 when a finding fails.
import { installCleanupHandlers } from '../bench/proc.ts';
import { knownOptions } from '../soak/agent.ts';
import { flags } from '../soak/cli.ts';
import { table } from '../bench/format.ts';
import { fmtMs, mibOf } from '../soak/stats.ts';
import { FindingRun, type AbuseOptions, type Finding, type FindingResult } from './harness.ts';
import { finding1, finding2 } from './findings/limits.ts';
import { finding3, finding4 } from './findings/scrapes.ts';
import { finding5, finding12 } from './findings/stalls.ts';
import { finding6, finding7, finding8 } from './findings/numbers.ts';
import { finding9 } from './findings/persistence.ts';
import { finding10, finding11 } from './findings/load.ts';

const FINDINGS: Finding[] = [finding1, finding2, finding3, finding4, finding5, finding6, finding7, finding8, finding9, finding10, finding11, finding12];

const RELEVANT = /limit|max_|timeout|persistence_interval|persistence_delay|inflight/;

const HELP = `usage: npm run abuse -- [--scale 1] [--only 1,5] [--hold-s 75] [--persist-wait-s S] [--persist-wait-max-s 15] [--rss-cap-mib 3072] [--agent-cpus LIST]
  --scale X               multiplies the findings' sizes and counts (0.1: a tenth of the series, bytes, connections)
  --only LIST             findings to run, e.g. 1,5,12 (default: all)
  --hold-s S              longest wait for the agent to cut off hanging clients (findings 4, 5, 12; default 75)
  --persist-wait-s S      wait before finding 9's kill -9 (default: the build's persistence bound + 1 s)
  --persist-wait-max-s S  cap of that default wait (default 15)
  --rss-cap-mib N         kill an agent whose RSS passes N MiB, so a runaway finding cannot take the machine (default 3072)
  --agent-cpus LIST       run the agents on these CPUs only (taskset -c LIST); run the replay itself on the others,
                          e.g. taskset -c 1 npm run abuse -- --agent-cpus 0 (default: agents and load share every CPU)`;

function options(): { o: Omit<AbuseOptions, 'known'>; only: Set<number> } {
  const { values, positive } = flags(
    {
      scale: '1',
      only: undefined,
      'hold-s': '75',
      'persist-wait-s': undefined,
      'persist-wait-max-s': '15',
      'rss-cap-mib': '3072',
      'agent-cpus': undefined,
    },
    HELP,
  );
  const only = new Set((values.only ?? FINDINGS.map((f) => f.id).join(',')).split(',').map((x) => Number(x.trim())));
  for (const id of only) if (!FINDINGS.some((f) => f.id === id)) throw new Error(`--only: no finding ${id} (1-${FINDINGS.length})`);
  return {
    o: {
      scale: positive('scale'),
      holdS: positive('hold-s'),
      persistWaitS: values['persist-wait-s'] === undefined ? undefined : positive('persist-wait-s'),
      persistWaitMaxS: positive('persist-wait-max-s'),
      rssCapMib: positive('rss-cap-mib'),
      ...(values['agent-cpus'] !== undefined ? { agentCpus: values['agent-cpus'] } : {}),
    },
    only,
  };
}

async function runOne(finding: Finding, o: AbuseOptions): Promise<FindingResult> {
  console.log(`\n== finding ${finding.id}: ${finding.title}${o.scale === 1 ? '' : ` (scale ${o.scale})`}`);
  const f = new FindingRun(finding, o);
  const t0 = performance.now();
  let error: string | undefined;
  try {
    await finding.run(f);
  } catch (err) {
    error = (err as Error).message;
    f.log(`ERROR: ${error}`);
  }
  await f.endAll();
  const r = f.result((performance.now() - t0) / 1000, error);
  if (!r.survived) f.check('every agent survived', false, 'see above');
  for (const c of r.checks) f.log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  console.log(`   => finding ${finding.id}: ${passed(r) ? 'PASS' : 'FAIL'} (${r.seconds.toFixed(0)} s)`);
  return r;
}

function passed(r: FindingResult): boolean {
  return r.error === undefined && r.checks.length > 0 && r.checks.every((c) => c.ok);
}

async function main(): Promise<number> {
  const { o, only } = options();
  installCleanupHandlers();
  const opts: AbuseOptions = { ...o, known: knownOptions() };
  console.log(`abuse replay of issue 14 against dist/core/cli.js, scale ${o.scale}, findings ${[...only].join(',')}${o.agentCpus !== undefined ? `, agents on CPUs ${o.agentCpus}` : ''}`);
  // The defaults the checks depend on, as this build has them.
  const shown = [...opts.known.get('inputs.pushgateway') ?? [], ...opts.known.get('http') ?? []].filter(([k]) => RELEVANT.test(k));
  console.log(`build defaults: ${shown.map(([k, v]) => `${k} = ${v}`).join(', ')}`);
  const results: FindingResult[] = [];
  for (const finding of FINDINGS) if (only.has(finding.id)) results.push(await runOne(finding, opts));

  console.log('\nsummary:');
  console.log(
    table(
      ['finding', 'verdict', 'failed checks', 'agents', 'peak RSS', '/-/healthy p99', 'max', 'time'],
      results.map((r) => [
        `${r.id} ${r.title.slice(0, 48)}`,
        passed(r) ? 'PASS' : r.error ? 'ERROR' : 'FAIL',
        `${r.checks.filter((c) => !c.ok).length}/${r.checks.length}`,
        r.survived ? 'survived' : 'DIED',
        mibOf(r.peakRssKb),
        fmtMs(r.healthy?.p99),
        fmtMs(r.healthy?.max),
        `${r.seconds.toFixed(0)} s`,
      ]),
    ),
  );
  return results.every(passed) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`abuse: ${err.stack ?? err.message}`);
    process.exit(2);
  },
);
