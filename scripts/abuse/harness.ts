// What every finding of the abuse replay gets: a fresh production agent per scenario (default
// configuration plus what the finding sets, and only options the build knows), a watcher that
// probes /-/healthy every 50 ms and reads the agent's RSS every 100 ms from its own process, the
// figures of each step, checks, and a verdict.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tail } from '../bench/proc.ts';
import { startAgent, type AgentHome, type AgentSpec, type RunningAgent, type TomlValue } from '../soak/agent.ts';
import { Monitor } from '../soak/monitor.ts';
import { send, type Answer } from '../soak/http-client.ts';
import type { Check } from '../soak/report.ts';
import { fmtLatencies, fmtMs, mibOf, summarize, type Latencies } from '../soak/stats.ts';

export interface AbuseOptions {
  scale: number;
  /** Longest hold of the findings that wait for the agent to cut clients off (4, 5, 12). */
  holdS: number;
  /** Wait before the kill -9 of finding 9; undefined: the bound the build documents, capped. */
  persistWaitS?: number;
  persistWaitMaxS: number;
  /** The watcher kills an agent whose RSS passes this: the machine is shared. */
  rssCapMib: number;
  /** CPUs the agents run on (taskset -c), none: any. */
  agentCpus?: string;
  /** Options of the build by section, with their defaults (agent.ts knownOptions). */
  known: Map<string, Map<string, string>>;
}

export interface Finding {
  id: number;
  title: string;
  run(f: FindingRun): Promise<void>;
}

export interface Step<T> {
  value: T;
  healthy: Latencies;
  ms: number;
  rssMaxKb?: number;
}

const PROBE_EVERY_MS = 50;

/** One agent of a finding, watched from its start to its end. */
export class Session {
  private readonly healthy: number[] = [];
  private timeouts = 0;
  private errors = 0;
  private killedAtKb: number | undefined;
  private peakKb: number | undefined;
  readonly rssBeforeKb: number | undefined;

  constructor(
    readonly name: string,
    readonly agent: RunningAgent,
    private readonly monitor: Monitor,
  ) {
    this.rssBeforeKb = this.rssKb();
  }

  rssKb(): number | undefined {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${this.agent.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  private async take(): Promise<{ ms: number[]; timeouts: number; errors: number; rssMaxKb?: number }> {
    const s = await this.monitor.take();
    this.healthy.push(...s.ms);
    this.timeouts += s.timeouts;
    this.errors += s.errors;
    if (s.killedAtKb !== undefined) this.killedAtKb = s.killedAtKb;
    if (s.hwmKb !== undefined) this.peakKb = s.hwmKb;
    return s;
  }

  /** Runs `fn` and returns its value with the /-/healthy probes and the RSS seen meanwhile. */
  async step<T>(fn: () => Promise<T>): Promise<Step<T>> {
    await this.take();
    const t0 = performance.now();
    const value = await fn();
    const ms = performance.now() - t0;
    // Probes sent near the end get the time to come back and count for this step.
    await sleep(2 * PROBE_EVERY_MS);
    const s = await this.take();
    return { value, ms, healthy: summarize(s.ms, s.timeouts, s.errors), rssMaxKb: s.rssMaxKb };
  }

  /** The replay killed the agent (finding 9): its death is no failure. */
  private killedOnPurpose = false;

  /** kill -9 of the agent, as the replay's own act: probes after it are not the agent's figures. */
  async kill9(): Promise<void> {
    await this.take();
    this.killedOnPurpose = true;
    await this.agent.kill9();
  }

  private ended = false;
  private survivedAtEnd = false;

  /** Ends the session: figures of the whole of it, then the agent and its watcher stopped. */
  async end(o: { keepHome?: boolean; settleMs?: number } = {}): Promise<string> {
    if (this.ended) return '';
    this.ended = true;
    const alive = this.agent.alive();
    if (alive) await sleep(o.settleMs ?? 2_000); // what the agent gives back once the abuse is over
    if (this.killedOnPurpose) await this.monitor.take();
    else await this.take();
    const after = alive ? this.rssKb() : undefined;
    this.survivedAtEnd = alive && this.killedAtKb === undefined;
    const fate =
      this.killedAtKb !== undefined
        ? `KILLED by the harness at ${mibOf(this.killedAtKb)} (--rss-cap-mib)`
        : alive
          ? 'survived'
          : this.killedOnPurpose
            ? 'killed -9 by the replay'
            : `DIED (${this.agent.child.exitCode ?? this.agent.child.signalCode})`;
    let line =
      `${this.name}: ${fate} | RSS before ${mibOf(this.rssBeforeKb)}, peak ${mibOf(this.peakKb)}, after ${mibOf(after)}` +
      ` | /-/healthy over the session ${fmtLatencies(this.healthyFigures)}`;
    await this.monitor.close();
    if (!alive && !this.killedOnPurpose && this.killedAtKb === undefined) {
      const t = tail(this.agent.logFile, 3);
      if (t) line += `
      log tail: ${t.split('\n').join('\n      ')}`;
    }
    if (o.keepHome) await this.agent.stop();
    else await this.agent.close();
    return line;
  }

  /** Alive at its end, or killed by the replay on purpose; false when it died or hit the guard. */
  get survived(): boolean {
    return this.survivedAtEnd || (this.killedOnPurpose && this.killedAtKb === undefined);
  }

  get peakRssKb(): number | undefined {
    return this.peakKb;
  }

  /** VmRSS at which the watcher killed the agent (--rss-cap-mib), if it did. */
  get killedByGuard(): number | undefined {
    return this.killedAtKb;
  }

  get alive(): boolean {
    return this.agent.alive();
  }

  get latencies(): readonly number[] {
    return this.healthy;
  }

  get healthyFigures(): Latencies {
    return summarize(this.healthy, this.timeouts, this.errors);
  }

  get probeFailures(): { timeouts: number; errors: number } {
    return { timeouts: this.timeouts, errors: this.errors };
  }
}

export interface FindingResult {
  id: number;
  title: string;
  checks: Check[];
  seconds: number;
  survived: boolean;
  peakRssKb?: number;
  healthy?: Latencies;
  error?: string;
}

/** The context a finding runs in: it starts agents, logs steps and records checks. */
export class FindingRun {
  readonly checks: Check[] = [];
  private readonly sessions: Session[] = [];

  constructor(
    readonly finding: Finding,
    readonly o: AbuseOptions,
  ) {}

  log(line: string): void {
    console.log(`   ${line}`);
  }

  check(name: string, ok: boolean, detail: string): void {
    this.checks.push({ name, ok, detail });
  }

  /** A count scaled by --scale, never below `min`. */
  scaled(full: number, min = 1): number {
    return Math.max(min, Math.round(full * this.o.scale));
  }

  /** Default of an option of the build (section e.g. "inputs.pushgateway"), or undefined. */
  option(section: string, key: string): string | undefined {
    return this.o.known.get(section)?.get(key);
  }

  /** The options the build knows, with a note for each it does not. */
  knownOnly(section: string, opts: Record<string, TomlValue>): Record<string, TomlValue> {
    const out: Record<string, TomlValue> = {};
    for (const [k, v] of Object.entries(opts)) {
      if (this.option(section, k) !== undefined) out[k] = v;
      else this.log(`(this build has no ${section} option ${k}: left out)`);
    }
    return out;
  }

  /** Starts a fresh agent (stdout sink to /dev/null unless the spec has sinks) and its watcher. */
  async agent(name: string, spec: AgentSpec = {}, home?: AgentHome): Promise<Session> {
    const agent = await startAgent({ stdoutToNull: true, ...(this.o.agentCpus !== undefined ? { cpus: this.o.agentCpus } : {}), ...spec }, home);
    const monitor = await Monitor.start(agent.baseUrl, agent.pid, { everyMs: PROBE_EVERY_MS, rssEveryMs: 100, killAboveKb: this.o.rssCapMib * 1024 });
    const s = new Session(name, agent, monitor);
    this.sessions.push(s);
    const opts = Object.entries(spec.input ?? {}).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ');
    this.log(`${name}: agent pid ${agent.pid} on ${agent.baseUrl}${opts ? ` with ${opts}` : ' (default configuration)'}`);
    return s;
  }

  /** Ends every session not ended yet; survived = every agent that was not meant to die lived. */
  async endAll(): Promise<void> {
    for (const s of this.sessions) {
      const line = await s.end();
      if (line) this.log(line);
    }
  }

  /** The finding's figures over all its agents (call after endAll). */
  result(seconds: number, error?: string): FindingResult {
    const peaks = this.sessions.map((s) => s.peakRssKb).filter((k): k is number => k !== undefined);
    const fails = this.sessions.map((s) => s.probeFailures);
    const healthy = summarize(
      this.sessions.flatMap((s) => s.latencies),
      fails.reduce((n, x) => n + x.timeouts, 0),
      fails.reduce((n, x) => n + x.errors, 0),
    );
    return {
      id: this.finding.id,
      title: this.finding.title,
      checks: this.checks,
      seconds,
      survived: this.sessions.every((s) => s.survived),
      peakRssKb: peaks.length ? Math.max(...peaks) : undefined,
      healthy: this.sessions.length ? healthy : undefined,
      error,
    };
  }
}

/** "400 in 0.48 s: message" */
export function answerText(a: { status: number; ms: number; text: string; error?: string }): string {
  const msg = (a.error ?? a.text).split('\n')[0].slice(0, 160);
  return `${a.status || 'no answer'} in ${fmtMs(a.ms)}${msg ? `: ${msg}` : ''}`;
}

export function is4xx(status: number): boolean {
  return status >= 400 && status < 500;
}

/** The issue's bound for /-/healthy while the agent is under a load it must stay live through. */
export const HEALTHY_P99_MS = 100;

export function healthyCheck(f: FindingRun, what: string, step: { healthy: Latencies; ms: number }): void {
  const l = step.healthy;
  const name = `/-/healthy p99 < ${HEALTHY_P99_MS} ms ${what}`;
  // No probe finished: fine for a step shorter than two probe intervals, a stall otherwise.
  if (l.n === 0) return f.check(name, step.ms < 2 * PROBE_EVERY_MS, `no probe finished during the step (it took ${fmtMs(step.ms)})`);
  f.check(name, l.p99 !== undefined && l.p99 < HEALTHY_P99_MS && l.timeouts === 0 && l.errors === 0, fmtLatencies(l));
}

export const TEXT = { 'Content-Type': 'text/plain; version=0.0.4' };

/** One push (PUT unless told), on its own connection unless given an agent. */
export function push(
  s: Session,
  path: string,
  body: Buffer,
  headers: Record<string, string> = TEXT,
  o: { method?: string; timeoutMs?: number; localAddress?: string; agent?: http.Agent } = {},
): Promise<Answer> {
  return send(s.agent.baseUrl + path, { method: o.method ?? 'PUT', body, headers, timeoutMs: o.timeoutMs ?? 120_000, agent: o.agent ?? false, localAddress: o.localAddress });
}

/** A GET whose answer is read whole and counted, not kept. */
export function get(s: Session, path: string, timeoutMs = 600_000, keepBytes = 0): Promise<Answer> {
  return send(s.agent.baseUrl + path, { timeoutMs, agent: false, keepBytes });
}

/** fn(0..count-1) on `workers` concurrent loops. */
export async function inParallel(workers: number, count: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(workers, count) }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}
