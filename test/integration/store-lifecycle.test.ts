// The pushgateway group store over its lifetime, against the real agent (child processes):
// persistence through graceful and hard restarts and damaged files, expiry by group_ttl, and
// removals (PUT dropping series, DELETE, admin wipe) ending series in a real Prometheus 2.42
// through staleness markers.
//
// Agents are started here rather than with test/support/agent.ts's startTestAgent: a restart
// must run a new agent on the very same conf.d, and every child and temporary directory is
// registered before the agent is awaited, so that afterEach ends and removes them even when
// a start or an assertion fails.
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { repoRoot } from "../support/agent.ts";
import { poll } from "../support/backends.ts";
import { encodeFamilies, PROTOBUF_CONTENT_TYPE } from "../support/protobuf.ts";
import { startPrometheus, type RunningPrometheus, type VectorSample } from "../support/prometheus.ts";

// ---------------------------------------------------------------------------------------------
// Agents and clean-up

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

interface Agent {
  url: string;
  child: ChildProcess;
  stderr(): string;
  logs(): LogLine[];
  /** Sends the signal (SIGTERM: graceful stop; SIGKILL: kill -9) and resolves with the exit code and signal. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every child started by a test, and every temporary directory: afterEach ends and removes them all. */
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

process.once("exit", () => {
  for (const c of children) if (alive(c) && c.pid) process.kill(c.pid, "SIGKILL");
});

async function cleanUp(): Promise<void> {
  await Promise.all(
    [...children].map(async (c) => {
      if (alive(c) && c.pid) {
        const exited = new Promise((r) => c.once("exit", r));
        process.kill(c.pid, "SIGKILL");
        await exited;
      }
    }),
  );
  children.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

interface Setup {
  /** The test's temporary directory: conf.d, the agents' data dirs, the persistence file. */
  dir: string;
  confDir: string;
}

/**
 * A temporary directory with conf.d/agent.conf (loopback, JSON debug logs, the given sinks or a
 * file sink) and conf.d/inputs/pushgateway.conf (the given keys; a function gets the directory).
 */
function setup(o: { pushgateway: string | ((dir: string) => string); sinks?: string }): Setup {
  const dir = tempDir("pushkit-lifecycle-");
  const confDir = path.join(dir, "conf.d");
  mkdirSync(path.join(confDir, "inputs"), { recursive: true });
  const sinks = o.sinks ?? `[[sinks.file]]\npath = ${JSON.stringify(path.join(dir, "points.lp"))}\nflush_interval = "20ms"\n`;
  writeFileSync(path.join(confDir, "agent.conf"), `[agent]\nshutdown_timeout = "5s"\n[http]\nlisten = "127.0.0.1:0"\n[log]\nlevel = "debug"\nformat = "json"\n${sinks}`);
  writeFileSync(path.join(confDir, "inputs", "pushgateway.conf"), `[[inputs.pushgateway]]\n${typeof o.pushgateway === "function" ? o.pushgateway(dir) : o.pushgateway}`);
  return { dir, confDir };
}

let started = 0;

/** Runs the agent (node + tsx, as `npm start` does) on s.confDir; resolves once it logged "pushkit started". */
async function launch(s: Setup): Promise<Agent> {
  const child = spawn(process.execPath, ["--import", "tsx", "core/cli.ts", "run", "--conf-dir", s.confDir], {
    cwd: repoRoot,
    // Each run its own data dir (queues, dead letters): only the persistence file is shared.
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ENV_DATA_DIR: path.join(s.dir, `data-${++started}`) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stderr = "";
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const logs = () =>
    stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LogLine);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not start within 30 s; stderr:\n${stderr}`)), 30_000);
    child.stderr!.on("data", (d) => {
      stderr += d;
      const line = stderr.split("\n").find((l) => l.includes('"pushkit started"'));
      if (line) {
        clearTimeout(timer);
        resolve(`http://${(JSON.parse(line) as { listen: string }).listen}`);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`agent exited (${code ?? signal}) before it started; stderr:\n${stderr}`));
    });
  });
  return {
    url,
    child,
    stderr: () => stderr,
    logs,
    async stop(signal = "SIGTERM") {
      if (alive(child)) child.kill(signal);
      return exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

async function send(agent: Agent, method: string, p: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(`${agent.url}${p}`, { method, body: typeof body === "string" ? body : body && new Uint8Array(body), headers, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, text: await res.text() };
}

async function expectStatus(agent: Agent, method: string, p: string, status: number, body?: string | Buffer, headers: Record<string, string> = {}): Promise<string> {
  const r = await send(agent, method, p, body, headers);
  if (r.status !== status) throw new Error(`${method} ${p}: expected ${status}, got ${r.status} ${r.text}\nagent stderr (end):\n${agent.stderr().slice(-3000)}`);
  return r.text;
}

interface ApiGroup {
  labels: Record<string, string>;
  last_push_successful: boolean;
  [family: string]: unknown;
}

/** GET /api/v1/metrics: the text as served (compared byte for byte) and its groups. */
async function apiMetrics(agent: Agent): Promise<{ text: string; groups: ApiGroup[] }> {
  const text = await expectStatus(agent, "GET", "/api/v1/metrics", 200);
  const doc = JSON.parse(text) as { status: string; data: ApiGroup[] };
  expect(doc.status).to.equal("success");
  return { text, groups: doc.data };
}

const OPENMETRICS_ACCEPT = "application/openmetrics-text;version=1.0.0";

/** GET /metrics (text 0.0.4, or OpenMetrics) without the agent's own pushkit_* families. */
async function scrape(agent: Agent, accept?: string): Promise<string> {
  const res = await fetch(`${agent.url}/metrics`, { headers: accept ? { Accept: accept } : {} });
  expect(res.status).to.equal(200);
  const text = await res.text();
  return text
    .split("\n")
    .filter((l) => !/^(# (HELP|TYPE|UNIT) )?pushkit_/.test(l))
    .join("\n");
}

/** The value of one of the agent's own metrics (no labels) as GET /metrics serves it; undefined when absent. */
async function ownMetric(agent: Agent, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${agent.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** Everything the store serves: the JSON API byte for byte, and the scrape in text and OpenMetrics. */
async function served(agent: Agent): Promise<{ api: string; text: string; openmetrics: string }> {
  return { api: (await apiMetrics(agent)).text, text: await scrape(agent), openmetrics: await scrape(agent, OPENMETRICS_ACCEPT) };
}

function groupId(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const b64 = (s: string) => Buffer.from(s).toString("base64url");

// ---------------------------------------------------------------------------------------------
// 1. Persistence

/** Every type in text 0.0.4, HELP with escapes, unicode and escaped label values, NaN and infinities, an explicit timestamp. */
const TEXT_BODY = `# HELP lc_requests_total Requests \\\\ served\\nby the API.
# TYPE lc_requests_total counter
lc_requests_total{code="200",path="/a \\"b\\""} 1027
lc_requests_total{code="500",path="Προμηθεύς"} 3
# TYPE lc_temperature gauge
lc_temperature{kind="plain"} 21.5
lc_temperature{kind="nan"} NaN
lc_temperature{kind="inf"} +Inf
lc_temperature{kind="-inf"} -Inf
lc_temperature{kind="tiny"} 5e-324
lc_temperature{kind="huge"} 1.7976931348623157e+308
lc_temperature{kind="stamped"} 7 1700000000123
lc_untyped 42
# HELP lc_rpc_seconds RPC latency.
# TYPE lc_rpc_seconds summary
lc_rpc_seconds{quantile="0.5"} 0.05
lc_rpc_seconds{quantile="0.99"} 0.25
lc_rpc_seconds_sum 17.5
lc_rpc_seconds_count 200
# TYPE lc_latency_seconds histogram
lc_latency_seconds_bucket{le="0.1"} 3
lc_latency_seconds_bucket{le="0.5"} 5
lc_latency_seconds_bucket{le="+Inf"} 7
lc_latency_seconds_sum 3.25
lc_latency_seconds_count 7
`;

/** Protobuf: gauge histogram, float histogram, summary, untyped. */
const PROTOBUF_BODY = encodeFamilies(
  { name: "lc_queue_depth_seconds", help: "Gauge histogram.", type: 5, metric: [{ label: [{ name: "queue", value: "q/1" }], histogram: { sample_count: 4, sample_sum: 2.5, bucket: [{ upper_bound: 1, cumulative_count: 1 }, { upper_bound: 2, cumulative_count: 3 }] } }] },
  { name: "lc_weights", help: "Float histogram.", type: 4, metric: [{ histogram: { sample_count_float: 2.5, sample_sum: 1.25, bucket: [{ upper_bound: 0.5, cumulative_count_float: 1.5 }, { upper_bound: 1, cumulative_count_float: 2.5 }] } }] },
  { name: "lc_pb_seconds", type: 2, metric: [{ summary: { sample_count: 9, sample_sum: 1.5, quantile: [{ quantile: 0.5, value: 0.125 }, { quantile: 0.99, value: 0.75 }] } }] },
  { name: "lc_pb_untyped", type: 3, metric: [{ label: [{ name: "kind", value: "pb" }], untyped: { value: -12.5 } }] },
);

/** OpenMetrics: info, stateset, gauge histogram, counter with _created. */
const OPENMETRICS_BODY = `# TYPE lc_build info
lc_build_info{version="1.2.3"} 1
# TYPE lc_state stateset
lc_state{lc_state="on"} 1
lc_state{lc_state="off"} 0
# TYPE lc_om_jobs counter
lc_om_jobs_total 17
lc_om_jobs_created 1700000000.5
# TYPE lc_om_depth gaugehistogram
lc_om_depth_bucket{le="1"} 2
lc_om_depth_bucket{le="+Inf"} 5
lc_om_depth_gcount 5
lc_om_depth_gsum 6.5
# EOF
`;

/** The first pushes: groups with every type and format, a base64 path value holding "/", a refused push, an empty group. */
async function firstPushes(agent: Agent): Promise<void> {
  await expectStatus(agent, "PUT", "/metrics/job/lifecycle/instance/text", 200, TEXT_BODY);
  await expectStatus(agent, "PUT", `/metrics/job/lifecycle/dir@base64/${b64("/var/lib/pushkit")}`, 200, PROTOBUF_BODY, { "Content-Type": PROTOBUF_CONTENT_TYPE });
  await expectStatus(agent, "PUT", "/metrics/job/lifecycle/instance/om", 200, OPENMETRICS_BODY, { "Content-Type": "application/openmetrics-text; version=1.0.0" });
  // A later POST gives one family of the text group another time stamp than the others.
  await sleep(20);
  await expectStatus(agent, "POST", "/metrics/job/lifecycle/instance/text", 200, "# TYPE lc_untyped untyped\nlc_untyped 43\n");
  await expectStatus(agent, "PUT", "/metrics/job/lifecycle/instance/empty", 200, "");
  await expectStatus(agent, "PUT", "/metrics/job/refused", 200, "# TYPE lc_refused_ok gauge\nlc_refused_ok 1\n");
  await sleep(20);
  // Refused (a gauge the store keeps itself): the group keeps its families and gets a failure time.
  await expectStatus(agent, "PUT", "/metrics/job/refused", 400, "# TYPE push_time_seconds gauge\npush_time_seconds 5\n");
  // Refused on a group that does not exist: the group is left empty with its failure time, as the reference does.
  await expectStatus(agent, "PUT", "/metrics/job/never", 400, "# TYPE lc_temperature counter\nlc_temperature 1\n");
}

const FIRST_GROUPS = [
  "dir=/var/lib/pushkit,job=lifecycle",
  "instance=empty,job=lifecycle",
  "instance=om,job=lifecycle",
  "instance=text,job=lifecycle",
  "job=never",
  "job=refused",
];

function pushTimeMs(g: ApiGroup, family = "push_time_seconds"): number {
  return Date.parse((g[family] as { time_stamp: string }).time_stamp);
}

/** The persistence file's groups: labels and times. */
interface FileGroup {
  labels: [string, string][];
  push_time_ms: number;
  failure_time_ms: number;
  last_push_successful: boolean;
  families: { name: string }[];
}

function readStoreFile(file: string): FileGroup[] {
  const doc = JSON.parse(readFileSync(file, "utf8")) as { format: string; groups: FileGroup[] };
  expect(doc.format).to.equal("pushkit-pushgateway-groups");
  return doc.groups;
}

/** Whether the file holds exactly the groups the API shows, with the same push and failure times. */
function fileMatches(file: string, groups: ApiGroup[]): boolean {
  if (!existsSync(file)) return false;
  let inFile: FileGroup[];
  try {
    inFile = readStoreFile(file);
  } catch {
    return false;
  }
  const a = inFile.map((g) => `${groupId(Object.fromEntries(g.labels))} ${g.push_time_ms} ${g.failure_time_ms} ${g.last_push_successful} ${g.families.map((f) => f.name).sort().join("|")}`).sort();
  const b = groups
    .map((g) => {
      const families = Object.keys(g)
        .filter((k) => !["labels", "last_push_successful", "push_time_seconds", "push_failure_time_seconds"].includes(k))
        .sort();
      // A gauge of 0 (never pushed, or never refused) is stamped with the other time, as the reference does.
      const ms = (family: string) => (Number((g[family] as { metrics: { value: string }[] }).metrics[0].value) === 0 ? 0 : pushTimeMs(g, family));
      return `${groupId(g.labels)} ${ms("push_time_seconds")} ${ms("push_failure_time_seconds")} ${g.last_push_successful} ${families.join("|")}`;
    })
    .sort();
  return JSON.stringify(a) === JSON.stringify(b);
}

function damagedLog(agent: Agent, file: string): LogLine | undefined {
  return agent.logs().find((l) => l.level === 50 && l.file === file);
}

/** Starts an agent on a damaged file: it starts, logs an error naming the file, serves no group, and the file now sits beside it as <file>.corrupt-<ms>. */
async function expectMovedAside(s: Setup, file: string, damaged: string | Buffer, already: string[]): Promise<{ agent: Agent; aside: string }> {
  writeFileSync(file, damaged);
  const before = Date.now();
  const agent = await launch(s);
  const after = Date.now();
  const error = damagedLog(agent, file);
  expect(error, `an error log naming ${file}; stderr:\n${agent.stderr()}`).to.not.equal(undefined);
  expect(error!.msg).to.match(/persistence file/);
  const asides = readdirSync(path.dirname(file)).filter((n) => n.startsWith(`${path.basename(file)}.corrupt-`) && !already.includes(n));
  expect(asides, "one new .corrupt-<ms> file").to.have.length(1);
  const aside = path.join(path.dirname(file), asides[0]);
  expect(error!.movedTo).to.equal(aside);
  const ms = Number(/\.corrupt-(\d+)$/.exec(asides[0])?.[1]);
  expect(ms, `${asides[0]}: ms between the start and the log`).to.be.within(before, after);
  expect(readFileSync(aside)).to.deep.equal(Buffer.from(damaged));
  expect(existsSync(file), "the damaged file itself is gone").to.equal(false);
  const { groups } = await apiMetrics(agent);
  expect(groups).to.deep.equal([]);
  expect((await scrape(agent)).trim()).to.equal("");
  expect(agent.logs().some((l) => l.msg === "pushkit started")).to.equal(true);
  return { agent, aside: asides[0] };
}

describe("pushgateway group store lifecycle (integration)", function () {
  this.timeout(180_000);
  afterEach(cleanUp);

  describe("persistence_file through real restarts", () => {
    it("keeps every group through SIGTERM, keeps the last interval write through kill -9, and moves damaged files aside", async () => {
      const s = setup({ pushgateway: (dir) => `persistence_file = ${JSON.stringify(path.join(dir, "groups.json"))}\npersistence_interval = "1s"\n` });
      const file = path.join(s.dir, "groups.json");

      // --- Graceful stop: the file is written at shutdown (and maybe on the interval before).
      let agent = await launch(s);
      await firstPushes(agent);
      const before = await served(agent);
      const beforeGroups = (await apiMetrics(agent)).groups;
      expect(beforeGroups.map((g) => groupId(g.labels)).sort()).to.deep.equal(FIRST_GROUPS);
      const refused = beforeGroups.find((g) => groupId(g.labels) === "job=refused")!;
      expect(refused.last_push_successful).to.equal(false);
      expect(pushTimeMs(refused, "push_failure_time_seconds")).to.be.greaterThan(pushTimeMs(refused));
      expect(refused).to.have.property("lc_refused_ok");
      const never = beforeGroups.find((g) => groupId(g.labels) === "job=never")!;
      expect(never.last_push_successful).to.equal(false);
      const gaugeValue = (family: string) => Number((never[family] as { metrics: { value: string }[] }).metrics[0].value);
      expect(gaugeValue("push_time_seconds")).to.equal(0);
      expect(gaugeValue("push_failure_time_seconds")).to.be.greaterThan(0);
      expect(Object.keys(never).sort()).to.deep.equal(["labels", "last_push_successful", "push_failure_time_seconds", "push_time_seconds"]);
      const text = beforeGroups.find((g) => groupId(g.labels) === "instance=text,job=lifecycle")!;
      expect((text.lc_untyped as { time_stamp: string }).time_stamp).to.not.equal((text.lc_temperature as { time_stamp: string }).time_stamp);
      expect(before.text).to.include('lc_temperature{instance="text",job="lifecycle",kind="stamped"} 7 1700000000123');
      expect(before.text).to.include('lc_weights_bucket{dir="/var/lib/pushkit",instance="",job="lifecycle",le="0.5"} 1.5');

      expect(await agent.stop("SIGTERM")).to.deep.equal({ code: 0, signal: null });
      expect(fileMatches(file, beforeGroups), "the file holds every group after a graceful stop").to.equal(true);

      agent = await launch(s);
      expect(agent.logs().find((l) => l.msg === "groups restored from the persistence file")).to.include({ file, groups: FIRST_GROUPS.length });
      const restored = await served(agent);
      expect(restored.api).to.equal(before.api);
      expect(restored.text).to.equal(before.text);
      expect(restored.openmetrics).to.equal(before.openmetrics);

      // --- kill -9: what the last interval write held is back, exactly.
      const mtimeBefore = statSync(file).mtimeMs;
      await expectStatus(agent, "PUT", "/metrics/job/lifecycle/instance/late", 200, "# TYPE lc_late gauge\nlc_late 1\n");
      await expectStatus(agent, "POST", "/metrics/job/lifecycle/instance/text", 200, "# TYPE lc_temperature gauge\nlc_temperature{kind=\"plain\"} 22.5\n");
      await expectStatus(agent, "DELETE", "/metrics/job/lifecycle/instance/empty", 202);
      await expectStatus(agent, "PUT", `/metrics/job/lifecycle/dir@base64/${b64("/var/lib/pushkit")}`, 400, "# TYPE lc_temperature counter\nlc_temperature 1\n");
      const beforeKill = await served(agent);
      const killGroups = (await apiMetrics(agent)).groups;
      expect(killGroups.map((g) => groupId(g.labels)).sort()).to.deep.equal([
        "dir=/var/lib/pushkit,job=lifecycle",
        "instance=late,job=lifecycle",
        "instance=om,job=lifecycle",
        "instance=text,job=lifecycle",
        "job=never",
        "job=refused",
      ]);
      // Wait for the interval write (> 1 s) that holds every change above.
      await poll("the interval write after the pushes", async () => (statSync(file).mtimeMs !== mtimeBefore && fileMatches(file, killGroups) ? true : undefined), 15_000, 100);
      expect(await served(agent), "nothing changed meanwhile").to.deep.equal(beforeKill);
      expect(await agent.stop("SIGKILL")).to.deep.equal({ code: null, signal: "SIGKILL" });

      agent = await launch(s);
      const afterKill = await served(agent);
      expect(afterKill.api).to.equal(beforeKill.api);
      expect(afterKill.text).to.equal(beforeKill.text);
      expect(afterKill.openmetrics).to.equal(beforeKill.openmetrics);
      expect(await agent.stop("SIGTERM")).to.deep.equal({ code: 0, signal: null });
      const good = readFileSync(file, "utf8");

      // --- A truncated file: moved aside, the agent starts with no groups, and persists anew.
      const truncated = await expectMovedAside(s, file, good.slice(0, Math.floor(good.length / 2)), []);
      await expectStatus(truncated.agent, "PUT", "/metrics/job/fresh", 200, "# TYPE lc_fresh gauge\nlc_fresh 1\n");
      expect(await truncated.agent.stop("SIGTERM")).to.deep.equal({ code: 0, signal: null });
      expect(readStoreFile(file).map((g) => groupId(Object.fromEntries(g.labels)))).to.deep.equal(["job=fresh"]);

      // --- Garbage (not UTF-8, not JSON).
      const garbage = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x7b]), randomBytes(512)]);
      await sleep(5);
      const second = await expectMovedAside(s, file, garbage, [truncated.aside]);
      expect(await second.agent.stop("SIGTERM")).to.deep.equal({ code: 0, signal: null });

      // --- Valid JSON that does not fit together (a name with two types): the groups restored
      // before the misfit are not kept either.
      const doc = JSON.parse(good) as { groups: (FileGroup & { families: { name: string; type: string }[] })[] };
      const clash = structuredClone(doc.groups.find((g) => groupId(Object.fromEntries(g.labels)) === "instance=late,job=lifecycle")!);
      clash.labels = [["job", "typeclash"]];
      clash.families[0].type = "COUNTER";
      doc.groups.push(clash);
      await sleep(5);
      const third = await expectMovedAside(s, file, JSON.stringify(doc), [truncated.aside, second.aside]);
      expect(String(damagedLog(third.agent, file)!.reason)).to.match(/^groups\[6\]: .*lc_late.* is not a GAUGE/);
    });

    it("writes the file at a graceful stop even when the interval has not come", async () => {
      const s = setup({ pushgateway: (dir) => `persistence_file = ${JSON.stringify(path.join(dir, "groups.json"))}\npersistence_interval = "1h"\n` });
      const file = path.join(s.dir, "groups.json");
      let agent = await launch(s);
      await expectStatus(agent, "PUT", "/metrics/job/graceful/instance/a", 200, "# TYPE lc_g gauge\nlc_g 1\n");
      const before = await served(agent);
      expect(existsSync(file), "not written before the interval").to.equal(false);
      expect(await agent.stop("SIGTERM")).to.deep.equal({ code: 0, signal: null });
      expect(readStoreFile(file).map((g) => groupId(Object.fromEntries(g.labels)))).to.deep.equal(["instance=a,job=graceful"]);
      agent = await launch(s);
      expect(await served(agent)).to.deep.equal(before);
    });

    it("serves every value exactly as before a restart: -0, NaN, infinities, extremes", async () => {
      const s = setup({ pushgateway: (dir) => `persistence_file = ${JSON.stringify(path.join(dir, "groups.json"))}\npersistence_interval = "1s"\n` });
      let agent = await launch(s);
      const body = ["-0", "0", "NaN", "+Inf", "-Inf", "5e-324", "-1.7976931348623157e+308", "9007199254740993", "0.1"].map((v, i) => `lc_value{i="${i}"} ${v}`).join("\n");
      await expectStatus(agent, "PUT", "/metrics/job/values", 200, `# TYPE lc_value gauge\n${body}\n`);
      const before = await served(agent);
      // Served as pushed (Go's %g keeps the sign of zero, as the reference does) ...
      expect(before.text).to.include('lc_value{i="0",instance="",job="values"} -0\n');
      // ... and so after a restart too (persistence.ts writes numbers with JSON.stringify, which
      // spells -0 as 0).
      expect(await agent.stop("SIGTERM")).to.deep.equal({ code: 0, signal: null });
      agent = await launch(s);
      const after = await served(agent);
      expect(after.text).to.equal(before.text);
      expect(after.api).to.equal(before.api);
    });
  });

  // -------------------------------------------------------------------------------------------
  // 2. group_ttl

  describe("group_ttl", () => {
    it("removes a group not pushed for group_ttl, keeps one pushed all along, and counts it", async () => {
      const s = setup({ pushgateway: 'group_ttl = "2s"\n' });
      const agent = await launch(s);
      const ttl = 2000;
      const sweep = 1000;

      // B: pushed every 500 ms until the end of the test.
      let pushing = true;
      const bErrors: string[] = [];
      const pusher = (async () => {
        for (let n = 0; pushing; n++) {
          const r = await send(agent, "PUT", "/metrics/job/ttl/group/b", `# TYPE lc_ttl_b gauge\nlc_ttl_b ${n}\n`).catch((e: Error) => ({ status: 0, text: e.message }));
          if (r.status !== 200) bErrors.push(`${r.status} ${r.text}`);
          await sleep(500);
        }
      })();
      try {
        await sleep(100);
        const aSent = Date.now();
        await expectStatus(agent, "PUT", "/metrics/job/ttl/group/a", 200, "# TYPE lc_ttl_a gauge\nlc_ttl_a 1\n");
        const ids = async () => (await apiMetrics(agent)).groups.map((g) => groupId(g.labels)).sort();
        expect(await ids()).to.deep.equal(["group=a,job=ttl", "group=b,job=ttl"]);

        // Poll until A is gone; B must be there at every look.
        const bMissing: string[][] = [];
        const goneAt = await poll(
          "group A expired",
          async () => {
            const now = await ids();
            if (!now.includes("group=b,job=ttl")) bMissing.push(now);
            return now.includes("group=a,job=ttl") ? undefined : Date.now();
          },
          ttl + sweep + 7000,
          100,
        );
        // Not before its TTL has passed since its push (which was sent at aSent or later).
        expect(bMissing, "B is kept while pushed").to.deep.equal([]);
        expect(goneAt - aSent, "A removed no earlier than group_ttl after its push").to.be.at.least(ttl);
        expect(await ids()).to.deep.equal(["group=b,job=ttl"]);
        const scraped = await scrape(agent);
        expect(scraped).to.not.include('group="a"');
        expect(scraped).to.include('lc_ttl_b{group="b",instance="",job="ttl"}');
        expect(await ownMetric(agent, "pushkit_pushgateway_groups_expired_total")).to.equal(1);

        // B keeps being pushed for ~4 s in all, and stays.
        await sleep(Math.max(0, aSent + 4500 - Date.now()));
        expect(await ids()).to.deep.equal(["group=b,job=ttl"]);
        expect(await ownMetric(agent, "pushkit_pushgateway_groups_expired_total")).to.equal(1);

        // Refused pushes do not keep a group's metrics alive: C is pushed once, then only refused
        // (once C has expired, a refused push leaves it behind empty, as a refused first push does).
        const cSent = Date.now();
        await expectStatus(agent, "PUT", "/metrics/job/ttl/group/c", 200, "# TYPE lc_ttl_c gauge\nlc_ttl_c 1\n");
        const refusals: number[] = [];
        const cGoneAt = await poll(
          "group C expired",
          async () => {
            refusals.push((await send(agent, "PUT", "/metrics/job/ttl/group/c", "# TYPE push_time_seconds gauge\npush_time_seconds 1\n")).status);
            const groups = (await apiMetrics(agent)).groups;
            const now = groups.map((g) => groupId(g.labels)).sort();
            if (!now.includes("group=b,job=ttl")) bMissing.push(now);
            const c = groups.find((g) => groupId(g.labels) === "group=c,job=ttl");
            return c && "lc_ttl_c" in c ? undefined : Date.now();
          },
          ttl + sweep + 7000,
          500,
        );
        expect(bMissing, "B is kept while pushed").to.deep.equal([]);
        // Each refused while C existed (the last one may have come after C was gone: then 400 too, no group).
        expect(refusals.length).to.be.greaterThan(1);
        expect(new Set(refusals)).to.deep.equal(new Set([400]));
        expect(cGoneAt - cSent, "C removed no earlier than group_ttl after its last successful push").to.be.at.least(ttl);
        expect((await ids()).filter((id) => id !== "group=c,job=ttl")).to.deep.equal(["group=b,job=ttl"]);
        expect(await ownMetric(agent, "pushkit_pushgateway_groups_expired_total")).to.equal(2);
      } finally {
        pushing = false;
        await pusher;
      }
      expect(bErrors, "every push of B was accepted").to.deep.equal([]);
      expect(agent.logs().filter((l) => l.msg === "groups not pushed for group_ttl removed").map((l) => l.groups)).to.deep.equal([1, 1]);
    });
  });

  // -------------------------------------------------------------------------------------------
  // 3. Staleness markers in a real Prometheus

  describe("removals end series in Prometheus 2.42 (remote write, staleness markers)", () => {
    let prom: RunningPrometheus | undefined;
    afterEach(async () => {
      await prom?.stop();
      prom = undefined;
    });

    /** Series as "name{labels} => value", sorted; job left out (every series here has job="stale"). */
    function rows(result: VectorSample[]): string[] {
      return result
        .map((r) => {
          const { __name__: name, job, ...labels } = r.metric;
          expect(job).to.equal("stale");
          const l = Object.keys(labels)
            .sort()
            .map((k) => `${k}=${labels[k]}`)
            .join(",");
          return `${name}{${l}} => ${r.value[1]}`;
        })
        .sort();
    }

    async function until(expr: string, timeMs: () => number, want: string[], timeoutMs = 15_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      let got: string[] = [];
      for (;;) {
        got = rows(await prom!.query(expr, timeMs()));
        if (JSON.stringify(got) === JSON.stringify(want)) return;
        if (Date.now() > deadline) break;
        await sleep(100);
      }
      expect(got, `${expr} within ${timeoutMs} ms`).to.deep.equal(want);
    }

    it("PUT dropping a series, DELETE and the admin wipe end exactly the removed series at once", async () => {
      prom = await startPrometheus();
      const s = setup({
        pushgateway: "enable_admin_api = true\n",
        sinks: `[[sinks.prometheus_remote_write]]\nurl = ${JSON.stringify(prom.writeUrl)}\nflush_interval = "50ms"\n`,
      });
      const agent = await launch(s);
      expect(agent.logs().find((l) => l.msg === "pushkit started")!.sinks).to.deep.equal(["prometheus_remote_write"]);

      const X = "/metrics/job/stale/grp/x";
      const Y = "/metrics/job/stale/grp/y";
      await expectStatus(
        agent,
        "PUT",
        X,
        200,
        '# TYPE st_requests_total counter\nst_requests_total{code="200"} 5\nst_requests_total{code="500"} 1\n# TYPE st_temp gauge\nst_temp 3\n# TYPE st_jobs gauge\nst_jobs{kind="a"} 1\nst_jobs{kind="b"} 2\n',
      );
      await expectStatus(
        agent,
        "PUT",
        Y,
        200,
        '# TYPE st_temp gauge\nst_temp 4\n# TYPE st_latency_seconds histogram\nst_latency_seconds_bucket{le="0.5"} 2\nst_latency_seconds_bucket{le="+Inf"} 3\nst_latency_seconds_sum 1.5\nst_latency_seconds_count 3\n',
      );
      const all = '{job="stale"}';
      const now = () => Date.now();
      const yRows = [
        "st_latency_seconds_bucket{grp=y,le=+Inf} => 3", "st_latency_seconds_bucket{grp=y,le=0.5} => 2", "st_latency_seconds_count{grp=y} => 3", "st_latency_seconds_sum{grp=y} => 1.5", "st_temp{grp=y} => 4",
      ].sort();
      await until(
        all,
        now,
        ["st_jobs{grp=x,kind=a} => 1", "st_jobs{grp=x,kind=b} => 2", "st_requests_total{code=200,grp=x} => 5", "st_requests_total{code=500,grp=x} => 1", "st_temp{grp=x} => 3", ...yRows].sort(),
      );
      await sleep(50);

      // (a) PUT to X without st_requests_total{code="500"} (and without st_jobs): those series
      // end, X's others and Y stay.
      const beforePut = Date.now();
      await expectStatus(agent, "PUT", X, 200, '# TYPE st_requests_total counter\nst_requests_total{code="200"} 6\n# TYPE st_temp gauge\nst_temp 3.5\n# TYPE st_jobs gauge\nst_jobs{kind="a"} 1\nst_jobs{kind="b"} 2\n');
      await until(all, now, ["st_jobs{grp=x,kind=a} => 1", "st_jobs{grp=x,kind=b} => 2", "st_requests_total{code=200,grp=x} => 6", "st_temp{grp=x} => 3.5", ...yRows].sort());
      // The series still answers before its end, with its last value: the absence is the marker's.
      expect(rows(await prom.query('st_requests_total{code="500"}', beforePut - 1))).to.deep.equal(["st_requests_total{code=500,grp=x} => 1"]);
      await sleep(50);

      // (a') POST to X replacing st_jobs with kind="a" only: st_jobs{kind="b"} ends; the families
      // the POST does not name stay.
      const beforePost = Date.now();
      await expectStatus(agent, "POST", X, 200, '# TYPE st_jobs gauge\nst_jobs{kind="a"} 1.5\n');
      const xRows = ["st_jobs{grp=x,kind=a} => 1.5", "st_requests_total{code=200,grp=x} => 6", "st_temp{grp=x} => 3.5"];
      await until(all, now, [...xRows, ...yRows].sort());
      expect(rows(await prom.query('st_jobs{kind="b"}', beforePost - 1))).to.deep.equal(["st_jobs{grp=x,kind=b} => 2"]);
      // A minute on (well within the 5-minute lookback of its last sample) it is still ended.
      expect(rows(await prom.query(all, Date.now() + 60_000))).to.deep.equal([...xRows, ...yRows].sort());
      await sleep(50);

      // (b) DELETE Y: every series of Y ends, X's stay.
      const beforeDelete = Date.now();
      await expectStatus(agent, "DELETE", Y, 202);
      await until(all, now, xRows);
      expect(rows(await prom.query('{job="stale",grp="y"}', beforeDelete - 1))).to.deep.equal(yRows);
      expect(rows(await prom.query(all, Date.now() + 60_000))).to.deep.equal(xRows);
      await sleep(50);

      // (c) The admin wipe: everything ends.
      const beforeWipe = Date.now();
      await expectStatus(agent, "PUT", "/api/v1/admin/wipe", 202);
      expect((await apiMetrics(agent)).groups).to.deep.equal([]);
      await until(all, now, []);
      expect(rows(await prom.query(all, beforeWipe - 1))).to.deep.equal(xRows);
      expect(rows(await prom.query(all, Date.now() + 60_000))).to.deep.equal([]);

      // Nothing was refused by Prometheus (a marker out of order would be set aside).
      expect(agent.logs().filter((l) => l.level >= 40).map((l) => l.msg)).to.deep.equal([]);
    });

    it("expiry by group_ttl ends the expired group's series at once", async () => {
      prom = await startPrometheus();
      const s = setup({
        pushgateway: 'group_ttl = "2s"\n',
        sinks: `[[sinks.prometheus_remote_write]]\nurl = ${JSON.stringify(prom.writeUrl)}\nflush_interval = "50ms"\n`,
      });
      const agent = await launch(s);
      await expectStatus(agent, "PUT", "/metrics/job/stale/grp/ttl", 200, "# TYPE st_ttl gauge\nst_ttl 9\n# TYPE st_ttl_rpc summary\nst_ttl_rpc{quantile=\"0.5\"} 0.25\nst_ttl_rpc_sum 2\nst_ttl_rpc_count 8\n");
      const all = '{job="stale"}';
      const series = ["st_ttl_rpc_count{grp=ttl} => 8", "st_ttl_rpc_sum{grp=ttl} => 2", "st_ttl_rpc{grp=ttl,quantile=0.5} => 0.25", "st_ttl{grp=ttl} => 9"].sort();
      const pushedBy = Date.now();
      await until(all, () => Date.now(), series);
      await poll("the group expired", async () => ((await apiMetrics(agent)).groups.length === 0 ? true : undefined), 15_000, 100);
      await until(all, () => Date.now(), []);
      expect(rows(await prom.query(all, pushedBy))).to.deep.equal(series);
      expect(rows(await prom.query(all, Date.now() + 60_000))).to.deep.equal([]);
    });

    it("a PUT that drops a histogram bucket or turns a summary into a gauge ends the series it no longer serves", async () => {
      prom = await startPrometheus();
      const s = setup({
        pushgateway: "",
        sinks: `[[sinks.prometheus_remote_write]]\nurl = ${JSON.stringify(prom.writeUrl)}\nflush_interval = "50ms"\n`,
      });
      const agent = await launch(s);
      const X = "/metrics/job/stale/grp/shape";
      await expectStatus(agent, "PUT", X, 200, '# TYPE st_h histogram\nst_h_bucket{le="0.5"} 2\nst_h_bucket{le="+Inf"} 3\nst_h_sum 1.5\nst_h_count 3\n# TYPE st_s summary\nst_s{quantile="0.5"} 1\nst_s_sum 2\nst_s_count 3\n');
      const all = '{job="stale"}';
      await until(
        all,
        () => Date.now(),
        ["st_h_bucket{grp=shape,le=+Inf} => 3", "st_h_bucket{grp=shape,le=0.5} => 2", "st_h_count{grp=shape} => 3", "st_h_sum{grp=shape} => 1.5", "st_s_count{grp=shape} => 3", "st_s_sum{grp=shape} => 2", "st_s{grp=shape,quantile=0.5} => 1"].sort(),
      );
      await sleep(50);
      // The bucket le="0.5" is replaced by le="1"; st_s becomes a gauge: st_s_sum, st_s_count and
      // st_s{quantile="0.5"} are no longer served by the group (GET /metrics) ...
      await expectStatus(agent, "PUT", X, 200, '# TYPE st_h histogram\nst_h_bucket{le="1"} 2\nst_h_bucket{le="+Inf"} 3\nst_h_sum 1.5\nst_h_count 3\n# TYPE st_s gauge\nst_s 7\n');
      const scraped = await scrape(agent);
      expect(scraped).to.not.match(/st_h_bucket\{[^}]*le="0.5"/);
      expect(scraped).to.not.match(/st_s_(sum|count)|quantile/);
      // ... and must end in Prometheus as they would for a scrape, not linger for 5 minutes.
      await until(all, () => Date.now(), ["st_h_bucket{grp=shape,le=+Inf} => 3", "st_h_bucket{grp=shape,le=1} => 2", "st_h_count{grp=shape} => 3", "st_h_sum{grp=shape} => 1.5", "st_s{grp=shape} => 7"].sort());
    });
  });
});
