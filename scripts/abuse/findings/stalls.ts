// Findings 5 and 12: clients that stop sending. Bodies that stall one byte short of their length
// must be cut off by an idle timeout and give back their share of max_inflight_bytes (another
// client keeps pushing meanwhile); headers that trickle in must be cut off at headers_timeout.
import { setTimeout as sleep } from 'node:timers/promises';
import { paddedText } from '../bodies.ts';
import { healthyCheck, push, type Finding, type FindingRun } from '../harness.ts';
import { connect, write, type Conn } from '../sockets.ts';
import { bytesOf, durationMs } from '../../soak/agent.ts';
import { Counts, fmtBytes, fmtLatencies, mibOf } from '../../soak/stats.ts';

const MiB = 1024 * 1024;

function port(baseUrl: string): number {
  return Number(new URL(baseUrl).port);
}

/** Status lines the connections got ("408", "no answer"), counted. */
function answers(conns: readonly Conn[]): Counts {
  const c = new Counts();
  for (const x of conns) c.add(/^HTTP\/1\.1 (\d{3})/.exec(x.answer)?.[1] ?? 'no answer');
  return c;
}

/** Seconds from each connection's opening to its close, for the closed ones. */
function closedAfterS(conns: readonly Conn[]): number[] {
  return conns.filter((c) => c.closedAt !== undefined).map((c) => (c.closedAt! - c.openedAt) / 1000);
}

function range(xs: number[]): string {
  return xs.length ? `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)} s` : '-';
}

function httpOptionMs(f: FindingRun, key: string, fallback: string): number {
  return durationMs(f.option('http', key) ?? fallback) ?? durationMs(fallback)!;
}

const STALLED = 16;

export const finding5: Finding = {
  id: 5,
  title: '16 connections send 16 MiB - 1 byte of a 16 MiB body and stall',
  async run(f) {
    const size = f.scaled(16 * MiB, 64 * 1024);
    // Scaled down, the budget shrinks with the bodies, so that they still fill it.
    const budget = bytesOf(f.option('inputs.pushgateway', 'max_inflight_bytes') ?? '') ?? 256 * MiB;
    const input = f.o.scale < 1 ? f.knownOnly('inputs.pushgateway', { max_inflight_bytes: Math.round(budget * f.o.scale) }) : {};
    const s = await f.agent('agent', { input });
    const requestTimeout = httpOptionMs(f, 'request_timeout', '1m');
    const body = paddedText(size, 'f5_v 1\n').subarray(0, size - 1);
    const others = new Counts();
    const own = new Counts();
    const conns: Conn[] = [];
    const st = await s.step(async () => {
      const sent: Promise<void>[] = [];
      for (let k = 0; k < STALLED; k++) {
        const c = await connect(port(s.agent.baseUrl), { read: true, localAddress: '127.0.0.1' });
        conns.push(c);
        sent.push(
          write(c, `PUT /metrics/job/f5/instance/${k} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: ${size}\r\n\r\n`).then(() => write(c, body)),
        );
      }
      await Promise.race([Promise.all(sent), sleep(30_000)]);
      f.log(`${STALLED} bodies of ${fmtBytes(size)} sent but their last byte, from 127.0.0.1; RSS ${mibOf(s.rssKb())}`);
      // Another client (127.0.0.2) pushes every second; the stalling client tries too.
      const t0 = performance.now();
      let after = 0;
      while (performance.now() - t0 < f.o.holdS * 1000) {
        const [o, m] = await Promise.all([
          push(s, '/metrics/job/f5other/instance/b', Buffer.from('f5_other 1\n'), undefined, { localAddress: '127.0.0.2', timeoutMs: 10_000 }),
          push(s, '/metrics/job/f5own/instance/a', Buffer.from('f5_own 1\n'), undefined, { localAddress: '127.0.0.1', timeoutMs: 10_000 }),
        ]);
        others.add(o.status || 'no answer');
        own.add(m.status || 'no answer');
        if (conns.every((c) => c.closedAt !== undefined) && ++after >= 5) break;
        await sleep(1_000);
      }
    });
    for (const c of conns) c.socket.destroy();
    const closed = closedAfterS(conns);
    f.log(
      `stalled bodies: ${closed.length} of ${STALLED} closed by the agent, ${range(closed)} after they opened, answers ${answers(conns)}` +
        ` | another client's pushes: ${others} | the stalling client's own pushes: ${own} | /-/healthy ${fmtLatencies(st.healthy)}`,
    );
    f.check("another client's pushes answered 200 while the bodies stall", others.total() > 0 && others.get(200) === others.total(), others.toString());
    f.check(
      `every stalled body cut off before request_timeout (${requestTimeout / 1000} s) would`,
      closed.length === STALLED && Math.max(...closed) * 1000 < requestTimeout - 2_000,
      `${closed.length} of ${STALLED} closed, ${range(closed)}`,
    );
    healthyCheck(f, 'while the bodies stall', st);
  },
};

export const finding12: Finding = {
  id: 12,
  title: '500 slowloris connections (headers sent a line every 2 s)',
  async run(f) {
    const n = f.scaled(500, 50);
    const s = await f.agent('agent');
    const headersTimeout = httpOptionMs(f, 'headers_timeout', '10s');
    const holdS = Math.min(f.o.holdS, headersTimeout / 1000 + 30);
    const conns: Conn[] = [];
    const st = await s.step(async () => {
      for (let i = 0; i < n; i++) {
        const c = await connect(port(s.agent.baseUrl), { read: true });
        conns.push(c);
        void write(c, 'GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      }
      const t0 = performance.now();
      for (let j = 0; performance.now() - t0 < holdS * 1000 && conns.some((c) => c.closedAt === undefined); j++) {
        await sleep(2_000);
        for (const c of conns) if (c.closedAt === undefined) void write(c, `X-Slow-${j}: 1\r\n`);
      }
    });
    for (const c of conns) c.socket.destroy();
    const closed = closedAfterS(conns);
    const limitS = headersTimeout / 1000 + 2;
    f.log(`${n} slow connections: ${closed.length} closed by the agent within ${holdS} s, ${range(closed)} after they opened, answers ${answers(conns)} | /-/healthy ${fmtLatencies(st.healthy)}`);
    f.check(
      `every slow connection closed within headers_timeout + 2 s (${limitS} s)`,
      closed.length === n && Math.max(...closed) <= limitS,
      `${closed.length} of ${n} closed, ${range(closed)}`,
    );
  },
};
