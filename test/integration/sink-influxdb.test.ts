// The influxdb sink against the real backends (Debian's influxdb 1.6 and victoria-metrics
// 1.79, installed by scripts/setup-peers.sh), each started by the test on free loopback ports
// in a temporary directory: pushkit runs as a user runs it, gets a push over HTTP, and the
// points are read back from the backend's own query API, values, tags and timestamps exact.
import { expect } from "chai";
import { pino } from "pino";
import { PointBatch } from "../../core/batch.ts";
import { SinkWriteError } from "../../core/errors.ts";
import type { Sink } from "../../core/plugin.ts";
import influxdb, { type InfluxdbOptions } from "../../plugins/sinks/influxdb/index.ts";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { poll, startInfluxDB, startVictoriaMetrics, type RunningBackend } from "../support/backends.ts";

const log = pino({ level: "silent" });

function agentConf(sinkTable: string): string {
  return `[http]
listen = "127.0.0.1:0"
[log]
level = "debug"
format = "json"
[[sinks.influxdb]]
${sinkTable}
flush_interval = "50ms"
`;
}

const PUSHGATEWAY = { "inputs/pushgateway.conf": "[[inputs.pushgateway]]\n" };

/** Full float64 precision; VictoriaMetrics keeps only 12 to 15 significant digits (its docs say so). */
const PI = -3.141592653589793;

/** Prometheus text with every sample at timestampMs, as a batch job would push it. */
function pushBody(timestampMs: number, pi = PI): string {
  const t = String(timestampMs);
  return [
    "# TYPE backup_duration_seconds summary",
    `backup_duration_seconds{quantile="0.5"} 12.5 ${t}`,
    `backup_duration_seconds{quantile="0.99"} 20.25 ${t}`,
    `backup_duration_seconds_sum 50 ${t}`,
    `backup_duration_seconds_count 4 ${t}`,
    "# TYPE backup_last_success_timestamp gauge",
    `backup_last_success_timestamp 1.7e9 ${t}`,
    "# TYPE backup_bytes_total counter",
    `backup_bytes_total{volume="data dir, main"} 123456789012 ${t}`,
    "# TYPE backup_ratio gauge",
    `backup_ratio{volume="data dir, main"} 0.1 ${t}`,
    `backup_ratio{volume="logs"} ${pi} ${t}`,
    "",
  ].join("\n");
}

/** What pushBody becomes, one entry per series: tags and field values (all floats). */
const expectedSeries = (pi = PI): { tags: Record<string, string>; fields: Record<string, number> }[] => [
  { tags: { instance: "db1", job: "backup", quantile: "0.5" }, fields: { duration_seconds: 12.5 } },
  { tags: { instance: "db1", job: "backup", quantile: "0.99" }, fields: { duration_seconds: 20.25 } },
  { tags: { instance: "db1", job: "backup" }, fields: { duration_seconds_count: 4, duration_seconds_sum: 50, last_success_timestamp: 1_700_000_000 } },
  { tags: { instance: "db1", job: "backup", volume: "data dir, main" }, fields: { bytes_total: 123456789012, ratio: 0.1 } },
  { tags: { instance: "db1", job: "backup", volume: "logs" }, fields: { ratio: pi } },
];

async function push(agent: RunningTestAgent, body: string): Promise<void> {
  const res = await fetch(`${agent.url}/metrics/job/backup/instance/db1`, { method: "PUT", body });
  expect(res.status, await res.text()).to.equal(200);
}

function basicAuth(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

interface InfluxResult {
  series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[];
  error?: string;
}

/** POST /query (form body); epoch=ns times come back as strings (they exceed 2^53). */
async function influxQuery(influx: RunningBackend, q: string, db?: string, headers: Record<string, string> = {}): Promise<InfluxResult> {
  const form = new URLSearchParams({ q, epoch: "ns" });
  if (db) form.set("db", db);
  const res = await fetch(`${influx.url}/query`, { method: "POST", body: form, headers });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`InfluxDB /query ${q}: ${res.status} ${text}`);
  const result = (JSON.parse(text.replace(/\[(-?\d{16,}),/g, '["$1",')) as { results: InfluxResult[] }).results[0];
  if (result.error) throw new Error(`InfluxDB /query ${q}: ${result.error}`);
  return result;
}

interface Row {
  measurement: string;
  tags: Record<string, string>;
  time: string;
  fields: Record<string, unknown>;
}

/** The rows of a SELECT * ... GROUP BY *, sorted, with the null columns of each row left out. */
function rowsOf(result: InfluxResult): Row[] {
  const rows: Row[] = [];
  for (const s of result.series ?? []) {
    for (const v of s.values) {
      const fields: Record<string, unknown> = {};
      s.columns.forEach((c, i) => {
        if (i > 0 && v[i] !== null) fields[c] = v[i];
      });
      // GROUP BY * lists every tag key of the measurement, "" where a series has none.
      const tags = Object.fromEntries(Object.entries(s.tags ?? {}).filter(([, t]) => t !== ""));
      rows.push({ measurement: s.name, tags, time: String(v[0]), fields });
    }
  }
  return rows.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

function expectedRows(timeNs: string): Row[] {
  return expectedSeries().map((s) => ({ measurement: "backup", tags: s.tags, time: timeNs, fields: s.fields })).sort((a, b) =>
    JSON.stringify(a).localeCompare(JSON.stringify(b)),
  );
}

/** Polls a SELECT until it gives n rows. */
function rowsWhenComplete(influx: RunningBackend, q: string, db: string, n: number, headers: Record<string, string> = {}): Promise<Row[]> {
  return poll(`InfluxDB: ${n} rows for ${q}`, async () => {
    const rows = rowsOf(await influxQuery(influx, q, db, headers));
    return rows.length >= n ? rows : undefined;
  });
}

function sinkFor(o: Partial<InfluxdbOptions> & { url: string }): Sink {
  const defaults = Object.fromEntries(Object.entries(influxdb.options).map(([k, spec]) => [k, spec.default])) as InfluxdbOptions;
  return influxdb.create({ ...defaults, ...o }, { log });
}

async function writeError(sink: Sink, batch: PointBatch): Promise<SinkWriteError> {
  try {
    await sink.write(batch);
  } catch (e) {
    expect(e).to.be.instanceOf(SinkWriteError);
    return e as SinkWriteError;
  }
  expect.fail("the write succeeded");
}

async function stopAgent(agent: RunningTestAgent | undefined): Promise<void> {
  if (!agent) return;
  await agent.stop();
  agent.cleanup();
}

describe("sink influxdb (integration, real backends)", function () {
  this.timeout(60_000);

  describe("InfluxDB 1.6", () => {
    let influx: RunningBackend;
    let agent: RunningTestAgent | undefined;
    before(async () => {
      influx = await startInfluxDB();
      await influxQuery(influx, "CREATE DATABASE pushkit");
    });
    after(async () => {
      await stopAgent(agent);
      await influx?.stop();
    });

    it("stores pushed points with their exact values, tags and timestamps", async () => {
      agent = await startTestAgent({ conf: { "agent.conf": agentConf(`url = "${influx.url}/write?db=pushkit&precision=ns"`), ...PUSHGATEWAY } });
      await push(agent, pushBody(1_700_000_000_123));
      const rows = await rowsWhenComplete(influx, "SELECT * FROM backup GROUP BY *", "pushkit", expectedSeries().length);
      expect(rows).to.deep.equal(expectedRows("1700000000123000000"));
      // InfluxDB stores them as floats, as pushkit wrote them.
      const types = await influxQuery(influx, "SHOW FIELD KEYS FROM backup", "pushkit");
      expect(new Set(types.series![0].values.map((v) => v[1]))).to.deep.equal(new Set(["float"]));
      expect(agent.stderr()).not.to.include("sink write failed");
    });

    it("a batch InfluxDB refuses for a field type conflict rejects with SinkWriteError retry=false, its status and answer", async () => {
      // The field exists as an integer (written directly); pushkit's fields are floats.
      const direct = await fetch(`${influx.url}/write?db=pushkit&precision=ns`, { method: "POST", body: "conflict,job=x value=1i 1700000000000000000\n" });
      expect(direct.status).to.equal(204);
      const url = `${influx.url}/write?db=pushkit&precision=ns`;
      const sink = sinkFor({ url });
      try {
        const e = await writeError(
          sink,
          PointBatch.fromPoints([
            { measurement: "conflict", tags: { job: "x" }, fields: { value: 2.5 }, time: 1_700_000_001_000_000_000n },
            { measurement: "conflict_ok", tags: { job: "x" }, fields: { value: 3.5 }, time: 1_700_000_001_000_000_000n },
          ]),
        );
        expect(e.retry).to.equal(false);
        expect(e.detail.status).to.equal(400);
        expect(e.detail.retryAfterMs).to.equal(undefined);
        expect(e.detail.response).to.match(/^\{"error":"partial write: field type conflict: input field \\"value\\" on measurement \\"conflict\\" is type float, already exists as type integer dropped=1"\}/);
        expect(e.message).to.match(new RegExp(`^POST ${url.replace(/[?.]/g, "\\$&")}: 400 Bad Request: \\{"error":"partial write: field type conflict`));
        // A "partial write": the other point of the batch was stored all the same.
        expect(rowsOf(await influxQuery(influx, "SELECT * FROM conflict_ok GROUP BY *", "pushkit"))).to.deep.equal([
          { measurement: "conflict_ok", tags: { job: "x" }, time: "1700000001000000000", fields: { value: 3.5 } },
        ]);
      } finally {
        await sink.close();
      }
    });

    it("a write to a database that does not exist rejects with 404 database not found, retry=false", async () => {
      const sink = sinkFor({ url: `${influx.url}/write?db=missing` });
      try {
        const e = await writeError(sink, PointBatch.fromLineProtocol([Buffer.from("m v=1 1\n")], 1));
        expect(e.retry).to.equal(false);
        expect(e.detail).to.deep.equal({ status: 404, response: '{"error":"database not found: \\"missing\\""}\n' });
      } finally {
        await sink.close();
      }
    });
  });

  describe("InfluxDB 1.6 with auth-enabled", () => {
    let influx: RunningBackend;
    let agent: RunningTestAgent | undefined;
    const admin = basicAuth("admin", "pa:ss@word");
    before(async () => {
      influx = await startInfluxDB({ authEnabled: true });
      // With no user yet, InfluxDB lets anyone create the first admin.
      await influxQuery(influx, "CREATE USER admin WITH PASSWORD 'pa:ss@word' WITH ALL PRIVILEGES");
      await influxQuery(influx, "CREATE DATABASE secure", undefined, admin);
    });
    after(async () => {
      await stopAgent(agent);
      await influx?.stop();
    });

    it("ENV_SINKS influxdb+http://user:password@host/write?db= authenticates with basic auth", async () => {
      agent = await startTestAgent({
        conf: PUSHGATEWAY,
        env: { ENV_SINKS: `influxdb+http://admin:${encodeURIComponent("pa:ss@word")}@${influx.url.slice("http://".length)}/write?db=secure` },
      });
      await push(agent, pushBody(1_700_000_000_456));
      const rows = await rowsWhenComplete(influx, "SELECT * FROM backup GROUP BY *", "secure", expectedSeries().length, admin);
      expect(rows).to.deep.equal(expectedRows("1700000000456000000"));
      expect(agent.stderr()).not.to.include("pa:ss@word");
      expect(agent.stderr()).not.to.include(encodeURIComponent("pa:ss@word"));
    });

    it("a wrong password: 401, retry=false, and the password in no message", async () => {
      const sink = sinkFor({ url: `${influx.url}/write?db=secure`, username: "admin", password: "wrong-secret" });
      try {
        const e = await writeError(sink, PointBatch.fromLineProtocol([Buffer.from("m v=1 1\n")], 1));
        expect(e.retry).to.equal(false);
        expect(e.detail.status).to.equal(401);
        expect(e.detail.response).to.include("authorization failed");
        expect(e.message).to.include(`POST ${influx.url}/write?db=secure: 401 Unauthorized: {"error":"authorization failed"}`);
        expect(e.message).not.to.include("wrong-secret");
      } finally {
        await sink.close();
      }
    });
  });

  describe("VictoriaMetrics 1.79 (/write)", () => {
    let vm: RunningBackend;
    let agent: RunningTestAgent | undefined;
    before(async () => {
      vm = await startVictoriaMetrics();
    });
    after(async () => {
      await stopAgent(agent);
      await vm?.stop();
    });

    it("stores pushed points as <measurement>_<field> series with their exact values, labels and timestamps", async () => {
      agent = await startTestAgent({ conf: { "agent.conf": agentConf(`url = "${vm.url}/write?db=pushkit"`), ...PUSHGATEWAY } });
      // VictoriaMetrics drops samples older than its retention (1 month by default) without a
      // word, so the timestamp is recent; it keeps milliseconds.
      const t = Date.now() - 60_000;
      const pi = -3.14159265359;
      await push(agent, pushBody(t, pi));
      const expected = expectedSeries(pi).flatMap((s) =>
        Object.entries(s.fields).map(([field, value]) => ({
          // ?db= becomes the label db.
          metric: { __name__: `backup_${field}`, ...s.tags, db: "pushkit" },
          values: [value],
          timestamps: [t],
        })),
      );
      const series = await poll(`VictoriaMetrics: ${expected.length} series`, async () => {
        await fetch(`${vm.url}/internal/force_flush`).then((r) => r.arrayBuffer());
        const form = new URLSearchParams({ "match[]": '{__name__=~"backup_.*"}', start: String(Math.floor(t / 1000) - 3600) });
        const res = await fetch(`${vm.url}/api/v1/export`, { method: "POST", body: form });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`export: ${res.status} ${text}`);
        const got = text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { metric: Record<string, string> });
        return got.length >= expected.length ? got : undefined;
      });
      const key = (s: { metric: Record<string, string> }) => JSON.stringify(Object.entries(s.metric).sort());
      const sorted = <T extends { metric: Record<string, string> }>(list: T[]) => [...list].sort((a, b) => key(a).localeCompare(key(b)));
      expect(sorted(series)).to.deep.equal(sorted(expected));
      expect(agent.stderr()).not.to.include("sink write failed");
    });
  });
});
