// What the soak sent and what the agent answered: answers by kind of request and status code,
// push latencies, and the ledger of acknowledged points per InfluxDB measurement that the end
// of the run checks against the backend's own counts.
import type { Answer } from './http-client.ts';
import { Counts } from './stats.ts';

export const KINDS = ['push', 'bad', 'delete', 'scrape'] as const;
export type Kind = (typeof KINDS)[number];

/** The status each kind must get; anything else is a failure of the run. */
export function expected(kind: Kind, status: number): boolean {
  switch (kind) {
    case 'push':
      return status === 200;
    case 'bad':
      return status >= 400 && status < 500;
    case 'delete':
      return status === 202;
    case 'scrape':
      return status === 200;
  }
}

export interface Unexpected {
  atS: number;
  kind: Kind;
  what: string;
  status: number;
  message: string;
}

export class Ledger {
  /** Answers by kind, over the whole run and since the last interval. */
  readonly total = new Map<Kind, Counts>(KINDS.map((k) => [k, new Counts()]));
  interval = new Map<Kind, Counts>(KINDS.map((k) => [k, new Counts()]));
  /** Latencies of good pushes in this interval, ms. */
  pushMs: number[] = [];
  /** Field values of pushes answered 200, per measurement. */
  readonly acked = new Map<string, number>();
  /** Field values of pushes that got no answer (timeout, reset): they may or may not be stored. */
  readonly unknown = new Map<string, number>();
  readonly unexpected: Unexpected[] = [];
  /** Requests sent again after their kept-alive connection was reset unanswered. */
  retried = 0;
  private readonly t0 = performance.now();

  record(kind: Kind, what: string, a: Answer): void {
    const key = a.status === 0 ? 'no answer' : a.status;
    this.total.get(kind)!.add(key);
    this.interval.get(kind)!.add(key);
    if (kind === 'push' && a.status === 200) this.pushMs.push(a.ms);
    if (!expected(kind, a.status)) {
      this.unexpected.push({ atS: (performance.now() - this.t0) / 1000, kind, what, status: a.status, message: (a.error ?? a.text).split('\n')[0].slice(0, 200) });
    }
  }

  /** A good push's answer: its points count as acknowledged (200) or in doubt (no answer). */
  push(measurement: string, points: number, what: string, a: Answer): void {
    this.record('push', what, a);
    if (a.status === 200) this.acked.set(measurement, (this.acked.get(measurement) ?? 0) + points);
    else if (a.status === 0) this.unknown.set(measurement, (this.unknown.get(measurement) ?? 0) + points);
  }

  /** Hands over this interval's answers and latencies and starts the next interval. */
  takeInterval(): { answers: Map<Kind, Counts>; pushMs: number[] } {
    const out = { answers: this.interval, pushMs: this.pushMs };
    this.interval = new Map(KINDS.map((k) => [k, new Counts()]));
    this.pushMs = [];
    return out;
  }
}
