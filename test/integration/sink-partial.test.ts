// A batch a backend refuses in part, against the real backends (Debian's influxdb 1.6 and
// prometheus 2.42, started by the test): only the points the backend refused are set aside in
// the dead-letter file; the points of the other pushes in the batch are stored, and none of
// them is set aside. (Before: a point with an out-of-range timestamp made InfluxDB answer 400
// "partial write", and pushkit set the whole batch aside, the points of three other jobs,
// which InfluxDB had stored, included.)
//
// InfluxDB stores the good lines of a batch it refuses in part; Prometheus refuses a whole
// remote-write request for one out-of-order sample and stores none of it. Both are covered.
import { expect } from "chai";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { PointBatch } from "../../core/batch.ts";
import { DeadLetters } from "../../core/dead-letter.ts";
import { Delivery, SinkQueue, type QueueOptions } from "../../core/delivery.ts";
import type { Sink } from "../../core/plugin.ts";
import type { Point } from "../../core/point.ts";
import { MemoryStore } from "../../core/queue-store.ts";
import influxdb, { type InfluxdbOptions } from "../../plugins/sinks/influxdb/index.ts";
import remoteWrite from "../../plugins/sinks/prometheus_remote_write/index.ts";
import type { RemoteWriteOptions } from "../../plugins/sinks/prometheus_remote_write/options.ts";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { poll, startInfluxDB, type RunningBackend } from "../support/backends.ts";
import { logLines } from "../support/logs.ts";
import { startPrometheus, type RunningPrometheus } from "../support/prometheus.ts";

const log = pino({ level: "silent" });

/** The dead-letter file: each entry's comment line and its lines. */
function deadLetterEntries(file: string): { note: string; lines: string[] }[] {
  if (!existsSync(file)) return [];
  const out: { note: string; lines: string[] }[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("# ")) out.push({ note: line, lines: [] });
    else if (line !== "") out.at(-1)!.lines.push(line);
  }
  return out;
}

async function influx(b: RunningBackend, q: string, db?: string): Promise<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[]> {
  const form = new URLSearchParams({ q, epoch: "ns" });
  if (db) form.set("db", db);
  const res = await fetch(`${b.url}/query`, { method: "POST", body: form });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`InfluxDB /query ${q}: ${res.status} ${text}`);
  // epoch=ns times exceed 2^53: read them as text
  const result = (JSON.parse(text.replace(/\[(-?\d{16,}),/g, '["$1",')) as { results: { series?: never[]; error?: string }[] }).results[0];
  if (result.error) throw new Error(`InfluxDB /query ${q}: ${result.error}`);
  return result.series ?? [];
}

/** Every row of a measurement as {job, field values}, sorted by job. */
async function rows(b: RunningBackend, db: string, measurement: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const s of await influx(b, `SELECT * FROM "${measurement}" GROUP BY *`, db)) {
    for (const v of s.values) {
      const row: Record<string, unknown> = { job: s.tags?.job };
      s.columns.forEach((c, i) => {
        if (i > 0 && v[i] !== null) row[c] = v[i];
      });
      out.push(row);
    }
  }
  return out.sort((a, b) => String(a.job).localeCompare(String(b.job)));
}

async function writeLines(b: RunningBackend, db: string, lines: string): Promise<void> {
  const res = await fetch(`${b.url}/write?db=${db}`, { method: "POST", body: lines });
  expect(res.status, await res.text()).to.equal(204);
}

function defaults<T>(options: Record<string, { default: unknown }>): T {
  return Object.fromEntries(Object.entries(options).map(([k, spec]) => [k, spec.default])) as T;
}

const QUEUE: QueueOptions = {
  batch_points: 5000,
  batch_bytes: 4 << 20,
  flush_interval: 60_000,
  max_in_flight: 1,
  max_queue_points: 100_000,
  max_queue_bytes: 1 << 28,
  durable: false,
  max_disk_bytes: 1 << 30,
  segment_bytes: 1 << 20,
  retry_initial: 50,
  retry_max: 200,
};

/** The delivery stage for one real sink, its dead-letter file in dir. */
function deliveryTo(sink: Sink, dir: string): { d: Delivery; q: SinkQueue; deadFile: string } {
  const deadFile = path.join(dir, "dead-letter", "sink.lp");
  const q = new SinkQueue("sink", QUEUE, { sink, store: new MemoryStore(QUEUE.max_queue_points, QUEUE.max_queue_bytes), deadLetters: new DeadLetters(deadFile), log });
  return { d: new Delivery([q]), q, deadFile };
}

describe("a batch a backend refuses in part (integration, real backends)", function () {
  this.timeout(120_000);
  let dir: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "pushkit-partial-"));
  });

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("InfluxDB 1.6", () => {
    let backend: RunningBackend;
    beforeEach(async () => {
      backend = await startInfluxDB();
      cleanups.push(() => backend.stop());
      await influx(backend, "CREATE DATABASE partial");
    });

    it("the agent: of four pushes written as one batch, only the point with a field type conflict is set aside; every other point is stored", async () => {
      // Another writer made conflict.bytes_total an integer (field types are kept per shard:
      // written now, in the shard pushkit's points go to); pushkit's fields are floats.
      await writeLines(backend, "partial", `conflict,job=other bytes_total=1i ${BigInt(Date.now()) * 1_000_000n}\n`);
      const agentConf = `[http]
listen = "127.0.0.1:0"
[log]
level = "debug"
format = "json"
[[sinks.influxdb]]
url = "${backend.url}/write?db=partial"
flush_interval = "2s"
`;
      const agent: RunningTestAgent = await startTestAgent({ conf: { "agent.conf": agentConf, "inputs/pushgateway.conf": "[[inputs.pushgateway]]\n" } });
      cleanups.push(() => agent.cleanup());
      const push = async (job: string, body: string) => {
        const res = await fetch(`${agent.url}/metrics/job/${job}`, { method: "PUT", body });
        expect(res.status, await res.text()).to.equal(200);
      };
      // All four within flush_interval: one batch.
      await push("alpha", "# TYPE alpha_seconds gauge\nalpha_seconds 1.5\n");
      await push("bad", "# TYPE conflict_bytes_total counter\nconflict_bytes_total 5\n# TYPE fine_ratio gauge\nfine_ratio 0.25\n");
      await push("beta", "# TYPE beta_seconds gauge\nbeta_seconds 2.5\n");
      await push("gamma", "# TYPE gamma_seconds gauge\ngamma_seconds 3.5\n");

      const deadFile = path.join(agent.dir, "data", "dead-letter", "influxdb.lp");
      await poll("the refused point set aside", async () => (deadLetterEntries(deadFile).length > 0 ? true : undefined), 20_000, 100);
      await poll("the good points stored", async () => ((await rows(backend, "partial", "gamma")).length === 1 ? true : undefined), 10_000, 100);

      expect(await rows(backend, "partial", "alpha")).to.deep.equal([{ job: "alpha", seconds: 1.5 }]);
      expect(await rows(backend, "partial", "beta")).to.deep.equal([{ job: "beta", seconds: 2.5 }]);
      expect(await rows(backend, "partial", "gamma")).to.deep.equal([{ job: "gamma", seconds: 3.5 }]);
      // The refused push's other point is stored too ...
      expect(await rows(backend, "partial", "fine")).to.deep.equal([{ job: "bad", ratio: 0.25 }]);
      // ... and only the conflicting one is not (the other writer's integer is still alone).
      expect(await rows(backend, "partial", "conflict")).to.deep.equal([{ job: "other", bytes_total: 1 }]);

      const dead = deadLetterEntries(deadFile);
      expect(dead, readFileSync(deadFile, "utf8")).to.have.length(1);
      expect(dead[0].lines).to.have.length(1);
      expect(dead[0].lines[0]).to.match(/^conflict,.*job=bad.* bytes_total=5 \d+$/);
      expect(dead[0].note).to.match(/ 1 points refused: .*400 Bad Request.*partial write: field type conflict/);

      const refused = logLines(agent.stderr()).find((l) => /^backend refused 1 of the \d+ points of a batch for good/.test(l.msg));
      expect(refused, agent.stderr().slice(-3000)).to.not.equal(undefined);
      expect(refused!.written).to.equal(4);
      const metrics = await (await fetch(`${agent.url}/metrics`)).text();
      expect(metrics).to.include('pushkit_sink_points_dead_lettered_total{sink="influxdb"} 1\n');
      expect(metrics).to.include('pushkit_sink_points_sent_total{sink="influxdb"} 4\n');
    });

    it("the sink: a line with an out-of-range timestamp among points of other jobs is the only one set aside", async () => {
      const sink = influxdb.create({ ...defaults<InfluxdbOptions>(influxdb.options), url: `${backend.url}/write?db=partial` }, { log });
      cleanups.push(() => sink.close());
      const { d, q, deadFile } = deliveryTo(sink, dir);
      const t = 1_700_000_000_000_000_000n;
      const point = (job: string, value: number, time = t): Point => ({ measurement: "finding", tags: { instance: "", job }, fields: { value }, time });
      // What the converter made of `x 1 9223372036854775807` (ms, through a float64, times 10^6).
      const bad = point("stamp", 1, 9_223_372_036_854_775_808_000_000n);
      await d.emit(PointBatch.fromPoints([point("a", 1)]));
      await d.emit(PointBatch.fromPoints([point("b", 2), bad]));
      await d.emit(PointBatch.fromPoints([point("c", 3)]));
      await q.flush(Date.now() + 20_000);

      expect(await rows(backend, "partial", "finding")).to.deep.equal([
        { job: "a", value: 1 },
        { job: "b", value: 2 },
        { job: "c", value: 3 },
      ]);
      const dead = deadLetterEntries(deadFile);
      expect(dead.map((e) => e.lines)).to.deep.equal([["finding,job=stamp value=1 9223372036854775808000000"]]);
      expect(dead[0].note).to.match(/ 1 points refused: .*unable to parse 'finding,job=stamp value=1 9223372036854775808000000'/);
      expect(q.written).to.equal(3);
      expect(q.deadLettered).to.equal(1);
    });
  });

  describe("Prometheus 2.42 remote write", () => {
    let prometheus: RunningPrometheus;
    beforeEach(async () => {
      prometheus = await startPrometheus();
      cleanups.push(() => prometheus.stop());
    });

    it("the sink: an out-of-order sample, which makes Prometheus refuse the whole request, is the only one set aside; the other jobs' samples are stored", async () => {
      const sink = remoteWrite.create({ ...defaults<RemoteWriteOptions>(remoteWrite.options), url: prometheus.writeUrl }, { log });
      cleanups.push(() => sink.close());
      const { d, q, deadFile } = deliveryTo(sink, dir);
      const nowMs = Math.floor(Date.now() / 1000) * 1000;
      const ns = (ms: number) => BigInt(ms) * 1_000_000n;
      const point = (job: string, value: number, ms = nowMs): Point => ({ measurement: "partial", tags: { job }, fields: { value }, time: ns(ms) });
      await d.emit(PointBatch.fromPoints([point("late", 1)]));
      await q.flush(Date.now() + 10_000);
      expect(q.written).to.equal(1);

      // One batch: three jobs' samples and one older than what the series already has.
      await d.emit(PointBatch.fromPoints([point("a", 10)]));
      await d.emit(PointBatch.fromPoints([point("late", 2, nowMs - 60_000), point("b", 20)]));
      await d.emit(PointBatch.fromPoints([point("c", 30)]));
      await q.flush(Date.now() + 20_000);

      const got = await prometheus.query("partial_value", nowMs);
      expect(got.map((s) => [s.metric.job, s.value[1]]).sort()).to.deep.equal([
        ["a", "10"],
        ["b", "20"],
        ["c", "30"],
        ["late", "1"],
      ]);
      const dead = deadLetterEntries(deadFile);
      expect(dead.map((e) => e.lines)).to.deep.equal([[`partial,job=late value=2 ${ns(nowMs - 60_000)}`]]);
      expect(dead[0].note).to.match(/ 1 points refused: remote write to .*: HTTP 400: out of order sample/);
      expect(q.written).to.equal(4);
      expect(q.deadLettered).to.equal(1);
    });
  });
});
