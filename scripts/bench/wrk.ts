// Runs wrk with push.lua and turns its machine-readable summary line into
// numbers. wrk is the single load generator for every target, so any
// overhead it has is the same on both sides of a ratio.

import { fileURLToPath } from 'node:url';
import { spawnTracked, stop } from './proc.ts';

const LUA_SCRIPT = fileURLToPath(new URL('./push.lua', import.meta.url));

export interface WrkOptions {
  url: string;
  /** The body push.lua sends (PUSH_BODY_FILE); another script may take its input from `env`. */
  bodyFile?: string;
  method: 'PUT' | 'POST';
  connections: number;
  threads: number;
  durationS: number;
  /** Per-request timeout; wrk's 2 s default is too short for 7 MB pushes. */
  timeoutS: number;
  /** Lua script (default push.lua); it must print the same PUSHBENCH summary line. */
  script?: string;
  /** Extra environment for the script. */
  env?: Record<string, string>;
}

export interface WrkResult {
  durationS: number;
  /** Completed responses, whatever their status. */
  requests: number;
  non2xx: number;
  non2xxByStatus: Record<string, number>;
  /** Socket-level failures: connect/read/write errors and timeouts. */
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
  /** wrk's own human-readable output (includes the --latency table). */
  text: string;
}

interface LuaSummary {
  duration_us: number;
  requests: number;
  non2xx: number;
  non2xx_by_status: Record<string, number>;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { mean: number; max: number; p50: number; p90: number; p99: number };
}

const MARK = 'PUSHBENCH ';

function parseSummary(stdout: string): LuaSummary {
  const line = stdout.split('\n').find((l) => l.startsWith(MARK));
  if (!line) throw new Error('wrk printed no summary line (did the Lua script load?)');
  return JSON.parse(line.slice(MARK.length)) as LuaSummary;
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const threads = Math.max(1, Math.min(o.threads, o.connections)); // wrk needs c >= t
  const args = [
    `-t${threads}`,
    `-c${o.connections}`,
    `-d${o.durationS}s`,
    `--timeout`,
    `${o.timeoutS}s`,
    '--latency',
    '-s',
    o.script ?? LUA_SCRIPT,
    o.url,
  ];
  const child = spawnTracked('wrk', args, {
    env: { ...process.env, ...(o.bodyFile === undefined ? {} : { PUSH_BODY_FILE: o.bodyFile }), PUSH_METHOD: o.method, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));

  // wrk stops by itself after -d, but waits for in-flight requests; give it
  // the request timeout plus a margin, then kill it.
  const limitMs = (o.durationS + o.timeoutS + 15) * 1_000;
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    void stop(child, 2_000);
  }, limitMs);

  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot run wrk: ${err.message} (run scripts/setup-peers.sh)`)));
    child.once('close', (c) => resolve(c));
  }).finally(() => clearTimeout(timer));

  if (killed) throw new Error(`wrk did not finish within ${limitMs / 1000} s`);
  if (code !== 0) throw new Error(`wrk exited with code ${code}: ${stderr.trim() || stdout.trim()}`);

  const s = parseSummary(stdout);
  const ms = (us: number) => us / 1_000;
  return {
    durationS: s.duration_us / 1e6,
    requests: s.requests,
    non2xx: s.non2xx,
    non2xxByStatus: s.non2xx_by_status,
    socketErrors: { connect: s.errors.connect, read: s.errors.read, write: s.errors.write, timeout: s.errors.timeout },
    latencyMs: {
      p50: ms(s.latency_us.p50),
      p90: ms(s.latency_us.p90),
      p99: ms(s.latency_us.p99),
      mean: ms(s.latency_us.mean),
      max: ms(s.latency_us.max),
    },
    text: stdout.split('\n').filter((l) => !l.startsWith(MARK)).join('\n').trimEnd(),
  };
}

/** What a push benchmark records of a measured run: 2xx pushes per second, latency, failures. */
export function wrkFigures(w: WrkResult): {
  requests: number;
  pushesPerS: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  non2xx: number;
  non2xxByStatus: Record<string, number>;
  socketErrors: number;
} {
  const se = w.socketErrors;
  return {
    requests: w.requests,
    pushesPerS: (w.requests - w.non2xx) / w.durationS,
    p50Ms: w.latencyMs.p50,
    p90Ms: w.latencyMs.p90,
    p99Ms: w.latencyMs.p99,
    non2xx: w.non2xx,
    non2xxByStatus: w.non2xxByStatus,
    socketErrors: se.connect + se.read + se.write + se.timeout,
  };
}
