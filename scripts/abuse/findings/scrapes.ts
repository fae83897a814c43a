// Findings 3 and 4: reading a large store. Scrapes of millions of stored series (or 100k
// groups) must not stall the agent, and clients that ask for a large answer and never read it
// must be cut off without the agent holding their answers.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { lines } from '../bodies.ts';
import { answerText, get, healthyCheck, inParallel, push, type Finding, type FindingRun, type Session } from '../harness.ts';
import { connect, noteClosedByPeer, write, type Conn } from '../sockets.ts';
import { Counts, fmtBytes, fmtLatencies, fmtMs, mibOf } from '../../soak/stats.ts';

/** Stores `total` series line(i) in groups of at most sample_limit series each. */
async function fill(f: FindingRun, s: Session, total: number, job: string, line: (i: number) => string): Promise<void> {
  const limit = Number(f.option('inputs.pushgateway', 'sample_limit') ?? 0) || 200_000;
  const per = Math.min(limit, 200_000);
  const t0 = performance.now();
  for (let from = 0, k = 0; from < total && s.alive; from += per, k++) {
    const body = lines(Math.min(per, total - from), (i) => line(from + i));
    const a = await push(s, `/metrics/job/${job}/instance/${k}`, body, undefined, { timeoutMs: 900_000 });
    if (a.status !== 200) throw new Error(`filling the store: push ${k} got ${answerText(a)}`);
  }
  f.log(`stored ${total} series in ${Math.ceil(total / per)} groups in ${fmtMs(performance.now() - t0)}; RSS ${mibOf(s.rssKb())}`);
}

/** GETs `path` as one step; checks it answers 200 and /-/healthy stays live meanwhile. */
async function scrape(f: FindingRun, s: Session, path: string, what: string): Promise<void> {
  const st = await s.step(() => get(s, path));
  f.log(`GET ${path}: ${st.value.status || 'no answer'} in ${fmtMs(st.value.ms)}, ${fmtBytes(st.value.bytes)} | RSS max ${mibOf(st.rssMaxKb)} | /-/healthy ${fmtLatencies(st.healthy)}`);
  f.check(`GET ${path} answered 200 ${what}`, st.value.status === 200, answerText(st.value));
  healthyCheck(f, `during GET ${path} ${what}`, st);
}

export const finding3: Finding = {
  id: 3,
  title: 'scrapes of 2M stored series, and of 100k one-sample groups',
  async run(f) {
    const series = f.scaled(2_000_000, 10_000);
    // The store must be able to hold them: no series or group limit here (the finding's setting).
    const a = await f.agent('agent with 2M series', { input: f.knownOnly('inputs.pushgateway', { max_series: 0, max_groups: 0 }) });
    await fill(f, a, series, 'f3', (i) => `m{a="${i}"} 1\n`);
    const what = `with ${series} series stored`;
    await scrape(f, a, '/metrics', what);
    await scrape(f, a, '/api/v1/metrics', what);
    f.log(await a.end());

    const groups = f.scaled(100_000, 1_000);
    const b = await f.agent('agent with 100k groups');
    const t0 = performance.now();
    const statuses = new Counts();
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 16, timeout: 60_000 });
    await inParallel(16, groups, async (i) => {
      statuses.add((await push(b, `/metrics/job/f3b/instance/${i}`, Buffer.from('m 1\n'), undefined, { agent: keepAlive })).status || 'no answer');
    });
    keepAlive.destroy();
    f.log(`stored ${groups} one-sample groups in ${fmtMs(performance.now() - t0)} (answers ${statuses}); RSS ${mibOf(b.rssKb())}`);
    const whatB = `with ${groups} groups stored`;
    await scrape(f, b, '/metrics', whatB);
    await scrape(f, b, '/api/v1/metrics', whatB);
    await scrape(f, b, '/', whatB);
  },
};

const READERS = 20;

export const finding4: Finding = {
  id: 4,
  title: '20 clients GET a 38 MB /metrics and never read',
  async run(f) {
    // 38 MB of /metrics in at most 400k series, and no more than 90% of the build's max_series
    // (the store must hold them in the default configuration): the padding label makes up the rest.
    const maxSeries = Number(f.option('inputs.pushgateway', 'max_series') ?? 0);
    const series = Math.min(f.scaled(400_000, 4_000), maxSeries > 0 ? Math.floor(maxSeries * 0.9) : Infinity);
    const pad = 'p'.repeat(Math.max(10, Math.round((38e6 * f.o.scale) / series) - 45));
    const s = await f.agent('agent');
    await fill(f, s, series, 'f4', (i) => `m4{a="${i}",pad="${pad}"} 1\n`);
    const once = await get(s, '/metrics');
    f.log(`one GET /metrics read normally: ${once.status}, ${fmtBytes(once.bytes)} in ${fmtMs(once.ms)}`);
    const before = s.rssKb() ?? 0;
    const port = Number(new URL(s.agent.baseUrl).port);
    const holdS = f.o.holdS;
    const conns: Conn[] = [];
    const st = await s.step(async () => {
      for (let i = 0; i < READERS; i++) {
        const c = await connect(port, { read: false });
        await write(c, 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        conns.push(c);
      }
      const t0 = performance.now();
      while (performance.now() - t0 < holdS * 1000) {
        await sleep(1_000);
        noteClosedByPeer(conns, port);
        if (conns.every((c) => c.closedAt !== undefined)) break;
      }
      return t0;
    });
    for (const c of conns) c.socket.destroy();
    const closed = conns.filter((c) => c.closedAt !== undefined).map((c) => (c.closedAt! - st.value) / 1000);
    const growthKb = (st.rssMaxKb ?? before) - before;
    f.log(
      `${READERS} readers that never read, held up to ${holdS} s: ${closed.length} closed by the agent` +
        (closed.length ? ` after ${Math.min(...closed).toFixed(1)}-${Math.max(...closed).toFixed(1)} s` : '') +
        ` | RSS ${mibOf(before)} -> max ${mibOf(st.rssMaxKb)} | /-/healthy ${fmtLatencies(st.healthy)}`,
    );
    f.check(`the agent closed every reader within ${holdS} s`, closed.length === READERS, `${closed.length} of ${READERS}`);
    healthyCheck(f, 'while the readers hang', st);
    const bound = 0.5 * READERS * once.bytes;
    f.check(
      'the agent does not hold their answers (RSS growth < half of 20 answers)',
      growthKb * 1024 < bound,
      `growth ${mibOf(growthKb)} against 20 x ${fmtBytes(once.bytes)}`,
    );
  },
};
