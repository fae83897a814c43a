// Builds and runs the Go baseline (scripts/bench/goparse) for the parser
// benchmark. The build is offline, in GOPATH mode, against the Go sources
// Debian ships in /usr/share/gocode (see scripts/setup-peers.sh).

import { execFile } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './bodies.ts';
import { scratchDir } from './proc.ts';

const SRC_DIR = fileURLToPath(new URL('./goparse', import.meta.url));
export const GOPARSE_BIN = join(REPO_ROOT, '.bench', 'goparse');

export interface GoParseResult {
  file: string;
  bytes: number;
  samples: number;
  iterations: number;
  seconds: number;
  mb_per_s: number;
  samples_per_s: number;
}

function mtime(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    // execFile's timeout kills the child by PID when it overruns.
    execFile(cmd, args, { ...opts, timeout: opts.timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} failed: ${err.message}\n${stderr}`.trim()));
      else resolve(stdout);
    });
  });
}

/** Builds .bench/goparse unless it is already newer than its source. */
export async function ensureGoparse(): Promise<string> {
  const bin = mtime(GOPARSE_BIN);
  const src = mtime(join(SRC_DIR, 'main.go'));
  if (bin !== undefined && src !== undefined && bin > src) return GOPARSE_BIN;

  mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
  // A throwaway cache keeps the build hermetic; it costs a few seconds.
  const cache = scratchDir('pushkit-gocache-');
  try {
    await run('go', ['build', '-o', GOPARSE_BIN, '.'], {
      cwd: SRC_DIR,
      env: {
        ...process.env,
        GOPATH: '/usr/share/gocode',
        GO111MODULE: 'off',
        GOPROXY: 'off',
        GOFLAGS: '',
        GOCACHE: cache.path,
      },
      timeoutMs: 180_000,
    });
  } finally {
    cache.remove();
  }
  return GOPARSE_BIN;
}

/** Runs goparse over the files; one result per file, in order. */
export async function runGoparse(files: string[], seconds: number, warmupS: number): Promise<GoParseResult[]> {
  const bin = await ensureGoparse();
  const budgetMs = (files.length * (seconds + warmupS) + 30) * 1_000;
  const stdout = await run(bin, ['-seconds', String(seconds), '-warmup', String(warmupS), ...files], {
    timeoutMs: budgetMs,
  });
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as GoParseResult);
}
