// The soak's clients, each an async loop until the deadline:
//   apps     a few pushers that PUT or POST 5-500 samples (text, gzip or protobuf) to a fixed
//            pool of groups (job soakapp): repeated groups, replaced again and again
//   batch    a batch job that pushes to a fresh group (job soakbatch, instance run-<n>) and
//            DELETEs most of them a moment later; the rest are left to group_ttl
//   large    now and then a 20k-100k sample push (mostly gzip) to one of two groups
//   stamped  pushes whose samples carry timestamps (job soakts)
//   scraper  GET /metrics (text and protobuf), /api/v1/metrics and /api/v1/status
//   bad      broken pushes that must be refused with a 4xx
// Exact delivery needs every point to be a distinct (series, time) in InfluxDB, or a later one
// would overwrite it: a group is pushed by one client at a time, and its next push is sent in
// a later millisecond than the answer to the previous one (points without a timestamp take the
// agent's receive time in ms).
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { prng } from '../bench/bodies.ts';
import { badPushes, encode, FORMATS, textBody, type Format } from './bodies.ts';
import { sendRetrying, type Answer } from './http-client.ts';
import type { Kind, Ledger } from './ledger.ts';

export interface TrafficOptions {
  baseUrl: string;
  /** performance.now() at which the loops stop starting requests. */
  deadline: number;
  /** Multiplies every loop's request rate. */
  rate: number;
  seed: number;
  ledger: Ledger;
  /** label_value_length_limit of the build, if it has one. */
  labelValueLimit?: number;
  /** Each /metrics text scraped, to read the agent's own metrics from. */
  onScrape?: (text: string) => void;
}

const PUSH_TIMEOUT_MS = 120_000;

export class Traffic {
  // A timeout makes Node's agent honour the server's "Keep-Alive: timeout=N" hint (it drops an
  // idle connection a second before the server would); without one it keeps them forever.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 32, timeout: 60_000 });
  private readonly busy = new Set<string>();
  private readonly lastAnswerMs = new Map<string, number>();
  private readonly pendingDeletes = new Set<Promise<void>>();
  private readonly rnd: () => number;
  private seq = 0;

  constructor(private readonly o: TrafficOptions) {
    this.rnd = prng(o.seed);
    this.deadline = o.deadline;
  }

  private deadline: number;

  /** Ends the loops early (the agent died: the rest of the run would only count failures). */
  stop(): void {
    this.deadline = Math.min(this.deadline, performance.now());
  }

  private get running(): boolean {
    return performance.now() < this.deadline;
  }

  private async pause(ms: number): Promise<void> {
    const left = this.deadline - performance.now();
    if (left > 0) await sleep(Math.min(left, ms / this.o.rate));
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)];
  }

  /** Log-uniform in [lo, hi]: mostly small, sometimes large, as real pushes are. */
  private size(lo: number, hi: number): number {
    return Math.round(Math.exp(Math.log(lo) + this.rnd() * (Math.log(hi) - Math.log(lo))));
  }

  private async request(kind: Kind, what: string, path: string, init: { method: string; body?: Buffer; headers?: Record<string, string>; keepBytes?: number }): Promise<Answer> {
    const a = await sendRetrying(this.o.baseUrl + path, { ...init, agent: this.agent, timeoutMs: PUSH_TIMEOUT_MS }, () => this.o.ledger.retried++);
    if (kind !== 'push') this.o.ledger.record(kind, what, a);
    return a;
  }

  /** One good push to a group that no other loop is pushing, in a later ms than its last answer. */
  private async push(measurement: string, group: string, method: 'PUT' | 'POST', format: Format, text: string, points: number): Promise<Answer> {
    while (Date.now() <= (this.lastAnswerMs.get(group) ?? 0)) await sleep(1);
    const b = encode(text, points, format);
    const a = await this.request('push', group, group, { method, body: b.body, headers: b.headers });
    this.lastAnswerMs.set(group, Date.now());
    this.o.ledger.push(measurement, points, `${method} ${group} (${format}, ${points} samples)`, a);
    return a;
  }

  /** A group of `pool` that no loop holds, held until release(). */
  private async take(pool: readonly string[]): Promise<string> {
    for (;;) {
      const free = pool.filter((g) => !this.busy.has(g));
      if (free.length > 0) {
        const g = this.pick(free);
        this.busy.add(g);
        return g;
      }
      await sleep(5);
    }
  }

  private async apps(): Promise<void> {
    const pool = Array.from({ length: 40 }, (_, i) => `/metrics/job/soakapp/instance/app-${i}`);
    while (this.running) {
      const group = await this.take(pool);
      try {
        const { text, points } = textBody('soakapp', this.size(5, 500), this.seq++);
        const format = this.rnd() < 0.6 ? 'text' : this.pick(FORMATS);
        await this.push('soakapp', group, this.rnd() < 0.7 ? 'PUT' : 'POST', format, text, points);
      } finally {
        this.busy.delete(group);
      }
      await this.pause(150);
    }
  }

  private async batch(): Promise<void> {
    while (this.running) {
      const group = `/metrics/job/soakbatch/instance/run-${this.seq++}`;
      const { text, points } = textBody('soakbatch', this.size(1, 50), this.seq);
      const a = await this.push('soakbatch', group, 'PUT', 'text', text, points);
      // Most batch jobs clean up after themselves; the others are left to group_ttl.
      if (a.status === 200 && this.rnd() < 0.8) {
        const p = (async () => {
          await sleep(this.rnd() * 5_000);
          await this.request('delete', group, group, { method: 'DELETE' });
        })();
        this.pendingDeletes.add(p);
        void p.finally(() => this.pendingDeletes.delete(p));
      }
      await this.pause(200);
    }
  }

  private async large(): Promise<void> {
    const pool = ['/metrics/job/soaklarge/instance/big-0', '/metrics/job/soaklarge/instance/big-1'];
    await this.pause(5_000);
    let turn = 0;
    while (this.running) {
      const group = pool[turn++ % pool.length];
      const { text, points } = textBody('soaklarge', 20_000 + Math.floor(this.rnd() * 80_000), this.seq++);
      await this.push('soaklarge', group, 'PUT', this.rnd() < 0.8 ? 'gzip' : 'text', text, points);
      await this.pause(15_000 + this.rnd() * 15_000);
    }
  }

  private async stamped(): Promise<void> {
    const pool = Array.from({ length: 5 }, (_, i) => `/metrics/job/soakts/instance/ts-${i}`);
    const lastTs = new Map<string, number>();
    while (this.running) {
      const group = this.pick(pool);
      // Strictly increasing per group, so no two pushes of it share a time.
      const ts = Math.max(Date.now(), (lastTs.get(group) ?? 0) + 1);
      lastTs.set(group, ts);
      const { text, points } = textBody('soakts', this.size(2, 100), this.seq++, ts);
      await this.push('soakts', group, 'PUT', this.rnd() < 0.5 ? 'text' : 'gzip', text, points);
      await this.pause(500);
    }
  }

  private async scraper(): Promise<void> {
    let n = 0;
    while (this.running) {
      n++;
      const proto = n % 2 === 0;
      const a = await this.request('scrape', proto ? '/metrics (protobuf)' : '/metrics', '/metrics', {
        method: 'GET',
        headers: proto ? { Accept: 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited' } : {},
        keepBytes: proto ? 0 : Infinity,
      });
      if (!proto && a.status === 200) this.o.onScrape?.(a.text);
      if (n % 3 === 0) await this.request('scrape', '/api/v1/metrics', '/api/v1/metrics', { method: 'GET', keepBytes: 0 });
      await this.request('scrape', '/api/v1/status', '/api/v1/status', { method: 'GET', keepBytes: 0 });
      await this.pause(10_000);
    }
  }

  private async bad(): Promise<void> {
    const bad = badPushes(this.o.labelValueLimit);
    while (this.running) {
      const b = this.pick(bad);
      await this.request('bad', b.kind, b.path, { method: this.rnd() < 0.5 ? 'PUT' : 'POST', body: b.body, headers: b.headers });
      await this.pause(1_000);
    }
  }

  /** Runs every loop until the deadline and waits for the requests they started. */
  async run(): Promise<void> {
    try {
      await Promise.all([this.apps(), this.apps(), this.apps(), this.batch(), this.large(), this.stamped(), this.scraper(), this.bad()]);
      await Promise.all(this.pendingDeletes);
    } finally {
      this.agent.destroy();
    }
  }
}
