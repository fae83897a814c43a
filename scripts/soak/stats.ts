// Small figures shared by the soak and the abuse replay: percentiles of latencies and their
// one-line rendering.

export interface Latencies {
  /** Probes that finished (answered, timed out or failed). */
  n: number;
  p50?: number;
  p99?: number;
  max?: number;
  /** Probes that got no answer within their timeout (counted in the figures at that timeout). */
  timeouts: number;
  /** Probes that failed otherwise (refused connection, reset, a status other than 200). */
  errors: number;
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function summarize(ms: readonly number[], timeouts = 0, errors = 0): Latencies {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1], timeouts, errors };
}

/** "12" / "1,234" / "12.3 s": milliseconds as people read them. */
export function fmtMs(v: number | undefined): string {
  if (v === undefined) return '-';
  if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  if (v >= 100) return `${Math.round(v)} ms`;
  return `${v.toFixed(1)} ms`;
}

export function fmtLatencies(l: Latencies): string {
  const extra = [l.timeouts ? `${l.timeouts} timed out` : '', l.errors ? `${l.errors} failed` : ''].filter(Boolean).join(', ');
  return `p50 ${fmtMs(l.p50)} p99 ${fmtMs(l.p99)} max ${fmtMs(l.max)} (n=${l.n}${extra ? `, ${extra}` : ''})`;
}

export function mibOf(kb: number | undefined): string {
  return kb === undefined ? '-' : `${(kb / 1024).toFixed(0)} MiB`;
}

/** Counts by key, e.g. answers by status code: "200:1234 400:56". */
export class Counts {
  private readonly m = new Map<string, number>();
  add(key: string | number, n = 1): void {
    const k = String(key);
    this.m.set(k, (this.m.get(k) ?? 0) + n);
  }
  get(key: string | number): number {
    return this.m.get(String(key)) ?? 0;
  }
  entries(): [string, number][] {
    return [...this.m].sort(([a], [b]) => a.localeCompare(b));
  }
  total(): number {
    let t = 0;
    for (const v of this.m.values()) t += v;
    return t;
  }
  toString(): string {
    return this.entries().map(([k, v]) => `${k}:${v}`).join(' ') || '-';
  }
}

/** "11.0 MB" / "640 kB" / "12 B": sizes of bodies and answers. */
export function fmtBytes(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} B`;
}
