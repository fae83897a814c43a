// Findings 10 and 11: work that must not hold the event loop. 200 connections pushing 1,000
// samples each as fast as they are answered, and snappy bodies of 1.8M one-byte stored chunks.
import http from 'node:http';
import { makeBodies } from '../../bench/bodies.ts';
import { paddedText, snappyOneByteChunks } from '../bodies.ts';
import { answerText, healthyCheck, push, TEXT, type Finding } from '../harness.ts';
import { send } from '../../soak/http-client.ts';
import { Counts, fmtBytes, fmtLatencies, fmtMs, mibOf, summarize } from '../../soak/stats.ts';

const OVERLOAD_S = 20;

export const finding10: Finding = {
  id: 10,
  title: `200 connections PUT 1,000-sample bodies for ${OVERLOAD_S} s`,
  async run(f) {
    const conns = f.scaled(200, 10);
    const body = makeBodies(['medium'])[0];
    const s = await f.agent('agent');
    const agent = new http.Agent({ keepAlive: true, maxSockets: conns, timeout: 60_000 });
    const ms: number[] = [];
    const statuses = new Counts();
    const st = await s.step(async () => {
      const until = performance.now() + OVERLOAD_S * 1000;
      await Promise.all(
        Array.from({ length: conns }, async (_, c) => {
          while (performance.now() < until) {
            const a = await send(`${s.agent.baseUrl}/metrics/job/f10/c/${c}`, { method: 'PUT', body: body.body, headers: TEXT, agent, timeoutMs: 60_000 });
            statuses.add(a.status || 'no answer');
            ms.push(a.ms);
          }
        }),
      );
    });
    agent.destroy();
    const lat = summarize(ms);
    f.log(
      `${conns} connections, ${body.samples} samples a push: ${ms.length} pushes (${(ms.length / OVERLOAD_S).toFixed(0)}/s), answers ${statuses}` +
        ` | push latency p50 ${fmtMs(lat.p50)} p99 ${fmtMs(lat.p99)} max ${fmtMs(lat.max)} | RSS max ${mibOf(st.rssMaxKb)} | /-/healthy ${fmtLatencies(st.healthy)}`,
    );
    healthyCheck(f, `under ${conns} pushing connections`, st);
    const bad = statuses.entries().filter(([k]) => !['200', '503', '429'].includes(k));
    f.check('every push answered 200 (or refused with 503/429 to shed load)', bad.length === 0, statuses.toString());
  },
};

export const finding11: Finding = {
  id: 11,
  title: '4 snappy bodies of 1.8M one-byte stored chunks',
  async run(f) {
    const bytes = f.scaled(1_800_000, 10_000);
    const framed = snappyOneByteChunks(paddedText(bytes, 'f11_v 1\n'));
    f.log(`body: ${bytes} bytes of text in ${bytes} stored chunks, ${fmtBytes(framed.length)} on the wire`);
    const s = await f.agent('agent');
    const statuses = new Counts();
    for (let k = 0; k < 4 && s.alive; k++) {
      const st = await s.step(() => push(s, `/metrics/job/f11/instance/${k}`, framed, { ...TEXT, 'Content-Encoding': 'snappy' }));
      statuses.add(st.value.status || 'no answer');
      f.log(`push ${k + 1}: ${answerText(st.value)} | /-/healthy ${fmtLatencies(st.healthy)}`);
      healthyCheck(f, `during push ${k + 1}`, st);
    }
    f.check('every body accepted (200)', statuses.get(200) === 4, statuses.toString());
  },
};
