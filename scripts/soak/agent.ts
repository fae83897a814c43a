// The production agent as the Containerfile starts it (`node dist/core/cli.js run`, NODE_ENV
// production, nothing of this process's environment but PATH), on a free loopback port with its
// conf and data in a scratch directory. Shared by the soak and the abuse replay.
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../bench/bodies.ts';
import { exited, freePort, scratchDir, spawnTracked, stop, tail, waitReady } from '../bench/proc.ts';

export const AGENT_CLI = join(REPO_ROOT, 'dist', 'core', 'cli.js');

export type TomlValue = string | number | boolean | string[];

export interface AgentSpec {
  /** Keys of the [[inputs.pushgateway]] table; none: its defaults. */
  input?: Record<string, TomlValue>;
  /** Keys of [http] besides listen. */
  http?: Record<string, TomlValue>;
  /** TOML of the sink tables; none: the default stdout sink. */
  sinks?: string;
  /** Send the agent's stdout (the stdout sink's line protocol) to /dev/null instead of its log. */
  stdoutToNull?: boolean;
  logLevel?: string;
  /** Extra environment, e.g. NODE_OPTIONS as the DaemonSet sets it. */
  env?: Record<string, string>;
  /** CPUs the agent may run on (taskset -c LIST), e.g. "0": the load generator then keeps to the others. */
  cpus?: string;
}

/** Where an agent keeps its conf and data: kept across a restart of the same agent. */
export interface AgentHome {
  path: string;
  port: number;
  remove(): void;
}

export interface RunningAgent {
  pid: number;
  baseUrl: string;
  home: AgentHome;
  logFile: string;
  child: ChildProcess;
  alive(): boolean;
  /** SIGKILL, as the kernel's OOM killer or a node crash would end it. */
  kill9(): Promise<void>;
  /** SIGTERM (SIGKILL after 30 s); the home stays. */
  stop(): Promise<void>;
  /** stop() and remove the home. */
  close(): Promise<void>;
}

function toml(v: TomlValue): string {
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function keys(o: Record<string, TomlValue> | undefined): string {
  return Object.entries(o ?? {}).map(([k, v]) => `  ${k} = ${toml(v)}\n`).join('');
}

export async function newHome(prefix = 'pushkit-soak-'): Promise<AgentHome> {
  const s = scratchDir(prefix);
  return { path: s.path, port: await freePort(), remove: s.remove };
}

/** Starts the built agent and waits until /-/ready answers 200. */
export async function startAgent(spec: AgentSpec = {}, home?: AgentHome): Promise<RunningAgent> {
  if (!existsSync(AGENT_CLI)) throw new Error(`${AGENT_CLI} is missing: run \`npm run build\` first`);
  const h = home ?? (await newHome());
  const confDir = join(h.path, 'conf.d');
  mkdirSync(confDir, { recursive: true });
  writeFileSync(
    join(confDir, 'agent.conf'),
    `[agent]\n  data_dir = ${JSON.stringify(join(h.path, 'data'))}\n\n` +
      `[http]\n  listen = "127.0.0.1:${h.port}"\n${keys(spec.http)}\n` +
      `[log]\n  level = ${JSON.stringify(spec.logLevel ?? 'info')}\n  format = "json"\n\n` +
      `[[inputs.pushgateway]]\n${keys(spec.input)}\n` +
      (spec.sinks ?? ''),
  );
  const logFile = join(h.path, 'agent.log');
  const log = openSync(logFile, 'a');
  const out = spec.stdoutToNull ? openSync('/dev/null', 'w') : log;
  let child: ChildProcess;
  try {
    // taskset execs node: the pid is the agent's.
    const command = [process.execPath, AGENT_CLI, 'run', '--conf-dir', confDir];
    if (spec.cpus !== undefined) command.unshift('taskset', '-c', spec.cpus);
    child = spawnTracked(command[0], command.slice(1), {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: h.path, NODE_ENV: 'production', ...spec.env },
      stdio: ['ignore', out, log],
    });
  } finally {
    closeSync(log);
    if (out !== log) closeSync(out);
  }
  const baseUrl = `http://127.0.0.1:${h.port}`;
  const alive = () => child.exitCode === null && child.signalCode === null;
  const agent: RunningAgent = {
    pid: child.pid ?? -1,
    baseUrl,
    home: h,
    logFile,
    child,
    alive,
    async kill9() {
      if (!alive()) return;
      child.kill('SIGKILL');
      await exited(child);
    },
    stop: () => stop(child, 30_000),
    async close() {
      await stop(child, 30_000);
      h.remove();
    },
  };
  try {
    await waitReady(`${baseUrl}/-/ready`, child, 60_000);
  } catch (err) {
    const t = tail(logFile);
    await (home ? agent.stop() : agent.close());
    throw new Error(`agent: ${(err as Error).message}${t ? `\n--- agent log tail ---\n${t}` : ''}`);
  }
  return agent;
}

/**
 * The options the built agent knows, by section ("http", "inputs.pushgateway", ...), with their
 * default values as check-config prints them: a finding sets an option only when the build has
 * it, so the tools run against a build from before or after a change.
 */
export function knownOptions(): Map<string, Map<string, string>> {
  const s = scratchDir('pushkit-check-config-');
  try {
    const out = execFileSync(process.execPath, [AGENT_CLI, 'check-config', '--conf-dir', s.path], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: s.path, ENV_DEFAULT_ENABLED_INPUTS: 'pushgateway' },
      encoding: 'utf8',
    });
    const sections = new Map<string, Map<string, string>>();
    let current: Map<string, string> | undefined;
    for (const line of out.split('\n')) {
      const head = /^\[\[?([a-z_.]+)\]\]?/.exec(line);
      if (head) sections.set(head[1], (current = new Map()));
      const kv = /^\s+([a-z_]+) = (.*?)\s*(#.*)?$/.exec(line);
      if (kv && current) current.set(kv[1], kv[2]);
    }
    return sections;
  } finally {
    s.remove();
  }
}

/** A duration as check-config prints it ("5m", "1.5s", "250ms", "1h30m"), in ms. */
export function durationMs(text: string): number | undefined {
  const t = text.replace(/^"|"$/g, '');
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let matched = '';
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * unit[m[2]];
    matched += m[0];
  }
  return matched === t && t !== '' ? total : undefined;
}

/** A size as check-config prints it ("16MiB", "64KiB", "1024"), in bytes. */
export function bytesOf(text: string): number | undefined {
  const m = /^"?(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?"?$/.exec(text.trim());
  if (!m) return undefined;
  const unit: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, KB: 1e3, MB: 1e6, GB: 1e9 };
  return Math.round(Number(m[1]) * unit[m[2] ?? 'B']);
}

/** Sums every series of each named metric in a Prometheus text exposition. */
export function sumMetrics(text: string, names: readonly string[]): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = Object.fromEntries(names.map((n) => [n, undefined]));
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (m && m[1] in out) out[m[1]] = (out[m[1]] ?? 0) + Number(m[3]);
  }
  return out;
}
