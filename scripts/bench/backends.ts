// Real backends for the delivery benchmark: InfluxDB 1.x (Debian's influxdb 1.6) and
// Prometheus 2.x with its remote-write receiver (Debian's prometheus 2.42), each a child of the
// bench on free loopback ports with its config and data in a fresh scratch directory, stopped
// by PID (the packages' own system services are never used). Processes are tracked by proc.ts,
// so they die with the bench however it ends. Modelled on test/support/, which the bench must
// not import.

import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, scratchDir, spawnLogged, stop, tail } from './proc.ts';
import { influxdbConfig } from '../peers/influxdb-conf.ts';

export const BACKENDS = ['influxdb', 'prometheus'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface RunningBackend {
  name: BackendName;
  pid: number;
  /** http://127.0.0.1:PORT of its HTTP API. */
  url: string;
  logFile: string;
  /** Stops it by PID and deletes its directory. */
  close(): Promise<void>;
}

const INFLUXD = '/usr/bin/influxd';
const PROMETHEUS = '/usr/bin/prometheus';
const READY_TIMEOUT_MS = 30_000;

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function answers(url: string, status: number): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.status === status;
  } catch {
    return false;
  }
}

interface Spec {
  name: BackendName;
  binary: string;
  debianPackage: string;
  ports: number;
  /** Writes config into dir; returns the arguments. ports[0] is the HTTP API. */
  prepare(dir: string, ports: number[]): string[];
  readyPath: string;
  readyStatus: number;
}

async function start(spec: Spec): Promise<RunningBackend> {
  if (!existsSync(spec.binary)) {
    throw new Error(`${spec.binary} is not installed; run scripts/setup-peers.sh (Debian package ${spec.debianPackage})`);
  }
  let lastError = '';
  // A port taken between probing and binding makes the backend exit: retry with fresh ones.
  for (let attempt = 0; attempt < 3; attempt++) {
    const scratch = scratchDir(`pushkit-bench-${spec.name}-`);
    const ports: number[] = [];
    while (ports.length < spec.ports) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const args = spec.prepare(scratch.path, ports);
    const logFile = join(scratch.path, 'server.log');
    // A clean environment, so no INFLUXDB_* variable of the caller changes the backend.
    const child = spawnLogged(spec.binary, args, logFile, { cwd: scratch.path, env: { PATH: process.env.PATH ?? '', HOME: scratch.path } });
    const url = `http://127.0.0.1:${ports[0]}`;
    const close = async () => {
      await stop(child);
      scratch.remove();
    };
    const until = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < until && alive(child)) {
      if (await answers(url + spec.readyPath, spec.readyStatus)) {
        return { name: spec.name, pid: child.pid!, url, logFile, close };
      }
      await sleep(50);
    }
    lastError = alive(child)
      ? `${spec.name} not ready at ${url} after ${READY_TIMEOUT_MS} ms\n${tail(logFile)}`
      : `${spec.name} exited (${child.exitCode ?? child.signalCode}) before it was ready\n${tail(logFile)}`;
    await close();
  }
  throw new Error(lastError);
}

/** InfluxDB 1.x with its default storage settings (WAL fsync on every write), query log off. */
export async function startInfluxDB(database: string): Promise<RunningBackend> {
  const b = await start({
    name: 'influxdb',
    binary: INFLUXD,
    debianPackage: 'influxdb',
    ports: 2,
    prepare(dir, ports) {
      const conf = join(dir, 'influxdb.conf');
      writeFileSync(
        conf,
        influxdbConfig({ dir, httpPort: ports[0], rpcPort: ports[1], authEnabled: false }),
      );
      return ['-config', conf];
    },
    readyPath: '/ping',
    readyStatus: 204,
  });
  try {
    await influxQuery(b.url, `CREATE DATABASE ${database}`, undefined, 'POST');
  } catch (err) {
    await b.close();
    throw err;
  }
  return b;
}

interface InfluxAnswer {
  results?: Array<{ error?: string; series?: Array<{ values?: unknown[][] }> }>;
  error?: string;
}

async function influxQuery(url: string, q: string, db: string | undefined, method: 'GET' | 'POST' = 'GET'): Promise<InfluxAnswer> {
  const params = new URLSearchParams({ q });
  if (db) params.set('db', db);
  const res = await fetch(`${url}/query?${params}`, { method, signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as InfluxAnswer;
  const err = body.error ?? body.results?.find((r) => r.error)?.error;
  if (res.status !== 200 || err) throw new Error(`influxdb ${q}: HTTP ${res.status} ${err ?? ''}`);
  return body;
}

/** Values of `field` stored in `measurement` (0 when there is none yet). */
export async function influxCount(url: string, db: string, measurement: string, field: string): Promise<number> {
  const body = await influxQuery(url, `SELECT count("${field}") FROM "${measurement}"`, db);
  const v = body.results?.[0]?.series?.[0]?.values?.[0]?.[1];
  return typeof v === 'number' ? v : 0;
}

/** Prometheus with only the remote-write receiver feeding it: no scrape jobs. */
export function startPrometheus(): Promise<RunningBackend> {
  return start({
    name: 'prometheus',
    binary: PROMETHEUS,
    debianPackage: 'prometheus',
    ports: 1,
    prepare(dir, ports) {
      const config = join(dir, 'prometheus.yml');
      const data = join(dir, 'data');
      mkdirSync(data);
      writeFileSync(config, 'global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n');
      return [
        `--config.file=${config}`,
        `--storage.tsdb.path=${data}`,
        `--web.listen-address=127.0.0.1:${ports[0]}`,
        '--web.enable-remote-write-receiver',
        '--log.level=warn',
      ];
    },
    readyPath: '/-/ready',
    readyStatus: 200,
  });
}

/**
 * Samples of `metric` stored in the hour before `atMs` (inclusive): the instant query
 * sum(count_over_time(metric[1h])) at that time. 0 when there is none.
 */
export async function prometheusCount(url: string, metric: string, atMs: number): Promise<number> {
  const q = new URLSearchParams({ query: `sum(count_over_time(${metric}[1h]))`, time: (atMs / 1000).toFixed(3) });
  const res = await fetch(`${url}/api/v1/query?${q}`, { signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as { status: string; error?: string; data?: { result: Array<{ value: [number, string] }> } };
  if (res.status !== 200 || body.status !== 'success') throw new Error(`prometheus query: HTTP ${res.status} ${body.error ?? ''}`);
  const v = body.data?.result[0]?.value[1];
  return v === undefined ? 0 : Number(v);
}
