// How to start each push target. Both are launched as direct children (no
// shell or npm wrapper in between) so the PID we hold is the server itself:
// that is what we stop, and whose /proc entry we read for memory and CPU.

import type { ChildProcess } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './bodies.ts';
import { freePort, scratchDir, spawnLogged, stop, tail, waitReady } from './proc.ts';

export const TARGETS = ['pushkit', 'reference'] as const;
export type TargetName = (typeof TARGETS)[number];

export interface RunningServer {
  target: TargetName;
  pid: number;
  baseUrl: string;
  logFile: string;
  /** Size of pushkit's file sink, to confirm it actually emitted points. */
  sinkBytes(): number | undefined;
  /** Stops the server and deletes its scratch directory. */
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;

function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

interface Launch {
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  sinkFile?: string;
}

function pushkitLaunch(dir: string, port: number): Launch {
  // An empty conf dir: everything comes from the ENV_* overrides below.
  const confDir = join(dir, 'conf.d');
  mkdirSync(confDir);
  const sinkFile = join(dir, 'points.lp');
  return {
    cmd: process.execPath,
    // The built agent, as a deployment runs it (`npm run bench` builds it first).
    args: ['dist/core/cli.js', 'run', '--conf-dir', confDir],
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ENV_HTTP_LISTEN: `127.0.0.1:${port}`,
      ENV_DEFAULT_ENABLED_INPUTS: 'pushgateway',
      ENV_SINKS: `file://${sinkFile}`,
      ENV_LOG_LEVEL: 'warn',
    },
    sinkFile,
  };
}

function referenceLaunch(dir: string, port: number, extraArgs: string[]): Launch {
  return {
    cmd: 'prometheus-pushgateway',
    // An empty persistence file keeps the gateway purely in memory, so it
    // does no periodic disk writes during the run.
    args: [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file=', ...extraArgs],
    cwd: dir,
    env: process.env,
  };
}

/** Starts a fresh server for `target` and waits until /-/ready says 200. `referenceArgs`: more flags for the reference. */
export async function startServer(target: TargetName, o: { referenceArgs?: string[] } = {}): Promise<RunningServer> {
  const scratch = scratchDir(`pushkit-bench-${target}-`);
  const dir = scratch.path;
  const port = await freePort();
  const launch = target === 'pushkit' ? pushkitLaunch(dir, port) : referenceLaunch(dir, port, o.referenceArgs ?? []);
  const logFile = join(dir, 'server.log');
  const child: ChildProcess = spawnLogged(launch.cmd, launch.args, logFile, { cwd: launch.cwd, env: launch.env });
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new Error(`cannot start ${launch.cmd}: ${err.message}`))),
  );
  spawnError.catch(() => {}); // may lose the race below; must not go unhandled
  const baseUrl = `http://127.0.0.1:${port}`;
  const cleanup = async () => {
    await stop(child);
    scratch.remove();
  };
  try {
    await Promise.race([waitReady(`${baseUrl}/-/ready`, child, READY_TIMEOUT_MS), spawnError]);
  } catch (err) {
    const log = tail(logFile);
    await cleanup();
    throw new Error(`${target}: ${(err as Error).message}${log ? `\n--- ${target} log tail ---\n${log}` : ''}`);
  }
  if (child.pid === undefined) throw new Error(`${target}: no pid`);
  return {
    target,
    pid: child.pid,
    baseUrl,
    logFile,
    sinkBytes: () => (launch.sinkFile ? fileSize(launch.sinkFile) : undefined),
    close: cleanup,
  };
}
