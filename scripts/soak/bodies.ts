// Push bodies of the soak: what an application or a batch job pushes (a counter, a gauge, a
// histogram and a summary family, one "up" gauge), scaled to any number of samples, in the
// text format, gzip-compressed text or delimited protobuf. Every family of a prefix has one
// type and one help in every body, so pushes to different groups are always consistent.
//
// The points a body becomes at the sink are counted here, exactly: every sample line is one
// field value in InfluxDB (a counter or gauge value, a quantile, a bucket, a _sum, a _count),
// every series is distinct, and no value is NaN or infinite (those are skipped by the sink).
import { gzipSync } from 'node:zlib';
import { prng } from '../bench/bodies.ts';
import { protobufTwin } from '../bench/protobuf-body.ts';

export const FORMATS = ['text', 'gzip', 'protobuf'] as const;
export type Format = (typeof FORMATS)[number];

export interface SoakBody {
  body: Buffer;
  headers: Record<string, string>;
  /** Field values this push adds at the sink. */
  points: number;
}

const BOUNDS = ['0.01', '0.1', '1', '10'];
const QUANTILES = ['0.5', '0.9', '0.99'];
const HIST_SAMPLES = BOUNDS.length + 3; // the buckets, +Inf, _sum, _count
const SUMMARY_SAMPLES = QUANTILES.length + 2;

/**
 * Text of about `samples` samples of the families of `prefix` (also the InfluxDB measurement);
 * every sample at `tsMs` when given. Returns the text and its exact number of samples.
 */
export function textBody(prefix: string, samples: number, seed: number, tsMs?: number): { text: string; points: number } {
  const rnd = prng(seed);
  const ts = tsMs === undefined ? '' : ` ${tsMs}`;
  const lines: string[] = [];
  let points = 0;
  const sample = (line: string) => {
    lines.push(line + ts);
    points++;
  };
  const n = Math.max(0, samples - 1);
  const counters = Math.round(n * 0.4);
  const gauges = Math.round(n * 0.3);
  const hists = Math.round((n * 0.2) / HIST_SAMPLES);
  const summaries = Math.round((n * 0.1) / SUMMARY_SAMPLES);

  lines.push(`# HELP ${prefix}_up Whether the last run succeeded.`, `# TYPE ${prefix}_up gauge`);
  sample(`${prefix}_up 1`);
  if (counters > 0) {
    lines.push(`# HELP ${prefix}_requests_total Requests handled.`, `# TYPE ${prefix}_requests_total counter`);
    for (let i = 0; i < counters; i++) sample(`${prefix}_requests_total{route="/r/${i}",code="${200 + (i % 5)}"} ${Math.floor(rnd() * 1e6)}`);
  }
  if (gauges > 0) {
    lines.push(`# HELP ${prefix}_queue_depth Items waiting.`, `# TYPE ${prefix}_queue_depth gauge`);
    for (let i = 0; i < gauges; i++) sample(`${prefix}_queue_depth{queue="q${i}"} ${(rnd() * 500).toFixed(2)}`);
  }
  if (hists > 0) {
    lines.push(`# HELP ${prefix}_duration_seconds Time taken.`, `# TYPE ${prefix}_duration_seconds histogram`);
    for (let i = 0; i < hists; i++) {
      let c = 0;
      for (const le of BOUNDS) {
        c += Math.floor(rnd() * 100);
        sample(`${prefix}_duration_seconds_bucket{route="/r/${i}",le="${le}"} ${c}`);
      }
      sample(`${prefix}_duration_seconds_bucket{route="/r/${i}",le="+Inf"} ${c}`);
      sample(`${prefix}_duration_seconds_sum{route="/r/${i}"} ${(c * rnd()).toFixed(3)}`);
      sample(`${prefix}_duration_seconds_count{route="/r/${i}"} ${c}`);
    }
  }
  if (summaries > 0) {
    lines.push(`# HELP ${prefix}_rpc_seconds RPC latency.`, `# TYPE ${prefix}_rpc_seconds summary`);
    for (let i = 0; i < summaries; i++) {
      let q = 0;
      for (const quantile of QUANTILES) {
        q += rnd() * 0.1;
        sample(`${prefix}_rpc_seconds{rpc="m${i}",quantile="${quantile}"} ${q.toFixed(4)}`);
      }
      sample(`${prefix}_rpc_seconds_sum{rpc="m${i}"} ${(q * 10).toFixed(3)}`);
      sample(`${prefix}_rpc_seconds_count{rpc="m${i}"} 10`);
    }
  }
  return { text: lines.join('\n') + '\n', points };
}

export function encode(text: string, points: number, format: Format): SoakBody {
  const raw = Buffer.from(text);
  switch (format) {
    case 'text':
      return { body: raw, headers: { 'Content-Type': 'text/plain; version=0.0.4' }, points };
    case 'gzip':
      return { body: gzipSync(raw, { level: 1 }), headers: { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Encoding': 'gzip' }, points };
    case 'protobuf':
      return {
        body: protobufTwin(raw),
        headers: { 'Content-Type': 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited' },
        points,
      };
  }
}

/** A push that must be refused with a 4xx: what it is, where it goes, how it is sent. */
export interface BadPush {
  kind: string;
  /** Path after the base URL. */
  path: string;
  body: Buffer;
  headers: Record<string, string>;
}

/**
 * Pushes a broken client sends. `labelValueLimit`: the build's label_value_length_limit when it
 * has one (a value one longer must then be refused).
 */
export function badPushes(labelValueLimit?: number): BadPush[] {
  const text = { 'Content-Type': 'text/plain; version=0.0.4' };
  const g = '/metrics/job/soakbad/instance/x';
  const out: BadPush[] = [
    { kind: 'syntax', path: g, body: Buffer.from('soakbad_x{a="1" 1\n'), headers: text },
    { kind: 'two TYPE lines', path: g, body: Buffer.from('# TYPE soakbad_y counter\n# TYPE soakbad_y gauge\nsoakbad_y 1\n'), headers: text },
    { kind: 'duplicate series', path: g, body: Buffer.from('soakbad_z{a="1"} 1\nsoakbad_z{a="1"} 2\n'), headers: text },
    { kind: 'bad metric name', path: g, body: Buffer.from('0soakbad 1\n'), headers: text },
    { kind: 'bad timestamp', path: g, body: Buffer.from('soakbad_t 1 soon\n'), headers: text },
    {
      kind: 'protobuf garbage',
      path: g,
      body: Buffer.from('garbage!garbage'),
      headers: { 'Content-Type': 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited' },
    },
    { kind: 'not gzip', path: g, body: Buffer.from('soakbad_g 1\n'), headers: { ...text, 'Content-Encoding': 'gzip' } },
    { kind: 'unknown encoding', path: g, body: Buffer.from('soakbad_e 1\n'), headers: { ...text, 'Content-Encoding': 'br' } },
    { kind: 'summary collision', path: g, body: Buffer.from('soakbad_s_count 1\n# TYPE soakbad_s summary\nsoakbad_s_sum 1\n'), headers: text },
    { kind: 'odd grouping path', path: '/metrics/job/soakbad/instance', body: Buffer.from('soakbad_p 1\n'), headers: text },
    { kind: 'empty job', path: '/metrics/job/', body: Buffer.from('soakbad_j 1\n'), headers: text },
  ];
  if (labelValueLimit !== undefined && labelValueLimit > 0) {
    out.push({ kind: 'label value over limit', path: g, body: Buffer.from(`soakbad_l{a="${'v'.repeat(labelValueLimit + 1)}"} 1\n`), headers: text });
  }
  return out;
}
