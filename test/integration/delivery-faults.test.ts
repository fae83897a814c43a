// Fault tests of the delivery guarantee, against the real agent (a child process) and a real
// InfluxDB 1.6, counting points exactly. Every push is Prometheus text with an explicit,
// distinct timestamp, so each of its points is its own series and time in InfluxDB; a test
// records which pushes were answered 2xx (accepted), which were refused (503: nothing of them
// may arrive) and which got no answer (the agent died: either is allowed), then reads back
// every point and compares the sets: each accepted point arrives, nothing refused does.
// (InfluxDB keeps one value per series and time, so a point sent twice shows once: delivery
// is at least once, and what is checked here is that nothing accepted is lost.)
import { expect } from "chai";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, appendFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { duplicateKeys } from "../support/logs.ts";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { freePort, haltBackend, poll, restartInfluxDB, startInfluxDB, type RunningBackend } from "../support/backends.ts";

const PUSHGATEWAY = { "inputs/pushgateway.conf": "[[inputs.pushgateway]]\n" };
/** Points (series) in one push. */
const PER_PUSH = 10;
/** Push k's samples are all at T0 + k ms. */
const T0 = 1_700_000_000_000;

interface ConfOptions {
  url: string;
  /** Extra keys of the [[sinks.influxdb]] table. */
  sink?: string;
  shutdownTimeout?: string;
}

function agentConf(o: ConfOptions): string {
  return `[agent]
shutdown_timeout = ${JSON.stringify(o.shutdownTimeout ?? "3s")}
[http]
listen = "127.0.0.1:0"
[log]
level = "debug"
format = "json"
[[sinks.influxdb]]
url = ${JSON.stringify(o.url)}
flush_interval = "50ms"
retry_initial = "50ms"
retry_max = "500ms"
timeout = "2s"
${o.sink ?? ""}
`;
}

function startAgent(o: ConfOptions & { dataDir?: string }): Promise<RunningTestAgent> {
  return startTestAgent({
    conf: { "agent.conf": agentConf(o), ...PUSHGATEWAY },
    ...(o.dataDir ? { env: { ENV_DATA_DIR: o.dataDir } } : {}),
  });
}

function writeUrl(influx: RunningBackend | string, db: string): string {
  return `${typeof influx === "string" ? influx : influx.url}/write?db=${db}&precision=ns`;
}

/** Push k: PER_PUSH gauge samples fault_value{i="0".."9"} = k, all at T0 + k ms. */
function pushBody(k: number): string {
  const lines = ["# TYPE fault_value gauge"];
  for (let i = 0; i < PER_PUSH; i++) lines.push(`fault_value{i="${i}"} ${k} ${T0 + k}`);
  return lines.join("\n") + "\n";
}

type Outcome = { k: number; status: number; retryAfter: string | null; body: string } | { k: number; status: "error"; error: string };

async function push(agent: RunningTestAgent, k: number): Promise<Outcome> {
  try {
    const res = await fetch(`${agent.url}/metrics/job/faults/instance/db1`, { method: "PUT", body: pushBody(k), signal: AbortSignal.timeout(20_000) });
    return { k, status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.text() };
  } catch (e) {
    return { k, status: "error", error: String((e as Error).cause ?? e) };
  }
}

/** Pushes each k of `ks`, `parallel` at a time; `after(k)` runs once push k was answered (before later ones start, past the ones in flight). */
async function pushAll(agent: RunningTestAgent, ks: number[], parallel: number, after?: (o: Outcome) => Promise<void> | void, stopWhen?: () => boolean): Promise<Outcome[]> {
  const out: Outcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ks.length && !stopWhen?.()) {
      const o = await push(agent, ks[next++]);
      out.push(o);
      await after?.(o);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out.sort((a, b) => a.k - b.k);
}

const accepted = (outcomes: Outcome[]) => outcomes.filter((o) => typeof o.status === "number" && o.status >= 200 && o.status < 300).map((o) => o.k);
const refused = (outcomes: Outcome[]) => outcomes.filter((o) => o.status === 503).map((o) => o.k);
const unanswered = (outcomes: Outcome[]) => outcomes.filter((o) => o.status === "error").map((o) => o.k);

async function influxQuery(influx: RunningBackend, db: string, q: string): Promise<{ columns: string[]; values: unknown[][] }[]> {
  const res = await fetch(`${influx.url}/query`, { method: "POST", body: new URLSearchParams({ db, q, epoch: "ms" }) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`InfluxDB /query ${q}: ${res.status} ${text}`);
  const r = (JSON.parse(text) as { results: { series?: { columns: string[]; values: unknown[][] }[]; error?: string }[] }).results[0];
  if (r.error) throw new Error(`InfluxDB /query ${q}: ${r.error}`);
  return r.series ?? [];
}

async function createDatabase(influx: RunningBackend, db: string): Promise<void> {
  await influxQuery(influx, db, `CREATE DATABASE ${db}`);
}

/** What InfluxDB holds of the pushes: for each push k, how many of its points (by distinct series i and time). */
async function stored(influx: RunningBackend, db: string): Promise<Map<number, number>> {
  const series = await influxQuery(influx, db, "SELECT value, i FROM fault");
  const seen = new Set<string>();
  const byPush = new Map<number, number>();
  for (const s of series) {
    const [ti, vi, ii] = ["time", "value", "i"].map((c) => s.columns.indexOf(c));
    for (const row of s.values) {
      const k = Number(row[ti]) - T0;
      // Each point carries its push's k as value; a mismatch would be a point from elsewhere.
      expect(row[vi], `value of the point at ${row[ti]}`).to.equal(k);
      const key = `${row[ti]}/${row[ii]}`;
      // One row per series and time: InfluxDB itself collapses duplicates.
      expect(seen.has(key), `row ${key} twice`).to.equal(false);
      seen.add(key);
      byPush.set(k, (byPush.get(k) ?? 0) + 1);
    }
  }
  return byPush;
}

async function countPoints(influx: RunningBackend, db: string): Promise<number> {
  const s = await influxQuery(influx, db, "SELECT count(value) FROM fault");
  return s.length === 0 ? 0 : Number(s[0].values[0][1]);
}

/**
 * Waits until InfluxDB holds at least every point of the accepted pushes, then checks exactly:
 * each accepted push has all PER_PUSH points, no refused push has any, and any other push
 * present (one that got no answer because the agent died) is there whole.
 */
async function expectDelivered(influx: RunningBackend, db: string, o: { accepted: number[]; refused?: number[]; unanswered?: number[] }, timeoutMs = 30_000): Promise<Map<number, number>> {
  const want = o.accepted.length * PER_PUSH;
  // Unanswered pushes may arrive too: wait for every accepted push itself, not for a total.
  const got = await poll(
    `InfluxDB ${db}: ${want} points of ${o.accepted.length} accepted pushes`,
    async () => {
      if ((await countPoints(influx, db)) < want) return undefined;
      const byPush = await stored(influx, db);
      return o.accepted.every((k) => byPush.get(k) === PER_PUSH) ? byPush : undefined;
    },
    timeoutMs,
    100,
  ).catch(async (e: Error) => {
    const byPush = await stored(influx, db);
    throw new Error(`${e.message}; missing: ${o.accepted.filter((k) => byPush.get(k) !== PER_PUSH).map((k) => `${k} (${byPush.get(k) ?? 0} points)`).join(", ")}`);
  });
  const missing = o.accepted.filter((k) => got.get(k) !== PER_PUSH).map((k) => `${k} (${got.get(k) ?? 0} points)`);
  expect(missing, "accepted pushes not (wholly) delivered").to.deep.equal([]);
  const refusedSet = new Set(o.refused ?? []);
  expect([...got.keys()].filter((k) => refusedSet.has(k)), "points of refused pushes").to.deep.equal([]);
  const allowed = new Set([...o.accepted, ...(o.unanswered ?? [])]);
  expect([...got.keys()].filter((k) => !allowed.has(k)), "points of pushes never made or refused").to.deep.equal([]);
  for (const [k, n] of got) expect(n, `points of push ${k}`).to.equal(PER_PUSH);
  return got;
}

/** The agent's own metric value (sum over the label sets that match), from GET /metrics; undefined when absent (a counter never incremented). */
async function metric(agent: RunningTestAgent, name: string, labels = '{sink="influxdb"}'): Promise<number | undefined> {
  const text = await (await fetch(`${agent.url}/metrics`)).text();
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + labels + " ")) continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function logLines(agent: RunningTestAgent): LogLine[] {
  return agent
    .stderr()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as LogLine);
}

function waitForLog(agent: RunningTestAgent, what: (l: LogLine) => boolean, label: string, timeoutMs = 10_000): Promise<LogLine> {
  return poll(`agent log: ${label}`, async () => logLines(agent).find(what), timeoutMs);
}

/** A closed loopback port: writes to it fail at once with ECONNREFUSED (a backend that is down). */
async function deadUrl(db: string): Promise<string> {
  return writeUrl(`http://127.0.0.1:${await freePort()}`, db);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

function segmentsOf(dataDir: string): string[] {
  const dir = path.join(dataDir, "queue", "influxdb");
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d{12}\.seg$/.test(f)).sort().map((f) => path.join(dir, f)) : [];
}

/** The records of a segment file: offset, length of the payload, point count, line protocol. */
function recordsOf(file: string): { offset: number; len: number; points: number; lp: string }[] {
  const data = readFileSync(file);
  const out: { offset: number; len: number; points: number; lp: string }[] = [];
  for (let at = 0; at + 12 <= data.length; ) {
    const len = data.readUInt32LE(at);
    if (at + 8 + len > data.length) break;
    out.push({ offset: at, len, points: data.readUInt32LE(at + 8), lp: data.subarray(at + 12, at + 8 + len).toString("utf8") });
    at += 8 + len;
  }
  return out;
}

/** The push numbers in a record's line protocol (from the timestamps). */
function pushesIn(lp: string): number[] {
  const ks = new Set<number>();
  for (const line of lp.split("\n")) if (line !== "") ks.add(Number(BigInt(line.slice(line.lastIndexOf(" ") + 1)) / 1_000_000n) - T0);
  return [...ks].sort((a, b) => a - b);
}

describe("delivery under faults (integration: the agent and a real InfluxDB 1.6, points counted exactly)", function () {
  this.timeout(120_000);
  /** One InfluxDB for the file, a database per test; some tests halt and restart it (same port, same data). */
  let influx: RunningBackend;
  const agents: RunningTestAgent[] = [];
  const dirs: string[] = [];

  async function ensureInflux(): Promise<void> {
    if (influx.child.exitCode !== null || influx.child.signalCode !== null) influx = await restartInfluxDB(influx);
  }

  async function agentWith(o: ConfOptions & { dataDir?: string }): Promise<RunningTestAgent> {
    const a = await startAgent(o);
    agents.push(a);
    return a;
  }

  function tempDir(): string {
    const d = mkdtempSync(path.join(tmpdir(), "pushkit-faults-"));
    dirs.push(d);
    return d;
  }

  before(async () => {
    influx = await startInfluxDB();
  });
  beforeEach(ensureInflux);
  afterEach(async function () {
    if (this.currentTest?.state === "failed") {
      for (const a of agents) process.stderr.write(`--- agent ${a.url} stderr (tail):\n${a.stderr().slice(-6000)}\n`);
    }
    for (const a of agents.splice(0)) {
      await a.stop("SIGKILL");
      a.cleanup();
    }
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  after(async () => {
    await influx?.stop();
  });

  it("InfluxDB stopped mid-stream and restarted on the same port and data: every accepted point arrives, retries are counted, the queue drains to 0", async () => {
    const db = "stopped_backend";
    await createDatabase(influx, db);
    const agent = await agentWith({ url: writeUrl(influx, db) });
    let answered = 0;
    let halting: Promise<void> | undefined;
    let restarting: Promise<void> | undefined;
    const outcomes = await pushAll(agent, range(0, 200), 4, async () => {
      answered++;
      // Stopped after 60 answers, restarted after 150, while the pushes go on.
      if (answered === 60) halting = haltBackend(influx, "SIGTERM");
      if (answered === 150) {
        await halting;
        restarting = restartInfluxDB(influx).then((b) => {
          influx = b;
        });
      }
    });
    await restarting;
    // The durable sink takes every push while its disk queue has room.
    expect(outcomes.filter((o) => o.status !== 200), "pushes not answered 200").to.deep.equal([]);
    await expectDelivered(influx, db, { accepted: accepted(outcomes) });
    await poll("queue drained", async () => ((await metric(agent, "pushkit_sink_queue_points")) === 0 ? true : undefined), 10_000);
    expect(await metric(agent, "pushkit_sink_batches_retried_total"), "batches retried").to.be.greaterThan(0);
    // One agent run: each accepted point was written (acknowledged by InfluxDB) exactly once.
    expect(await metric(agent, "pushkit_sink_points_sent_total")).to.equal(200 * PER_PUSH);
    expect((await metric(agent, "pushkit_sink_points_dead_lettered_total")) ?? 0).to.equal(0);
    // The outage is logged as one line per failed write (a known network error: no stack
    // trace), the recovery once, and no log record names a key twice.
    const failed = logLines(agent).filter((l) => l.msg === "sink write failed; batch kept for retry");
    expect(failed.length).to.be.greaterThan(0);
    for (const l of failed) {
      expect(l.sink).to.equal("influxdb");
      expect(l.err, "no error object with a stack for an expected network error").to.equal(undefined);
      expect(l.error).to.be.a("string").and.not.include("\n");
    }
    const recovered = logLines(agent).filter((l) => l.msg === "sink writes succeed again");
    expect(recovered.length).to.be.greaterThan(0);
    expect(recovered[0].sink).to.equal("influxdb");
    expect(recovered[0].failedWrites).to.be.greaterThan(0);
    expect(duplicateKeys(agent.stderr())).to.deep.equal([]);
  });

  it("agent killed with kill -9 mid-stream, backend down: a new agent on the same data_dir delivers every accepted point", async () => {
    const db = "killed_agent";
    await createDatabase(influx, db);
    const dataDir = tempDir();
    const url = writeUrl(influx, db);
    const first = await agentWith({ url, dataDir });
    // 0..49 with InfluxDB up (delivered, the cursor moves), then InfluxDB stops and the queue
    // grows on disk; the agent is killed while pushes are in flight.
    const before = await pushAll(first, range(0, 50), 4);
    expect(before.filter((o) => o.status !== 200)).to.deep.equal([]);
    await expectDelivered(influx, db, { accepted: accepted(before) });
    await haltBackend(influx, "SIGTERM");
    let answered = 0;
    let killed = false;
    const during = await pushAll(
      first,
      range(50, 400),
      4,
      (o) => {
        if (o.status === 200) answered++;
        if (answered === 150 && !killed) {
          killed = true;
          first.child.kill("SIGKILL");
        }
      },
      () => killed,
    );
    await new Promise<void>((resolve) => (first.child.exitCode !== null || first.child.signalCode !== null ? resolve() : first.child.once("exit", () => resolve())));
    expect(first.child.signalCode).to.equal("SIGKILL");
    const outcomes = [...before, ...during];
    const ok = accepted(outcomes);
    expect(ok.length).to.be.at.least(200);
    expect(refused(outcomes), "503s").to.deep.equal([]);
    expect(segmentsOf(dataDir).length, "segment files left by the killed agent").to.be.greaterThan(0);

    influx = await restartInfluxDB(influx);
    const second = await agentWith({ url, dataDir });
    const recovered = await waitForLog(second, (l) => l.msg === "queued points from an earlier run will be delivered", "recovered points");
    const got = await expectDelivered(influx, db, { accepted: ok, unanswered: unanswered(outcomes) });
    // What the new agent read back covers at least every accepted point not yet delivered before the kill.
    expect(recovered.points as number).to.be.at.least((ok.length - 50) * PER_PUSH);
    await poll("queue drained", async () => ((await metric(second, "pushkit_sink_queue_points")) === 0 ? true : undefined), 10_000);
    await poll("segments deleted", async () => (segmentsOf(dataDir).length === 0 ? true : undefined), 5_000);
    process.stdout.write(
      `      [kill -9] accepted ${ok.length} pushes, ${unanswered(outcomes).length} unanswered (of which ${unanswered(outcomes).filter((k) => got.has(k)).length} arrived), recovered ${String(recovered.points)} points\n`,
    );
  });

  it("agent killed with kill -9 while it writes to a live InfluxDB (two writes in flight, acks out of order): nothing accepted is lost", async () => {
    const db = "killed_while_writing";
    await createDatabase(influx, db);
    const dataDir = tempDir();
    const url = writeUrl(influx, db);
    // Small batches (3 pushes) so that many writes are in flight and acknowledged out of order when the kill comes.
    const sink = 'batch_points = 30\nmax_in_flight = 2\nsegment_bytes = "8KiB"';
    const first = await agentWith({ url, dataDir, sink });
    let answered = 0;
    let killed = false;
    const outcomes = await pushAll(
      first,
      range(0, 800),
      8,
      (o) => {
        if (o.status === 200) answered++;
        if (answered === 400 && !killed) {
          killed = true;
          first.child.kill("SIGKILL");
        }
      },
      () => killed,
    );
    await new Promise<void>((resolve) => (first.child.exitCode !== null || first.child.signalCode !== null ? resolve() : first.child.once("exit", () => resolve())));
    const ok = accepted(outcomes);
    expect(refused(outcomes)).to.deep.equal([]);
    const deliveredBefore = await countPoints(influx, db);
    const second = await agentWith({ url, dataDir, sink });
    await expectDelivered(influx, db, { accepted: ok, unanswered: unanswered(outcomes) });
    await poll("queue drained", async () => ((await metric(second, "pushkit_sink_queue_points")) === 0 ? true : undefined), 10_000);
    const recovered = (logLines(second).find((l) => l.msg === "queued points from an earlier run will be delivered")?.points as number | undefined) ?? 0;
    const final = await countPoints(influx, db);
    expect(await metric(second, "pushkit_sink_points_sent_total") ?? 0).to.equal(recovered);
    // Whatever was not in InfluxDB at the kill came from the disk queue.
    expect(recovered).to.be.at.least(final - deliveredBefore);
    process.stdout.write(
      `      [kill -9 while writing] accepted ${ok.length} pushes, ${unanswered(outcomes).length} unanswered; ${deliveredBefore / PER_PUSH} pushes in InfluxDB at the kill, ${recovered / PER_PUSH} read back, ${(recovered - (final - deliveredBefore)) / PER_PUSH} of them sent again\n`,
    );
  });

  it("disk budget (max_disk_bytes) filled while the backend is down: 503 with Retry-After naming max_disk_bytes, nothing of a refused push arrives, everything accepted does", async () => {
    const db = "disk_budget";
    await createDatabase(influx, db);
    await haltBackend(influx, "SIGTERM");
    const agent = await agentWith({ url: writeUrl(influx, db), sink: 'max_disk_bytes = "64KiB"\nsegment_bytes = "8KiB"' });
    const outcomes: Outcome[] = [];
    for (const k of range(0, 200)) outcomes.push(await push(agent, k));
    const firstRefused = outcomes.findIndex((o) => o.status === 503);
    expect(firstRefused, "a push was refused").to.be.greaterThan(0);
    // Once full, it stays full while nothing can be written: every later push is refused whole.
    expect(outcomes.slice(0, firstRefused).every((o) => o.status === 200)).to.equal(true);
    expect(outcomes.slice(firstRefused).every((o) => o.status === 503)).to.equal(true);
    const r = outcomes[firstRefused] as Extract<Outcome, { retryAfter: string | null }>;
    expect(r.retryAfter).to.equal("5");
    expect(r.body).to.match(/^sink "influxdb" is behind: its disk queue holds \d+ bytes \(max_disk_bytes 65536\); nothing of this push was accepted, retry later\n$/);
    // Parallel pushes against a full queue: all refused.
    const parallel = await pushAll(agent, range(200, 220), 5);
    expect(parallel.every((o) => o.status === 503)).to.equal(true);
    outcomes.push(...parallel);
    expect(await metric(agent, "pushkit_sink_pushes_refused_total")).to.equal(refused(outcomes).length);
    const diskBytes = (await metric(agent, "pushkit_sink_disk_queue_bytes"))!;
    expect(diskBytes).to.be.at.most(64 * 1024);

    influx = await restartInfluxDB(influx);
    await expectDelivered(influx, db, { accepted: accepted(outcomes), refused: refused(outcomes) });
    await poll("queue drained", async () => ((await metric(agent, "pushkit_sink_queue_points")) === 0 ? true : undefined), 10_000);
    // An idle durable queue holds no disk.
    await poll("disk queue empty", async () => ((await metric(agent, "pushkit_sink_disk_queue_bytes")) === 0 ? true : undefined), 5_000);
    // Accepting again, and delivering.
    const again = await pushAll(agent, range(300, 320), 4);
    expect(again.every((o) => o.status === 200)).to.equal(true);
    await expectDelivered(influx, db, { accepted: [...accepted(outcomes), ...accepted(again)], refused: refused(outcomes) });
    process.stdout.write(`      [disk budget] ${firstRefused} pushes accepted before the first 503 (${diskBytes} disk bytes), ${refused(outcomes).length} refused\n`);
  });

  it("a corrupt segment tail: the agent starts, logs the segment and the .corrupt-<time> file it set aside, and delivers exactly the records before the damage", async () => {
    const db = "corrupt_segment";
    await createDatabase(influx, db);
    const dataDir = tempDir();
    const first = await agentWith({ url: await deadUrl(db), dataDir, shutdownTimeout: "1s", sink: 'segment_bytes = "8KiB"' });
    const outcomes: Outcome[] = [];
    for (const k of range(0, 40)) outcomes.push(await push(first, k));
    expect(outcomes.every((o) => o.status === 200)).to.equal(true);
    // SIGTERM: durable points stay on disk, nothing is lost, exit 0.
    expect(await first.stop("SIGTERM")).to.equal(0);
    const kept = logLines(first).find((l) => l.msg.startsWith("shutdown: points not yet written stay in the disk queue"));
    expect(kept?.points).to.equal(40 * PER_PUSH);

    const segments = segmentsOf(dataDir);
    expect(segments.length, "several segments (segment_bytes 8KiB)").to.be.greaterThan(1);
    const last = segments[segments.length - 1];
    const records = recordsOf(last);
    expect(records.length).to.be.greaterThan(0);
    const damaged = records[records.length - 1];
    const lost = pushesIn(damaged.lp);
    expect(damaged.points).to.equal(lost.length * PER_PUSH);
    // One byte of the last record's payload flipped (its checksum no longer matches), garbage appended.
    const data = readFileSync(last);
    const at = damaged.offset + 8 + damaged.len - 5;
    data[at] ^= 0xff;
    writeFileSync(last, data);
    appendFileSync(last, Buffer.from("\x00\x01garbage after the last record"));
    const damagedBytes = statSync(last).size - damaged.offset;

    const second = await agentWith({ url: writeUrl(influx, db), dataDir });
    const err = await waitForLog(second, (l) => l.msg.startsWith("queue segment holds"), "corrupt segment error");
    expect(err.level).to.equal(50);
    expect(err.msg).to.equal("queue segment holds a record whose checksum does not match; the records before it are kept, the rest is set aside");
    expect(err.segment).to.equal(last);
    expect(err.offset).to.equal(damaged.offset);
    expect(err.bytes).to.equal(damagedBytes);
    expect(err.setAside).to.match(new RegExp(`^${last.replace(/[.]/g, "\\.")}\\.corrupt-\\d{13}$`));
    expect(existsSync(err.setAside as string), "the set-aside file").to.equal(true);
    expect(statSync(err.setAside as string).size).to.equal(damagedBytes);
    const good = range(0, 40).filter((k) => !lost.includes(k));
    await expectDelivered(influx, db, { accepted: good, refused: lost });
    // And it stays so: the damaged record's points never come.
    await new Promise((r) => setTimeout(r, 500));
    expect(await countPoints(influx, db)).to.equal(good.length * PER_PUSH);
    await poll("queue drained", async () => ((await metric(second, "pushkit_sink_queue_points")) === 0 ? true : undefined), 10_000);
    // The set-aside file is left for a person; no segment remains.
    await poll("segments deleted", async () => (segmentsOf(dataDir).length === 0 ? true : undefined), 5_000);
    expect(existsSync(err.setAside as string)).to.equal(true);
  });

  it("a memory (durable = false) sink with the backend down: SIGTERM exits 1 after shutdown_timeout and logs the points lost", async () => {
    const agent = await agentWith({ url: await deadUrl("memory"), shutdownTimeout: "1s", sink: "durable = false" });
    const outcomes = await pushAll(agent, range(0, 5), 2);
    expect(outcomes.every((o) => o.status === 200)).to.equal(true);
    expect(existsSync(path.join(agent.dir, "data", "queue"))).to.equal(false);
    const started = Date.now();
    const code = await agent.stop("SIGTERM");
    const took = Date.now() - started;
    expect(code).to.equal(1);
    expect(took).to.be.within(900, 5000);
    const lostLine = logLines(agent).find((l) => l.msg === "shutdown deadline reached: points in the memory queue were not delivered and are lost");
    expect(lostLine, "the loss is logged").not.to.equal(undefined);
    expect(lostLine!.level).to.equal(50);
    expect(lostLine!.points).to.equal(5 * PER_PUSH);
    const stopped = logLines(agent).find((l) => l.msg === "stopped");
    expect(stopped).to.include({ lost: 5 * PER_PUSH, queuedOnDisk: 0 });
  });

  it("a batch InfluxDB refuses for good (field type conflict, 400) goes to dead-letter/influxdb.lp with the answer; later pushes are delivered", async () => {
    const db = "dead_letters";
    await createDatabase(influx, db);
    // The field exists as an integer; pushkit writes floats.
    const direct = await fetch(writeUrl(influx, db), { method: "POST", body: `conflict,tag=x value=1i ${(T0 - 1) * 1_000_000}\n` });
    expect(direct.status).to.equal(204);
    const agent = await agentWith({ url: writeUrl(influx, db) });
    const bad = ["# TYPE conflict_value gauge", ...range(0, 3).map((i) => `conflict_value{i="${i}"} 2.5 ${T0 + 5000}`), ""].join("\n");
    const res = await fetch(`${agent.url}/metrics/job/faults/instance/db1`, { method: "PUT", body: bad });
    expect(res.status).to.equal(200);
    await poll("dead-lettered", async () => ((await metric(agent, "pushkit_sink_points_dead_lettered_total")) === 3 ? true : undefined), 10_000);

    const file = path.join(agent.dir, "data", "dead-letter", "influxdb.lp");
    const lines = readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
    expect(lines).to.have.length(4);
    expect(lines[0]).to.match(/^# \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 3 points refused: POST http:\/\/127\.0\.0\.1:\d+\/write\?db=dead_letters&precision=ns: 400 Bad Request: /);
    expect(lines[0]).to.include('partial write: field type conflict: input field \\"value\\" on measurement \\"conflict\\" is type float, already exists as type integer');
    expect(lines[0]).to.include("; answer: {");
    expect(lines.slice(1).sort()).to.deep.equal(range(0, 3).map((i) => `conflict,i=${i},instance=db1,job=faults value=2.5 ${(T0 + 5000) * 1_000_000}`));
    const logged = await waitForLog(agent, (l) => l.msg.startsWith("backend refused a batch for good"), "dead-letter error");
    expect(logged).to.include({ status: 400, points: 3, file });
    expect(await metric(agent, "pushkit_sink_write_failures_total", '{retry="false",sink="influxdb"}')).to.equal(1);
    // Nothing of it was stored, and the agent goes on: later pushes arrive.
    expect(await influxQuery(influx, db, `SELECT value FROM conflict WHERE time > ${T0}ms`)).to.deep.equal([]);
    const later = await pushAll(agent, range(0, 30), 3);
    expect(later.every((o) => o.status === 200)).to.equal(true);
    await expectDelivered(influx, db, { accepted: accepted(later) });
    await poll("queue drained", async () => ((await metric(agent, "pushkit_sink_queue_points")) === 0 ? true : undefined), 10_000);
    expect(await metric(agent, "pushkit_sink_points_dead_lettered_total")).to.equal(3);
  });
});
