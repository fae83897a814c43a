// A real InfluxDB 1.x (Debian's influxd, installed by scripts/setup-peers.sh) that the soak can
// take away and bring back: stop() ends the process and keeps its data directory and ports,
// start() runs it again on the same ports, so the agent's sink sees a backend that went down
// and came back, as after a restart or a network cut. Config from scripts/peers (the tests' own).
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { influxdbConfig } from '../peers/influxdb-conf.ts';
import { freePort, scratchDir, spawnLogged, stop, tail } from '../bench/proc.ts';

const INFLUXD = '/usr/bin/influxd';

interface InfluxAnswer {
  results?: Array<{ error?: string; series?: Array<{ columns: string[]; values?: unknown[][] }> }>;
  error?: string;
}

export class Influx {
  private child: ChildProcess | undefined;
  readonly url: string;
  readonly logFile: string;

  private constructor(
    private readonly dir: { path: string; remove(): void },
    private readonly conf: string,
    httpPort: number,
  ) {
    this.url = `http://127.0.0.1:${httpPort}`;
    this.logFile = join(dir.path, 'influxd.log');
  }

  /** Starts a fresh InfluxDB and creates `database`. */
  static async create(database: string): Promise<Influx> {
    if (!existsSync(INFLUXD)) throw new Error(`${INFLUXD} is not installed: run \`bash scripts/setup-peers.sh\` (Debian package influxdb)`);
    const dir = scratchDir('pushkit-soak-influxdb-');
    const httpPort = await freePort();
    let rpcPort = await freePort();
    while (rpcPort === httpPort) rpcPort = await freePort();
    const conf = join(dir.path, 'influxdb.conf');
    writeFileSync(conf, influxdbConfig({ dir: dir.path, httpPort, rpcPort, authEnabled: false }));
    const db = new Influx(dir, conf, httpPort);
    await db.start();
    await db.query(`CREATE DATABASE ${database}`, undefined, 'POST');
    return db;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Runs influxd (again) and waits until /ping answers 204. */
  async start(): Promise<void> {
    if (this.running()) return;
    // A clean environment, so no INFLUXDB_* variable of the caller changes it.
    const child = spawnLogged(INFLUXD, ['-config', this.conf], this.logFile, { cwd: this.dir.path, env: { PATH: process.env.PATH ?? '', HOME: this.dir.path } });
    this.child = child;
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      if (!this.running()) throw new Error(`influxd exited (${child.exitCode ?? child.signalCode}) before it was ready\n${tail(this.logFile)}`);
      try {
        const res = await fetch(`${this.url}/ping`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        if (res.status === 204) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`influxd not ready at ${this.url} after 60 s\n${tail(this.logFile)}`);
  }

  /** Ends influxd (SIGTERM), keeping its data and ports for start(). */
  async stop(): Promise<void> {
    if (this.child) await stop(this.child);
  }

  async close(): Promise<void> {
    await this.stop();
    this.dir.remove();
  }

  async query(q: string, db?: string, method: 'GET' | 'POST' = 'GET'): Promise<InfluxAnswer> {
    const params = new URLSearchParams({ q });
    if (db) params.set('db', db);
    const res = await fetch(`${this.url}/query?${params}`, { method, signal: AbortSignal.timeout(120_000) });
    const body = (await res.json()) as InfluxAnswer;
    const err = body.error ?? body.results?.find((r) => r.error)?.error;
    if (res.status !== 200 || err) throw new Error(`influxdb ${q}: HTTP ${res.status} ${err ?? ''}`);
    return body;
  }

  /** Field values stored in `measurement`, all fields added up (0 when it has none). */
  async fieldValues(db: string, measurement: string): Promise<number> {
    const body = await this.query(`SELECT count(*) FROM "${measurement}"`, db);
    const row = body.results?.[0]?.series?.[0]?.values?.[0] ?? [];
    let n = 0;
    for (const v of row.slice(1)) if (typeof v === 'number') n += v;
    return n;
  }
}
