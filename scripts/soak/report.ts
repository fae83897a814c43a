// What the soak prints: one line per interval while it runs, then the end checks and a verdict.
import { median } from '../bench/format.ts';
import type { Kind } from './ledger.ts';
import { KINDS } from './ledger.ts';
import { Counts, fmtLatencies, fmtMs, mibOf, summarize, type Latencies } from './stats.ts';

/** The agent's own figures, from its /metrics. */
export interface SelfFigures {
  lagP99Ms?: number;
  lagMaxMs?: number;
  queuePoints?: number;
  diskQueueBytes?: number;
  sent?: number;
  deadLettered?: number;
  retried?: number;
}

export const SELF_METRICS = {
  lagP99: 'pushkit_nodejs_eventloop_lag_p99_seconds',
  lagMax: 'pushkit_nodejs_eventloop_lag_max_seconds',
  queuePoints: 'pushkit_sink_queue_points',
  diskQueueBytes: 'pushkit_sink_disk_queue_bytes',
  sent: 'pushkit_sink_points_sent_total',
  deadLettered: 'pushkit_sink_points_dead_lettered_total',
  retried: 'pushkit_sink_batches_retried_total',
} as const;

export interface IntervalLine {
  atS: number;
  rssKb?: number;
  rssMinKb?: number;
  rssMaxKb?: number;
  healthy: Latencies;
  self: SelfFigures;
  answers: Map<Kind, Counts>;
  pushMs: number[];
  backend: string;
}

export function intervalLine(l: IntervalLine): string {
  const lag = l.self.lagP99Ms === undefined ? '-' : `p99 ${fmtMs(l.self.lagP99Ms)} max ${fmtMs(l.self.lagMaxMs)}`;
  const answers = KINDS.map((k) => `${k} ${l.answers.get(k)!.toString()}`).join(' | ');
  const push = summarize(l.pushMs);
  const sink = [
    l.self.queuePoints === undefined ? '' : `queue ${l.self.queuePoints} pts`,
    l.self.diskQueueBytes === undefined ? '' : `disk ${(l.self.diskQueueBytes / 1048576).toFixed(1)} MiB`,
    l.self.sent === undefined ? '' : `sent ${l.self.sent}`,
    l.self.retried ? `retried ${l.self.retried}` : '',
  ].filter(Boolean).join(', ');
  return (
    `[${String(Math.round(l.atS)).padStart(5)} s] RSS ${mibOf(l.rssKb)} (${mibOf(l.rssMinKb)}-${mibOf(l.rssMaxKb)})` +
    ` | /-/healthy ${fmtLatencies(l.healthy)} | agent event-loop lag ${lag}` +
    `\n          answers: ${answers} | push latency p50 ${fmtMs(push.p50)} p99 ${fmtMs(push.p99)} max ${fmtMs(push.max)}` +
    ` | sink: ${sink || '-'} | influxdb ${l.backend}`
  );
}

export interface RssPoint {
  atS: number;
  kb: number;
}

export interface RssGrowth {
  baselineKb: number;
  endKb: number;
  growth: number;
  /** Least-squares slope over the measured part, MiB per minute. */
  slopeMibPerMin: number;
  peakKb: number;
  windowS: number;
}

/**
 * RSS growth after warm-up: the median of the window that starts when the first third of the
 * run is over against the median of the run's last window (medians, so one GC cycle's peak or
 * trough does not decide), plus the slope of a straight line through every reading since.
 */
export function rssGrowth(points: readonly RssPoint[], runS: number): RssGrowth | undefined {
  const windowS = Math.max(30, runS / 10);
  const from = runS / 3;
  const measured = points.filter((p) => p.atS >= from);
  const base = median(measured.filter((p) => p.atS <= from + windowS).map((p) => p.kb));
  const end = median(measured.filter((p) => p.atS >= runS - windowS).map((p) => p.kb));
  if (base === undefined || end === undefined || measured.length < 2) return undefined;
  const n = measured.length;
  const mx = measured.reduce((s, p) => s + p.atS, 0) / n;
  const my = measured.reduce((s, p) => s + p.kb, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of measured) {
    sxy += (p.atS - mx) * (p.kb - my);
    sxx += (p.atS - mx) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx; // kB per s
  return { baselineKb: base, endKb: end, growth: end / base - 1, slopeMibPerMin: (slope * 60) / 1024, peakKb: Math.max(...measured.map((p) => p.kb)), windowS };
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export function verdict(checks: readonly Check[]): string {
  const lines = checks.map((c) => `  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  const failed = checks.filter((c) => !c.ok).length;
  lines.push('', failed === 0 ? 'soak verdict: PASS' : `soak verdict: FAIL (${failed} of ${checks.length} checks failed)`);
  return lines.join('\n');
}
