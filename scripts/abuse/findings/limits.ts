// Findings 1 and 2: what one push may add. A compressed body of millions of series, a push of
// a million metric names (and whether a push's cost grows linearly with its size), and label
// values, label counts and names far past anything legitimate.
import { readFileSync } from 'node:fs';
import { gzipLines, lines } from '../bodies.ts';
import { answerText, healthyCheck, is4xx, push, TEXT, type Finding, type FindingRun, type Session, type Step } from '../harness.ts';
import type { Answer } from '../../soak/http-client.ts';
import { fmtBytes, fmtLatencies, fmtMs, mibOf } from '../../soak/stats.ts';

/** The DaemonSet's memory limit, as deploy/kubernetes/base/daemonset.yaml sets it (Mi or Gi). */
const DAEMONSET_LIMIT_KB = ((): number => {
  const yaml = readFileSync(new URL('../../../deploy/kubernetes/base/daemonset.yaml', import.meta.url), 'utf8');
  const m = /limits:\s*\n\s*memory:\s*(\d+)(Mi|Gi)/.exec(yaml);
  if (!m) throw new Error('no memory limit found in deploy/kubernetes/base/daemonset.yaml');
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 * 1024 : 1024);
})();

function sampleLimit(f: FindingRun): number {
  return Number(f.option('inputs.pushgateway', 'sample_limit') ?? 0);
}

/** What a push of `n` series must get: refused when the build's sample_limit is below it. */
function expectation(f: FindingRun, n: number): { refuse: boolean; why: string } {
  const limit = sampleLimit(f);
  return limit > 0 && n > limit
    ? { refuse: true, why: `${n} series > sample_limit ${limit}` }
    : { refuse: false, why: limit > 0 ? `${n} series <= sample_limit ${limit}` : 'the build has no sample_limit' };
}

export const finding1: Finding = {
  id: 1,
  title: 'gzip body of 4.4M series m{a="<i>"} 1, PUT to three groups',
  async run(f) {
    const n = f.scaled(4_400_000, 1_000);
    // Label values in base 36, as the finding's body: 4.4M series make 64.3 MB, under 64 MiB.
    const { body, raw } = await gzipLines(n, (i) => `m{a="${i.toString(36)}"} 1\n`);
    f.log(`body: ${n} series, ${fmtBytes(body.length)} gzip, ${fmtBytes(raw)} decompressed`);
    const s = await f.agent('agent');
    const want = expectation(f, n);
    const answers: Answer[] = [];
    let peak = s.rssBeforeKb ?? 0;
    for (let k = 1; k <= 3 && s.alive; k++) {
      const step = await s.step(() => push(s, `/metrics/job/f1/instance/${k}`, body, { ...TEXT, 'Content-Encoding': 'gzip' }, { timeoutMs: 600_000 }));
      answers.push(step.value);
      peak = Math.max(peak, step.rssMaxKb ?? 0);
      f.log(`push ${k}: ${answerText(step.value)} | RSS max ${mibOf(step.rssMaxKb)}, now ${mibOf(s.rssKb())} | /-/healthy ${fmtLatencies(step.healthy)}`);
    }
    const statuses = answers.map((a) => a.status || 'none').join(', ');
    f.check(
      want.refuse ? `every push refused with a 4xx (${want.why})` : `every push stored (${want.why})`,
      answers.length === 3 && answers.every((a) => (want.refuse ? is4xx(a.status) : a.status === 200)),
      statuses,
    );
    f.check('agent alive after the three pushes', s.alive, s.alive ? 'yes' : 'no');
    f.check(`RSS under the DaemonSet memory limit (${DAEMONSET_LIMIT_KB / 1024} MiB)`, peak < DAEMONSET_LIMIT_KB && s.killedByGuard === undefined, `peak ${mibOf(peak)}`);
  },
};

/** Pushes `n` distinct metric names to a group of its own, then deletes the group (timed too). */
async function names(s: Session, n: number, tag: string) {
  // Names in base 36, as the finding's body: 1M names make 7.9 MB.
  const body = lines(n, (i) => `m${i.toString(36)} 1\n`);
  const step = await s.step(() => push(s, `/metrics/job/f2/instance/${tag}`, body, TEXT, { timeoutMs: 900_000 }));
  const del = await s.step(() => push(s, `/metrics/job/f2/instance/${tag}`, Buffer.alloc(0), TEXT, { method: 'DELETE' }));
  return { ...step, bytes: body.length, del };
}

function deleted(del: Step<Answer>): string {
  return `DELETE ${del.value.status || 'no answer'} in ${fmtMs(del.value.ms)} (/-/healthy max ${fmtMs(del.healthy.max)})`;
}

export const finding2: Finding = {
  id: 2,
  title: 'push of 1M distinct metric names; 10k/50k/100k/200k timing; huge labels and names',
  async run(f) {
    const sizes = [10_000, 50_000, 100_000, 200_000].map((n) => f.scaled(n, 500));
    // The timing needs the largest push stored: raise sample_limit for it when the default is lower.
    const limit = sampleLimit(f);
    const timing = await f.agent('agent for the timing', { input: limit > 0 && limit < sizes[3] ? { sample_limit: sizes[3] } : {} });
    const best = new Map<number, number>();
    for (const n of sizes) {
      // 100k and 200k twice each: their ratio is the check, and one run can be disturbed.
      const rounds = n === sizes[2] || n === sizes[3] ? 2 : 1;
      for (let r = 0; r < rounds && timing.alive; r++) {
        const st = await names(timing, n, `n${n}-${r}`);
        f.log(`${n} names (${fmtBytes(st.bytes)}): ${answerText(st.value)} | RSS max ${mibOf(st.rssMaxKb)} | /-/healthy ${fmtLatencies(st.healthy)} | ${deleted(st.del)}`);
        if (st.value.status === 200) best.set(n, Math.min(best.get(n) ?? Infinity, st.value.ms));
        if (n === sizes[2] && r === 0) healthyCheck(f, `during the ${n}-series push`, st);
      }
    }
    const [t1, t2] = [best.get(sizes[2]), best.get(sizes[3])];
    const ratio = t1 && t2 ? t2 / t1 : undefined;
    f.check(
      `${sizes[3]} names take at most 2.2x the time of ${sizes[2]}`,
      ratio !== undefined && ratio <= 2.2,
      ratio === undefined ? 'a push failed' : `${fmtMs(t2)} / ${fmtMs(t1)} = ${ratio.toFixed(2)}x (the faster of two runs each)`,
    );
    f.log(await timing.end());

    const s = await f.agent('agent');
    const big = f.scaled(1_000_000, 1_000);
    const want = expectation(f, big);
    if (s.alive) {
      const st = await names(s, big, 'million');
      f.log(`${big} names (${fmtBytes(st.bytes)}): ${answerText(st.value)} | RSS max ${mibOf(st.rssMaxKb)} | /-/healthy ${fmtLatencies(st.healthy)} | ${deleted(st.del)}`);
      f.check(want.refuse ? `${big} names refused with a 4xx (${want.why})` : `${big} names stored (${want.why})`, want.refuse ? is4xx(st.value.status) : st.value.status === 200, answerText(st.value));
    }

    // Not scaled: each is one push of at most 15 MiB.
    const MiB = 1024 * 1024;
    const huge: [string, () => Buffer][] = [
      ['a 1 MiB label value', () => Buffer.from(`f2_lv{a="${'v'.repeat(MiB)}"} 1\n`)],
      ['a 15 MiB label value', () => Buffer.from(`f2_lv{a="${'v'.repeat(15 * MiB)}"} 1\n`)],
      ['10,000 labels on one sample', () => Buffer.from(`f2_ln{${Array.from({ length: 10_000 }, (_, i) => `l${i}="v"`).join(',')}} 1\n`)],
      ['a 10 MiB metric name', () => Buffer.from(`f2_${'n'.repeat(10 * MiB)} 1\n`)],
    ];
    for (const [what, make] of huge) {
      if (!s.alive) break;
      const st = await s.step(() => push(s, `/metrics/job/f2/instance/huge`, make(), TEXT, { timeoutMs: 300_000 }));
      f.log(`${what}: ${answerText(st.value)}`);
      f.check(`${what} refused with a 4xx`, is4xx(st.value.status), answerText(st.value));
    }
    f.check('agent alive', s.alive, s.alive ? 'yes' : 'no');
  },
};
