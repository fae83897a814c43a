// Real backends for the sinks' integration tests, each a child process of the test run on free
// 127.0.0.1 ports with its data in a fresh temporary directory, stopped by PID (never through
// the Debian packages' own services, which stay off). A missing binary is an error, never a
// skip: scripts/setup-peers.sh installs them all.
//
// startBackend() is the general part (free ports, config files, spawn, wait until ready,
// stop, clean up); startInfluxDB() and startVictoriaMetrics() are built on it, and other
// backends can be added the same way.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { influxdbConfig } from "../../scripts/peers/influxdb-conf.ts";

/** A port on 127.0.0.1 that was free a moment ago (another process may still take it first). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Calls fn until it returns something other than undefined, or fails with what it last saw. */
export async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const got = await fn();
      if (got !== undefined) return got;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message ?? last})` : ""}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface RunningBackend {
  /** e.g. "influxdb". */
  name: string;
  /** http://127.0.0.1:PORT of its HTTP API. */
  url: string;
  pid: number;
  /** Its temporary directory (config and data), removed by stop(). */
  dir: string;
  child: ChildProcess;
  /** The last 64 KiB of its stdout and stderr. */
  output(): string;
  /** SIGTERM by PID, SIGKILL after 5 s, then removes the directory. */
  stop(): Promise<void>;
}

export interface BackendSpec {
  name: string;
  binary: string;
  /** The Debian package that provides the binary (for the error when it is missing). */
  debianPackage: string;
  /** How many free ports the backend needs; ports[0] is its HTTP API. */
  ports?: number;
  /** Writes config files into dir if it needs them; returns the command-line arguments. */
  prepare(ctx: { dir: string; ports: number[] }): string[];
  /** Resolves true once the backend answers as ready at url. */
  ready(url: string): Promise<boolean>;
  startTimeoutMs?: number;
}

const OUTPUT_LIMIT = 64 * 1024;
const running = new Set<ChildProcess>();

// If the test run ends without `after` hooks (a crash, a second Ctrl-C), no backend outlives it.
process.once("exit", () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, "SIGKILL");
});

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** GET url answers `status` within a second. */
export async function answers(url: string, status: number): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === status;
  } catch {
    return false;
  }
}

/** Starts a backend, retrying with fresh ports when one was taken meanwhile. */
export async function startBackend(spec: BackendSpec): Promise<RunningBackend> {
  if (!existsSync(spec.binary)) {
    throw new Error(`${spec.binary} is not installed; run scripts/setup-peers.sh (Debian package ${spec.debianPackage})`);
  }
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(path.join(tmpdir(), `pushkit-${spec.name}-`));
    const ports: number[] = [];
    while (ports.length < (spec.ports ?? 1)) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const args = spec.prepare({ dir, ports });
    const started = await launch(spec.name, spec.binary, args, dir, `http://127.0.0.1:${ports[0]}`, spec.ready, spec.startTimeoutMs ?? 15_000);
    if ("url" in started) return started;
    lastError = started.error;
    rmSync(dir, { recursive: true, force: true });
  }
  throw new Error(lastError);
}

/**
 * Spawns one backend process in dir and waits until ready(url). On failure the process is gone
 * and the directory is left to the caller.
 */
async function launch(
  name: string,
  binary: string,
  args: string[],
  dir: string,
  url: string,
  ready: (url: string) => Promise<boolean>,
  startTimeoutMs: number,
): Promise<RunningBackend | { error: string }> {
  // A clean environment: no INFLUXDB_* or similar variable of the caller changes the backend.
  const child = spawn(binary, args, { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir }, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let output = "";
  const collect = (d: Buffer) => {
    output += d.toString("utf8");
    if (output.length > 2 * OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  child.on("error", (e) => collect(Buffer.from(`\nspawn error: ${e.message}\n`)));
  const kill = async () => {
    if (isRunning(child) && child.pid) process.kill(child.pid, "SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (isRunning(child) && child.pid) {
      process.kill(child.pid, "SIGKILL");
      await exited;
    }
    running.delete(child);
  };
  const stop = async () => {
    await kill();
    rmSync(dir, { recursive: true, force: true });
  };

  const until = Date.now() + startTimeoutMs;
  while (Date.now() < until && isRunning(child)) {
    if (await ready(url)) {
      return { name, url, pid: child.pid!, dir, child, output: () => output.slice(-OUTPUT_LIMIT), stop };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const error = isRunning(child)
    ? `${name} did not become ready at ${url} in time; output:\n${output.slice(-8192)}`
    : `${name} exited with ${child.exitCode ?? child.signalCode} before it was ready (port taken?); output:\n${output.slice(-8192)}`;
  await kill();
  return { error };
}

export interface InfluxDBOptions {
  /** [http] auth-enabled: every request needs a user (create the first admin with CREATE USER ... WITH ALL PRIVILEGES). */
  authEnabled?: boolean;
}

export const INFLUXD = "/usr/bin/influxd";

/** InfluxDB 1.x (Debian's influxdb 1.6): HTTP API on ports[0], its RPC bind-address on ports[1]. */
export function startInfluxDB(o: InfluxDBOptions = {}): Promise<RunningBackend> {
  return startBackend({
    name: "influxdb",
    binary: INFLUXD,
    debianPackage: "influxdb",
    ports: 2,
    prepare({ dir, ports }) {
      const conf = path.join(dir, "influxdb.conf");
      writeFileSync(
        conf,
        influxdbConfig({ dir, httpPort: ports[0], rpcPort: ports[1], authEnabled: o.authEnabled }),
      );
      return ["-config", conf];
    },
    // /ping answers 204 (also with auth enabled) once the HTTP service is up.
    ready: (url) => answers(`${url}/ping`, 204),
  });
}

export const VICTORIA_METRICS = "/usr/bin/victoria-metrics";

/** Single-node VictoriaMetrics (Debian's victoria-metrics 1.79). */
export function startVictoriaMetrics(): Promise<RunningBackend> {
  return startBackend({
    name: "victoria-metrics",
    binary: VICTORIA_METRICS,
    debianPackage: "victoria-metrics",
    prepare: ({ dir, ports }) => [
      `-httpListenAddr=127.0.0.1:${ports[0]}`,
      `-storageDataPath=${path.join(dir, "data")}`,
      "-loggerLevel=WARN",
    ],
    ready: (url) => answers(`${url}/health`, 200),
  });
}

/**
 * Stops a backend's process by PID (the signal, then SIGKILL after 5 s) and keeps its directory
 * (config and data), so that restartInfluxDB() can start it again on the same ports and data.
 * The halted handle's stop() still removes the directory; once restarted, stop the new handle.
 */
export async function haltBackend(b: RunningBackend, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  const child = b.child;
  if (!isRunning(child)) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  process.kill(b.pid, signal);
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (isRunning(child)) {
    process.kill(b.pid, "SIGKILL");
    await exited;
  }
  running.delete(child);
}

/** Starts a halted InfluxDB (haltBackend) again: same binary, arguments, directory, data and ports. */
export function restartInfluxDB(b: RunningBackend): Promise<RunningBackend> {
  return respawnBackend(b, (url) => answers(`${url}/ping`, 204));
}

async function respawnBackend(b: RunningBackend, ready: (url: string) => Promise<boolean>, startTimeoutMs = 15_000): Promise<RunningBackend> {
  if (isRunning(b.child)) throw new Error(`${b.name} (pid ${b.pid}) is still running; halt it first`);
  const started = await launch(b.name, b.child.spawnfile, b.child.spawnargs.slice(1), b.dir, b.url, ready, startTimeoutMs);
  if ("url" in started) return started;
  throw new Error(`${b.name} could not be restarted: ${started.error}`);
}
