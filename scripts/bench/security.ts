// What TLS and credentials cost a push: the small body, PUT (or POST) to one group, against
// pushkit and the reference Pushgateway, each configuration on a fresh server process:
//
//   plain         HTTP, no credentials (each target's baseline)
//   basic         HTTP + basic auth, the same user on every request
//   https-basic   HTTPS + basic auth
//   bearer        HTTP + bearer token (pushkit only: the reference has no tokens)
//   https-bearer  HTTPS + bearer token (pushkit only)
//
// The certificate (self-signed, openssl) and the credentials (htpasswd -nbB, openssl rand) are
// made at bench time in a scratch directory, as a user would make them. pushkit gets them
// through ENV_HTTP_*; the reference through --web.config.file (exporter-toolkit:
// tls_server_config and basic_auth_users). Both remember a successful bcrypt check, so only the
// first request of the user pays bcrypt; the harness makes that request (the probe) before wrk.
//
// Every run must answer every push 2xx: a run with a non-2xx answer (e.g. all 401 from a
// misconfigured user file) is recorded as an error, which fails `npm run bench`. Before wrk, a
// push without credentials and one with a wrong password must be refused with 401, so a server
// that ignored its credentials would not be measured as if it checked them.
//
// A single 8 s run on a shared 2-core VM varies by +-20 % from one server process to the next,
// so there are `rounds` rounds (the second in the reverse order, so that no config always runs
// first); the summary and the ratios take medians over the rounds, and show the spread.
//
// With `pin`, the servers run under `taskset -c 0` and wrk under `taskset -c 1` (through a
// `wrk` shim ahead on PATH, so wrk.ts runs unchanged).

import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { loadavg } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Body } from './bodies.ts';
import { REPO_ROOT } from './bodies.ts';
import { div, median, mib, num, ratio, table } from './format.ts';
import { cpuSeconds, freePort, peakRssKb, scratchDir, spawnLogged, stop, tail } from './proc.ts';
import type { TargetName } from './servers.ts';
import { runWrk, wrkFigures } from './wrk.ts';

export const SECURITY_CONFIGS = ['plain', 'basic', 'https-basic', 'bearer', 'https-bearer'] as const;
export type SecurityConfig = (typeof SECURITY_CONFIGS)[number];

interface ConfigSpec {
  tls: boolean;
  auth: 'none' | 'basic' | 'bearer';
  /** Targets that support it. */
  targets: readonly TargetName[];
}

const SPECS: Record<SecurityConfig, ConfigSpec> = {
  plain: { tls: false, auth: 'none', targets: ['pushkit', 'reference'] },
  basic: { tls: false, auth: 'basic', targets: ['pushkit', 'reference'] },
  'https-basic': { tls: true, auth: 'basic', targets: ['pushkit', 'reference'] },
  bearer: { tls: false, auth: 'bearer', targets: ['pushkit'] },
  'https-bearer': { tls: true, auth: 'bearer', targets: ['pushkit'] },
};

export function parseSecurityConfigs(list: string): SecurityConfig[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(SECURITY_CONFIGS as readonly string[]).includes(n)) {
      throw new Error(`unknown security config "${n}" (known: ${SECURITY_CONFIGS.join(', ')})`);
    }
  }
  if (names.length === 0) throw new Error('empty security config list');
  // Always in the canonical order, so the plain baseline runs first.
  return SECURITY_CONFIGS.filter((c) => names.includes(c));
}

/** (target, config) pairs the options ask for, in run order. */
export function securityPairs(targets: readonly TargetName[], configs: readonly SecurityConfig[]) {
  const out: { target: TargetName; config: SecurityConfig }[] = [];
  for (const config of configs) {
    for (const target of targets) if (SPECS[config].targets.includes(target)) out.push({ target, config });
  }
  return out;
}

export interface SecurityOptions {
  /** The push body (the bench's `small`) and the file wrk reads it from. */
  body: Body;
  bodyFile: string;
  targets: TargetName[];
  configs: SecurityConfig[];
  /** Each round runs every (config, target) once; even rounds in the reverse order. */
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number;
  threads: number;
  timeoutS: number;
  method: 'PUT' | 'POST';
  /** Servers on core 0, wrk on core 1. */
  pin: boolean;
  log: (line: string) => void;
}

export interface SecurityRun {
  target: TargetName;
  config: SecurityConfig;
  round: number;
  tls: boolean;
  auth: 'none' | 'basic' | 'bearer';
  body: string;
  bytes: number;
  connections: number;
  threads: number;
  durationS: number;
  pinned: boolean;
  /** The server's Cpus_allowed_list, as the kernel reports it. */
  serverCpus?: string;
  /** The machine's 1-minute load average just before the measured run: other work skews it. */
  loadAvg1?: number;
  requests?: number;
  pushesPerS?: number;
  p50Ms?: number;
  p90Ms?: number;
  p99Ms?: number;
  non2xx?: number;
  non2xxByStatus?: Record<string, number>;
  socketErrors?: number;
  peakRssKb?: number;
  serverCores?: number;
  sinkBytes?: number;
  error?: string;
}

/** The grouping key is the same for every push, as in the http benchmark. */
const PUSH_PATH = '/metrics/job/bench';
const USER = 'bench';
const READY_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------- secrets

interface Secrets {
  dir: string;
  certFile: string;
  keyFile: string;
  cert: string;
  password: string;
  /** `user:$2y$...` as htpasswd -nbB writes it. */
  htpasswdLine: string;
  token: string;
}

function makeSecrets(dir: string): Secrets {
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  // As the README's "Try it" makes them; RSA 2048 is what most deployments still serve.
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const password = randomBytes(12).toString('base64url');
  const htpasswdLine = execFileSync('htpasswd', ['-nbB', USER, password], { encoding: 'utf8' }).trim();
  if (!htpasswdLine.startsWith(`${USER}:$2`)) throw new Error(`htpasswd wrote no bcrypt line: ${htpasswdLine}`);
  const token = execFileSync('openssl', ['rand', '-hex', '32'], { encoding: 'utf8' }).trim();
  return { dir, certFile, keyFile, cert: readFileSync(certFile, 'utf8'), password, htpasswdLine, token };
}

function authHeader(spec: ConfigSpec, s: Secrets): string | undefined {
  if (spec.auth === 'basic') return `Basic ${Buffer.from(`${USER}:${s.password}`).toString('base64')}`;
  if (spec.auth === 'bearer') return `Bearer ${s.token}`;
  return undefined;
}

// ---------------------------------------------------------------- pinning

function findOnPath(cmd: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  throw new Error(`${cmd} not found on PATH`);
}

/** A directory holding a `wrk` that execs `taskset -c 1 <real wrk>`: same PID, pinned. */
function wrkShimDir(dir: string): string {
  const shimDir = join(dir, 'bin');
  mkdirSync(shimDir, { recursive: true });
  const shim = join(shimDir, 'wrk');
  writeFileSync(shim, `#!/bin/sh\nexec ${findOnPath('taskset')} -c 1 ${findOnPath('wrk')} "$@"\n`);
  chmodSync(shim, 0o755);
  return shimDir;
}

function cpusAllowed(pid: number): string | undefined {
  try {
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- servers

interface Launch {
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  sinkFile?: string;
}

/** As servers.ts starts pushkit (the built agent, everything from ENV_*), plus the security settings. */
function pushkitLaunch(dir: string, port: number, spec: ConfigSpec, s: Secrets): Launch {
  const confDir = join(dir, 'conf.d');
  mkdirSync(confDir);
  const sinkFile = join(dir, 'points.lp');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ENV_HTTP_LISTEN: `127.0.0.1:${port}`,
    ENV_DEFAULT_ENABLED_INPUTS: 'pushgateway',
    ENV_SINKS: `file://${sinkFile}`,
    ENV_LOG_LEVEL: 'warn',
  };
  if (spec.tls) {
    env.ENV_HTTP_TLS_CERT_FILE = s.certFile;
    env.ENV_HTTP_TLS_KEY_FILE = s.keyFile;
  }
  if (spec.auth === 'basic') {
    const file = join(dir, 'htpasswd');
    writeFileSync(file, `${s.htpasswdLine} push\n`, { mode: 0o600 });
    env.ENV_HTTP_BASIC_AUTH_USERS_FILE = file;
  }
  if (spec.auth === 'bearer') {
    const file = join(dir, 'tokens');
    writeFileSync(file, `${s.token} push\n`, { mode: 0o600 });
    env.ENV_HTTP_BEARER_TOKENS_FILE = file;
  }
  return { cmd: process.execPath, args: ['dist/core/cli.js', 'run', '--conf-dir', confDir], cwd: REPO_ROOT, env, sinkFile };
}

/** As servers.ts starts the reference, plus an exporter-toolkit web config when needed. */
function referenceLaunch(dir: string, port: number, spec: ConfigSpec, s: Secrets): Launch {
  const args = [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file='];
  const yaml: string[] = [];
  if (spec.tls) yaml.push('tls_server_config:', `  cert_file: ${JSON.stringify(s.certFile)}`, `  key_file: ${JSON.stringify(s.keyFile)}`);
  if (spec.auth === 'basic') {
    const [user, hash] = [s.htpasswdLine.slice(0, s.htpasswdLine.indexOf(':')), s.htpasswdLine.slice(s.htpasswdLine.indexOf(':') + 1)];
    yaml.push('basic_auth_users:', `  ${user}: ${JSON.stringify(hash)}`);
  }
  if (spec.auth === 'bearer') throw new Error('the reference has no bearer tokens');
  if (yaml.length > 0) {
    const file = join(dir, 'web-config.yml');
    writeFileSync(file, yaml.join('\n') + '\n', { mode: 0o600 });
    args.push(`--web.config.file=${file}`);
  }
  return { cmd: 'prometheus-pushgateway', args, cwd: dir, env: process.env };
}

interface Answer {
  status: number;
  text: string;
}

/** One request over http or https (trusting only the bench's own certificate). */
function send(url: string, o: { method?: string; headers?: Record<string, string>; body?: Buffer; ca?: string; timeoutMs?: number }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const isHttps = url.startsWith('https:');
    const opts = { method: o.method ?? 'GET', headers: o.headers ?? {}, timeout: o.timeoutMs ?? 10_000, ...(isHttps ? { ca: o.ca } : {}) };
    const req = (isHttps ? httpsRequest : httpRequest)(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeout} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

interface SecureServer {
  pid: number;
  baseUrl: string;
  logFile: string;
  sinkBytes(): number | undefined;
  close(): Promise<void>;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function startSecureServer(target: TargetName, spec: ConfigSpec, s: Secrets, pin: boolean): Promise<SecureServer> {
  const scratch = scratchDir(`pushkit-bench-sec-${target}-`);
  const dir = scratch.path;
  const port = await freePort();
  const launch = target === 'pushkit' ? pushkitLaunch(dir, port, spec, s) : referenceLaunch(dir, port, spec, s);
  const logFile = join(dir, 'server.log');
  // taskset execs the server, so the PID we hold is still the server's.
  const [cmd, args] = pin ? [findOnPath('taskset'), ['-c', '0', launch.cmd, ...launch.args]] : [launch.cmd, launch.args];
  const child = spawnLogged(cmd, args, logFile, { cwd: launch.cwd, env: launch.env });
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const baseUrl = `${spec.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const cleanup = async () => {
    await stop(child);
    scratch.remove();
  };
  // The reference's basic auth covers /-/ready too; pushkit's does not need it but takes it.
  const auth = authHeader(spec, s);
  const headers: Record<string, string> = auth ? { Authorization: auth } : {};
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  try {
    for (;;) {
      if (spawnError) throw new Error(`cannot start ${launch.cmd}: ${spawnError.message}`);
      if (!alive(child)) throw new Error(`exited (code ${child.exitCode}, signal ${child.signalCode}) before ready`);
      if (Date.now() > deadline) throw new Error(`not ready after ${READY_TIMEOUT_MS} ms (${baseUrl}/-/ready: ${last})`);
      try {
        const a = await send(`${baseUrl}/-/ready`, { headers, ca: s.cert, timeoutMs: 1_000 });
        if (a.status === 200) break;
        last = `HTTP ${a.status}: ${a.text.slice(0, 200)}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(100);
    }
  } catch (err) {
    const log = tail(logFile);
    await cleanup();
    throw new Error(`${target}: ${(err as Error).message}${log ? `\n--- ${target} log tail ---\n${log}` : ''}`);
  }
  if (child.pid === undefined) throw new Error(`${target}: no pid`);
  const sinkFile = launch.sinkFile;
  return {
    pid: child.pid,
    baseUrl,
    logFile,
    sinkBytes: () => {
      if (!sinkFile) return undefined;
      try {
        return readFileSync(sinkFile).length;
      } catch {
        return undefined;
      }
    },
    close: cleanup,
  };
}

// ---------------------------------------------------------------- one run

function describe(target: TargetName, config: SecurityConfig, round: number, o: SecurityOptions): SecurityRun {
  const spec = SPECS[config];
  return {
    target,
    config,
    round,
    tls: spec.tls,
    auth: spec.auth,
    body: o.body.name,
    bytes: o.body.body.length,
    connections: o.connections,
    threads: Math.min(o.threads, o.connections),
    durationS: o.durationS,
    pinned: o.pin,
  };
}

/**
 * Checks outside wrk: without credentials and with wrong ones the push is refused with 401, with
 * the right ones it is accepted. The last one also makes the user's one bcrypt check.
 */
async function probe(server: SecureServer, spec: ConfigSpec, s: Secrets, o: SecurityOptions): Promise<void> {
  const url = server.baseUrl + PUSH_PATH;
  const base = { 'Content-Type': 'text/plain; version=0.0.4' };
  const push = (headers: Record<string, string>) =>
    send(url, { method: o.method, headers: { ...base, ...headers }, body: o.body.body, ca: s.cert, timeoutMs: 60_000 });
  if (spec.auth !== 'none') {
    const wrong =
      spec.auth === 'basic'
        ? `Basic ${Buffer.from(`${USER}:${s.password}x`).toString('base64')}`
        : `Bearer ${randomBytes(32).toString('hex')}`;
    for (const [what, headers] of [['no credentials', {}], ['wrong credentials', { Authorization: wrong }]] as const) {
      const a = await push(headers);
      if (a.status !== 401) {
        throw new Error(`a push with ${what} got HTTP ${a.status} (expected 401): ${a.text.slice(0, 300)}`);
      }
    }
  }
  const auth = authHeader(spec, s);
  const a = await push(auth ? { Authorization: auth } : {});
  if (a.status < 200 || a.status > 299) throw new Error(`probe push got HTTP ${a.status}: ${a.text.slice(0, 300)}`);
}

async function measure(
  target: TargetName,
  config: SecurityConfig,
  round: number,
  s: Secrets,
  shimDir: string | undefined,
  o: SecurityOptions,
): Promise<SecurityRun> {
  const spec = SPECS[config];
  const run = describe(target, config, round, o);
  const server = await startSecureServer(target, spec, s, o.pin);
  try {
    run.serverCpus = cpusAllowed(server.pid);
    await probe(server, spec, s, o);
    const auth = authHeader(spec, s);
    // Set even when empty, so a PUSH_HEADERS of the caller's environment never leaks in.
    const env: Record<string, string> = { PUSH_HEADERS: auth ? `Authorization: ${auth}` : '' };
    if (shimDir) env.PATH = `${shimDir}${delimiter}${process.env.PATH ?? ''}`;
    const wrkOpts = {
      url: server.baseUrl + PUSH_PATH,
      bodyFile: o.bodyFile,
      method: o.method,
      connections: o.connections,
      threads: o.threads,
      timeoutS: o.timeoutS,
      env,
    };
    if (o.warmupS > 0) {
      const w = await runWrk({ ...wrkOpts, durationS: o.warmupS });
      if (w.non2xx > 0) throw new Error(`warm-up: ${w.non2xx} of ${w.requests} pushes were not 2xx: ${JSON.stringify(w.non2xxByStatus)}`);
    }
    run.loadAvg1 = loadavg()[0];
    const cpuBefore = cpuSeconds(server.pid);
    const w = await runWrk({ ...wrkOpts, durationS: o.durationS });
    const cpuAfter = cpuSeconds(server.pid);
    run.peakRssKb = peakRssKb(server.pid);
    if (run.peakRssKb === undefined) throw new Error(`server process ${server.pid} died during the run\n${tail(server.logFile)}`);
    Object.assign(run, wrkFigures(w));
    if (cpuBefore !== undefined && cpuAfter !== undefined) run.serverCores = (cpuAfter - cpuBefore) / w.durationS;
    run.sinkBytes = server.sinkBytes();
    if (w.non2xx > 0) {
      run.error = `${w.non2xx} of ${w.requests} pushes were not 2xx: ${JSON.stringify(w.non2xxByStatus)}`;
    } else if (w.requests === 0) {
      run.error = 'wrk completed no request';
    } else if (target === 'pushkit' && !run.sinkBytes) {
      run.error = 'pushkit answered 2xx but wrote nothing to its file sink';
    }
    return run;
  } catch (err) {
    const log = tail(server.logFile, 10);
    const msg = (err as Error).message;
    throw new Error(log && !msg.includes(log) ? `${msg}\n--- ${target} log tail ---\n${log}` : msg);
  } finally {
    await server.close();
  }
}

/** Runs every (config, target) pair; a failed pair keeps its `error` and the rest still run. */
export async function runSecurityBench(o: SecurityOptions): Promise<SecurityRun[]> {
  if (o.pin) {
    const cpus = readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m)?.[1] ?? '?';
    try {
      execFileSync(findOnPath('taskset'), ['-c', '0,1', 'true']);
    } catch {
      throw new Error(`--pin needs cores 0 and 1 (this process may use ${cpus})`);
    }
  }
  const scratch = scratchDir('pushkit-bench-secrets-');
  try {
    const secrets = makeSecrets(scratch.path);
    const shimDir = o.pin ? wrkShimDir(scratch.path) : undefined;
    const runs: SecurityRun[] = [];
    const pairs = securityPairs(o.targets, o.configs);
    for (let round = 1; round <= o.rounds; round++) {
      for (const { target, config } of round % 2 === 1 ? pairs : [...pairs].reverse()) {
        o.log(`security: round ${round}/${o.rounds}, ${target} ${config} <- ${o.body.name} (${num(o.body.body.length)} B), ` +
          `${o.connections} conns, ${o.durationS} s${o.pin ? ', server on core 0, wrk on core 1' : ''}`);
        let run: SecurityRun;
        try {
          run = await measure(target, config, round, secrets, shimDir, o);
          o.log(`security:   ${num(run.pushesPerS, 1)} pushes/s, p50 ${num(run.p50Ms, 2)} ms, p99 ${num(run.p99Ms, 2)} ms, ` +
            `${num(run.non2xx)} non-2xx, peak RSS ${mib(run.peakRssKb)}`);
        } catch (err) {
          run = { ...describe(target, config, round, o), error: (err as Error).message };
        }
        if (run.error) o.log(`security:   FAILED: ${run.error.split('\n')[0]}`);
        runs.push(run);
      }
    }
    return runs;
  } finally {
    scratch.remove();
  }
}

// ---------------------------------------------------------------- report

/** One (target, config) over its rounds: medians, the pushes/s spread, failures summed. */
export interface SecuritySummary {
  target: TargetName;
  config: SecurityConfig;
  /** Rounds that succeeded (the medians are over these). */
  rounds: number;
  pushesPerS?: number;
  pushesPerSMin?: number;
  pushesPerSMax?: number;
  p50Ms?: number;
  p99Ms?: number;
  peakRssKb?: number;
  /** Over every round, failed ones included. */
  non2xx: number;
  socketErrors: number;
  failedRounds: number;
}

export function securitySummary(runs: SecurityRun[]): SecuritySummary[] {
  const out: SecuritySummary[] = [];
  for (const config of SECURITY_CONFIGS) {
    for (const target of [...new Set(runs.map((r) => r.target))]) {
      const all = runs.filter((r) => r.target === target && r.config === config);
      if (all.length === 0) continue;
      const ok = all.filter((r) => !r.error);
      const pps = ok.map((r) => r.pushesPerS!);
      out.push({
        target,
        config,
        rounds: ok.length,
        pushesPerS: median(pps),
        pushesPerSMin: pps.length ? Math.min(...pps) : undefined,
        pushesPerSMax: pps.length ? Math.max(...pps) : undefined,
        p50Ms: median(ok.map((r) => r.p50Ms!)),
        p99Ms: median(ok.map((r) => r.p99Ms!)),
        peakRssKb: median(ok.map((r) => r.peakRssKb!)),
        non2xx: all.reduce((n, r) => n + (r.non2xx ?? 0), 0),
        socketErrors: all.reduce((n, r) => n + (r.socketErrors ?? 0), 0),
        failedRounds: all.length - ok.length,
      });
    }
  }
  return out;
}

export interface RatioSet {
  pushesPerS?: number;
  p50?: number;
  p99?: number;
  peakRss?: number;
}

export interface SecurityRatio {
  config: SecurityConfig;
  /** pushkit / reference in this config (medians over the rounds). */
  vsReference?: RatioSet;
  /** This config / the same target's plain run (medians over the rounds). */
  vsPlain: Partial<Record<TargetName, RatioSet>>;
}

function ratios(a: SecuritySummary | undefined, b: SecuritySummary | undefined): RatioSet | undefined {
  if (!a || !b || a.rounds === 0 || b.rounds === 0) return undefined;
  return {
    pushesPerS: div(a.pushesPerS, b.pushesPerS),
    p50: div(a.p50Ms, b.p50Ms),
    p99: div(a.p99Ms, b.p99Ms),
    peakRss: div(a.peakRssKb, b.peakRssKb),
  };
}

export function securityRatios(runs: SecurityRun[]): SecurityRatio[] {
  const sums = securitySummary(runs);
  const find = (t: TargetName, c: SecurityConfig) => sums.find((r) => r.target === t && r.config === c);
  const configs = SECURITY_CONFIGS.filter((c) => sums.some((r) => r.config === c));
  const targets = [...new Set(sums.map((r) => r.target))];
  return configs.map((config) => {
    const vsPlain: SecurityRatio['vsPlain'] = {};
    for (const t of targets) {
      const r = ratios(find(t, config), find(t, 'plain'));
      if (r) vsPlain[t] = r;
    }
    return { config, vsReference: ratios(find('pushkit', config), find('reference', config)), vsPlain };
  });
}

export function securityReport(runs: SecurityRun[]): string {
  const sums = securitySummary(runs);
  const rounds = Math.max(0, ...runs.map((r) => r.round));
  const out = [
    `median over ${rounds} round(s) (pushes/s range: lowest-highest round):`,
    table(
      ['config', 'target', 'pushes/s', 'range', 'p50 ms', 'p99 ms', 'non-2xx', 'sock err', 'peak RSS', 'failed'],
      sums.map((r) => [
        r.config,
        r.target,
        num(r.pushesPerS, 1),
        r.rounds > 1 ? `${num(r.pushesPerSMin, 0)}-${num(r.pushesPerSMax, 0)}` : '',
        num(r.p50Ms, 2),
        num(r.p99Ms, 2),
        num(r.non2xx),
        num(r.socketErrors),
        mib(r.peakRssKb),
        r.failedRounds ? `${r.failedRounds} FAILED` : '',
      ]),
    ),
  ];
  const rs = securityRatios(runs);
  out.push(
    '',
    'pushkit / reference (same config):',
    table(
      ['config', 'pushes/s', 'p50', 'p99', 'peak RSS'],
      rs.filter((r) => r.vsReference).map((r) => [r.config, ratio(r.vsReference?.pushesPerS), ratio(r.vsReference?.p50), ratio(r.vsReference?.p99), ratio(r.vsReference?.peakRss)]),
    ),
    '',
    'config / the same target plain:',
    table(
      ['config', 'target', 'pushes/s', 'p50', 'p99', 'peak RSS'],
      rs.flatMap((r) =>
        r.config === 'plain'
          ? []
          : Object.entries(r.vsPlain).map(([t, v]) => [r.config, t, ratio(v?.pushesPerS), ratio(v?.p50), ratio(v?.p99), ratio(v?.peakRss)]),
      ),
    ),
    '',
    'every run, in run order:',
    table(
      ['round', 'config', 'target', 'pushes/s', 'p50 ms', 'p99 ms', 'non-2xx', 'peak RSS', 'cpu cores', 'server cpus', 'load 1m'],
      runs.map((r) =>
        r.error && r.pushesPerS === undefined
          ? [String(r.round), r.config, r.target, 'error', '', '', '', '', '', '', '']
          : [
              String(r.round),
              r.config,
              r.target,
              num(r.pushesPerS, 1),
              num(r.p50Ms, 2),
              num(r.p99Ms, 2),
              num(r.non2xx),
              mib(r.peakRssKb),
              num(r.serverCores, 2),
              r.serverCpus ?? '-',
              num(r.loadAvg1, 2),
            ],
      ),
    ),
  );
  for (const r of runs.filter((x) => x.socketErrors)) out.push(`note: round ${r.round} ${r.target} ${r.config}: ${r.socketErrors} socket errors`);
  const failed = runs.filter((r) => r.error);
  if (failed.length > 0) {
    out.push('', `!!! ${failed.length} security run(s) FAILED (the benchmark exits non-zero):`);
    for (const r of failed) out.push(`error: round ${r.round} ${r.target} ${r.config}: ${r.error}`);
  }
  return out.join('\n');
}
