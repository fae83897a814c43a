// Finding 9: groups acknowledged with persistence_file set must survive a kill -9 once the
// persistence bound the build documents has passed. The bound is read from the build: the
// shortest persistence_* duration it has (persistence_interval today, or whatever a fix adds),
// plus a second, capped by --persist-wait-max-s; --persist-wait-s sets it outright.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { answerText, get, inParallel, push, type Finding, type FindingRun } from '../harness.ts';
import { durationMs, newHome } from '../../soak/agent.ts';
import { Counts, fmtMs } from '../../soak/stats.ts';

function persistenceWait(f: FindingRun): { ms: number; why: string } {
  if (f.o.persistWaitS !== undefined) return { ms: f.o.persistWaitS * 1000, why: '--persist-wait-s' };
  const bounds = [...(f.o.known.get('inputs.pushgateway') ?? new Map<string, string>())]
    .filter(([k]) => k.startsWith('persistence_'))
    .map(([k, v]) => ({ k, v, ms: durationMs(v) }))
    .filter((b): b is { k: string; v: string; ms: number } => b.ms !== undefined && b.ms > 0)
    .sort((a, b) => a.ms - b.ms);
  if (bounds.length === 0) return { ms: f.o.persistWaitMaxS * 1000, why: 'the build has no persistence_* duration: --persist-wait-max-s' };
  const b = bounds[0];
  const ms = Math.min(b.ms + 1_000, f.o.persistWaitMaxS * 1000);
  return { ms, why: `${b.k} = ${b.v}, plus 1 s${ms < b.ms + 1_000 ? `, capped by --persist-wait-max-s ${f.o.persistWaitMaxS}` : ''}` };
}

interface GroupJson {
  labels?: Record<string, string>;
}

export const finding9: Finding = {
  id: 9,
  title: 'groups acknowledged with persistence_file, then kill -9',
  async run(f) {
    const n = f.scaled(1_000, 100);
    const home = await newHome('pushkit-abuse-');
    const spec = { input: { persistence_file: join(home.path, 'groups.db') } };
    const first = await f.agent('agent', spec, home);
    const answers = new Counts();
    const t0 = performance.now();
    await inParallel(8, n, async (i) => {
      answers.add((await push(first, `/metrics/job/f9/instance/${i}`, Buffer.from(`f9_v ${i}\n`))).status || 'no answer');
    });
    const acked = answers.get(200);
    const wait = persistenceWait(f);
    f.log(`${n} groups pushed in ${fmtMs(performance.now() - t0)}: ${answers}; waiting ${fmtMs(wait.ms)} (${wait.why}), then kill -9`);
    await sleep(wait.ms);
    await first.kill9();
    f.log(await first.end({ keepHome: true }));
    const second = await f.agent('restarted agent', spec, home);
    const a = await get(second, '/api/v1/metrics', 120_000, Infinity);
    let back = 0;
    try {
      const groups = (JSON.parse(a.text) as { data?: GroupJson[] }).data ?? [];
      back = groups.filter((g) => g.labels?.job === 'f9').length;
    } catch {
      f.log(`GET /api/v1/metrics: ${answerText(a)}`);
    }
    f.log(`after the restart: ${back} of the ${acked} acknowledged groups are back`);
    f.check(`every acknowledged group survives kill -9 after ${fmtMs(wait.ms)}`, acked === n && back === acked, `${back} of ${acked} (of ${n} pushed)`);
  },
};
