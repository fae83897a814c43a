// Findings 6, 7 and 8: numbers that do not fit. Timestamps past int64 milliseconds (or past int64
// nanoseconds at the sink), a batch a backend refuses in part, protobuf length prefixes beyond
// 32 bits, native histogram spans whose offsets overflow.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { answerText, get, is4xx, push, TEXT, type Finding, type FindingRun, type Session } from '../harness.ts';
import { delimited, gaugeFamily, nativeHistogramFamily, PROTOBUF_TYPE, varint } from '../protobuf.ts';
import { sumMetrics } from '../../soak/agent.ts';
import { Influx } from '../../soak/influx.ts';

const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Pushes each body and checks it is refused with a 4xx. */
async function refused(f: FindingRun, s: Session, cases: [string, string, Buffer, Record<string, string>][]): Promise<void> {
  for (const [what, path, body, headers] of cases) {
    const a = await push(s, path, body, headers);
    f.log(`${what}: ${answerText(a)}`);
    f.check(`${what} refused with a 4xx`, is4xx(a.status), answerText(a));
  }
}

/** Whether /metrics serves any series of `metric`. */
async function serves(s: Session, metric: string): Promise<string[]> {
  const a = await get(s, '/metrics', 60_000, Infinity);
  return a.text.split('\n').filter((l) => l.startsWith(metric));
}

export const finding6: Finding = {
  id: 6,
  title: 'timestamps out of range; a batch InfluxDB refuses in part',
  async run(f) {
    const s = await f.agent('agent');
    await refused(f, s, [
      ['text timestamp int64 max (ms)', '/metrics/job/f6/instance/text', Buffer.from('f6_x 1 9223372036854775807\n'), TEXT],
      ['text timestamp past int64 ns (9.3e12 ms)', '/metrics/job/f6/instance/ns', Buffer.from('f6_n 1 9300000000000\n'), TEXT],
      ['OpenMetrics timestamp 1e30', '/metrics/job/f6/instance/om', Buffer.from('# TYPE f6_om gauge\nf6_om 1 1e30\n# EOF\n'), { 'Content-Type': OPENMETRICS }],
      ['protobuf timestamp_ms int64 max', '/metrics/job/f6/instance/pb', delimited(gaugeFamily('f6_pb', 1, 9223372036854775807n)), { 'Content-Type': PROTOBUF_TYPE }],
    ]);
    const kept = await serves(s, 'f6_');
    f.check('nothing of them served on /metrics', kept.length === 0, kept.length ? kept.slice(0, 3).join(' | ') : 'none');
    f.log(await s.end());
    await partialWrite(f);
  },
};

/**
 * InfluxDB refuses a point older than its retention policy and stores the rest of the batch
 * ("partial write", 400). Three pushes of now and one of three hours ago, pushed at once so
 * they share a batch: the three must be stored and only the old one set aside.
 */
async function partialWrite(f: FindingRun): Promise<void> {
  if (!existsSync('/usr/bin/influxd')) {
    f.log('partial write: influxd is not installed (bash scripts/setup-peers.sh): skipped');
    f.check('a batch refused in part dead-letters only what InfluxDB refused', false, 'not run: no influxd');
    return;
  }
  const influx = await Influx.create('f6');
  try {
    await influx.query('CREATE DATABASE f6rp WITH DURATION 1h', undefined, 'POST');
    const s = await f.agent('agent with an influxdb sink (retention 1h)', {
      sinks: `[[sinks.influxdb]]\n  url = "${influx.url}/write?db=f6rp&precision=ns"\n`,
    });
    const old = Date.now() - 3 * 3600_000;
    const answers = await Promise.all([
      push(s, '/metrics/job/f6a', Buffer.from('f6_ok{j="a"} 1\n')),
      push(s, '/metrics/job/f6b', Buffer.from('f6_ok{j="b"} 1\n')),
      push(s, '/metrics/job/f6c', Buffer.from('f6_ok{j="c"} 1\n')),
      push(s, '/metrics/job/f6old', Buffer.from(`f6_ok{j="old"} 1 ${old}\n`)),
    ]);
    f.log(`4 pushes (3 of now, 1 of 3 h ago): ${answers.map((a) => a.status || 'no answer').join(', ')}`);
    const names = ['pushkit_sink_points_sent_total', 'pushkit_sink_points_dead_lettered_total', 'pushkit_sink_batches_retried_total'];
    let m: Record<string, number | undefined> = {};
    const t0 = performance.now();
    while (performance.now() - t0 < 30_000) {
      await sleep(500);
      m = sumMetrics((await get(s, '/metrics', 30_000, Infinity)).text, names);
      if ((m[names[0]] ?? 0) + (m[names[1]] ?? 0) >= 4) break;
    }
    await sleep(2_000); // a split-and-retry may still be sending
    m = sumMetrics((await get(s, '/metrics', 30_000, Infinity)).text, names);
    const stored = await influx.fieldValues('f6rp', 'f6');
    const dead = m[names[1]] ?? 0;
    f.log(`influxdb holds ${stored} points; the agent counts sent ${m[names[0]] ?? 0}, dead-lettered ${dead}, batches retried ${m[names[2]] ?? 0}`);
    f.check('influxdb holds the three points of now', stored === 3, `${stored}`);
    f.check('only the refused point dead-lettered (at most 1)', dead <= 1, `${dead} dead-lettered`);
    f.log(await s.end());
  } finally {
    await influx.close();
  }
}

export const finding7: Finding = {
  id: 7,
  title: 'protobuf length prefix 2^32 + the length of a valid message; prefix 2^62 alone',
  async run(f) {
    const s = await f.agent('agent');
    const msg = gaugeFamily('f7_v', 1);
    await refused(f, s, [
      [`length prefix 2^32 + ${msg.length} before a valid ${msg.length}-byte message`, '/metrics/job/f7/instance/a', delimited(msg, 2n ** 32n + BigInt(msg.length)), { 'Content-Type': PROTOBUF_TYPE }],
      ['length prefix 2^62 alone', '/metrics/job/f7/instance/b', varint(2n ** 62n), { 'Content-Type': PROTOBUF_TYPE }],
    ]);
    const kept = await serves(s, 'f7_');
    f.check('nothing of them served on /metrics', kept.length === 0, kept.length ? kept.slice(0, 3).join(' | ') : 'none');
  },
};

export const finding8: Finding = {
  id: 8,
  title: 'native histogram with positive spans {offset: 2e9, length: 1} twice',
  async run(f) {
    const s = await f.agent('agent');
    const body = delimited(nativeHistogramFamily('f8_h', [{ offset: 2e9, length: 1 }, { offset: 2e9, length: 1 }], [1, 2], 4, 10));
    const a = await push(s, '/metrics/job/f8', body, { 'Content-Type': PROTOBUF_TYPE });
    f.log(`push: ${answerText(a)}`);
    const inf = (await serves(s, 'f8_h_bucket')).filter((l) => l.includes('le="+Inf"'));
    f.log(`/metrics serves ${inf.length} +Inf bucket(s) of f8_h${inf.length ? `: ${inf.join(' | ')}` : ''}`);
    f.check('refused with a 4xx, or stored with one +Inf bucket', is4xx(a.status) || (a.status === 200 && inf.length === 1), `${a.status}, ${inf.length} +Inf bucket(s)`);
  },
};
