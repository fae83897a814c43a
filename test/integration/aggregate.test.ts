// The pushgateway input's aggregating mode ([[inputs.pushgateway.aggregate]] rules) against the
// real agent (child processes, test/support/agent.ts): pushes of matching jobs are added into
// one group without the dropped labels, over HTTP as a client sees it (scrape, JSON API, status
// page, self-metrics), what the sinks get for each merge (a file sink, a real Prometheus 2.42
// through remote write, a real InfluxDB 1.6), refusals that merge nothing, parallel clients,
// persistence across restarts, group_ttl, and the configuration forms and their start-up errors.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { repoRoot, startTestAgent, type AgentOptions, type RunningTestAgent } from "../support/agent.ts";
import { poll, startInfluxDB, type RunningBackend } from "../support/backends.ts";
import { encodeFamilies, PROTOBUF_CONTENT_TYPE } from "../support/protobuf.ts";
import { startPrometheus, type RunningPrometheus, type VectorSample } from "../support/prometheus.ts";

// ---------------------------------------------------------------------------------------------
// Agents, temporary directories and clean-up

const agents = new Set<RunningTestAgent>();
const tempDirs = new Set<string>();

async function start(o: AgentOptions): Promise<RunningTestAgent> {
  const agent = await startTestAgent(o);
  agents.add(agent);
  return agent;
}

async function stopAgent(agent: RunningTestAgent, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
  const code = await agent.stop(signal);
  agent.cleanup();
  agents.delete(agent);
  return code;
}

async function stopAll(): Promise<void> {
  await Promise.all([...agents].map((a) => stopAgent(a, "SIGKILL")));
}

function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

function removeTempDirs(): void {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** agent.conf with a given sink table instead of the default file sink. */
function agentConf(sinks: string): string {
  return `[agent]\nshutdown_timeout = "5s"\n[http]\nlisten = "127.0.0.1:0"\n[log]\nlevel = "debug"\nformat = "json"\n${sinks}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface Answer {
  status: number;
  text: string;
}

async function send(agent: RunningTestAgent, method: string, p: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${agent.url}${p}`, { method, body: typeof body === "string" ? body : body && new Uint8Array(body), headers, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, text: await res.text() };
}

/** A push (or DELETE) that must be answered with `status` (200 for pushes by default). */
async function must(agent: RunningTestAgent, method: string, p: string, body?: string | Buffer, status = method === "DELETE" ? 202 : 200, headers: Record<string, string> = {}): Promise<string> {
  const r = await send(agent, method, p, body, headers);
  if (r.status !== status) throw new Error(`${method} ${p}: expected ${status}, got ${r.status} ${r.text}\nagent stderr (end):\n${agent.stderr().slice(-3000)}`);
  return r.text;
}

const REFUSED = "pushed metrics cannot be added to the aggregated group: ";

/** A push that must be refused with 400 and the aggregation's message; returns the reason. */
async function refused(agent: RunningTestAgent, method: string, p: string, body: string): Promise<string> {
  const r = await send(agent, method, p, body);
  expect(r.status, `${method} ${p}: ${r.text}`).to.equal(400);
  expect(r.text.startsWith(REFUSED), r.text).to.equal(true);
  return r.text.slice(REFUSED.length).trim();
}

/** The whole GET /metrics text. */
async function scrapeAll(agent: RunningTestAgent): Promise<string> {
  const res = await fetch(`${agent.url}/metrics`);
  expect(res.status).to.equal(200);
  return res.text();
}

/** The sample lines GET /metrics serves for one job (no comments, none of the agent's pushkit_* metrics), sorted. */
async function scrapeJob(agent: RunningTestAgent, job: string): Promise<string[]> {
  const text = await scrapeAll(agent);
  return text
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#") && !l.startsWith("pushkit_") && l.includes(`job="${job}"`))
    .sort();
}

/** scrapeJob without push_time_seconds and push_failure_time_seconds. */
async function familiesOf(agent: RunningTestAgent, job: string): Promise<string[]> {
  return (await scrapeJob(agent, job)).filter((l) => !l.startsWith("push_time_seconds") && !l.startsWith("push_failure_time_seconds"));
}

/** The value of one sample line of the scrape (exact line start: name and labels). */
async function scrapedValue(agent: RunningTestAgent, series: string): Promise<number | undefined> {
  const line = (await scrapeAll(agent)).split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1).split(" ")[0]);
}

interface ApiFamily {
  type: string;
  time_stamp: string;
  metrics: { labels: Record<string, string>; value?: string; count?: string; sum?: string; buckets?: Record<string, string>; quantiles?: Record<string, string> }[];
}

interface ApiGroup {
  labels: Record<string, string>;
  last_push_successful: boolean;
  aggregated?: { rule: string; jobs: string[]; drop_labels: string[]; gauges: string; honor_timestamps: boolean };
  push_time_seconds: ApiFamily;
  push_failure_time_seconds: ApiFamily;
  [family: string]: unknown;
}

async function apiGroups(agent: RunningTestAgent): Promise<ApiGroup[]> {
  const res = await fetch(`${agent.url}/api/v1/metrics`);
  expect(res.status).to.equal(200);
  const doc = (await res.json()) as { status: string; data: ApiGroup[] };
  expect(doc.status).to.equal("success");
  return doc.data;
}

/** The API's groups of one job. */
async function apiGroupsOf(agent: RunningTestAgent, job: string): Promise<ApiGroup[]> {
  return (await apiGroups(agent)).filter((g) => g.labels.job === job);
}

function gaugeValue(f: ApiFamily): number {
  return Number(f.metrics[0].value);
}

// ---------------------------------------------------------------------------------------------
// What the file sink got

interface SinkPoint {
  measurement: string;
  tags: string;
  fields: Record<string, number>;
  timeNs: bigint;
}

/** Line protocol as the file sink writes it (no escaped spaces or commas in these tests). */
function parseLine(line: string): SinkPoint {
  const [head, fieldText, time] = line.split(" ");
  const comma = head.indexOf(",");
  const fields: Record<string, number> = {};
  for (const kv of fieldText.split(",")) {
    const eq = kv.indexOf("=");
    fields[kv.slice(0, eq)] = Number(kv.slice(eq + 1));
  }
  return { measurement: comma < 0 ? head : head.slice(0, comma), tags: comma < 0 ? "" : head.slice(comma + 1), fields, timeNs: BigInt(time) };
}

/** The file sink's points of one series (measurement and tags exactly as written), in the order written, with one field. */
function sinkSeries(agent: RunningTestAgent, measurement: string, tags: string, field: string): { value: number; timeNs: bigint }[] {
  return agent
    .lines()
    .map(parseLine)
    .filter((p) => p.measurement === measurement && p.tags === tags && field in p.fields)
    .map((p) => ({ value: p.fields[field], timeNs: p.timeNs }));
}

// ---------------------------------------------------------------------------------------------
// Bodies

/** Push i (1, 2, 3) of the basic test: two invocation ids that coincide once dropped, every type. */
function basicBody(i: number): string {
  return [
    "# TYPE fn_requests_total counter",
    `fn_requests_total{code="200",invocation_id="inv-${i}-a"} ${i}`,
    `fn_requests_total{code="200",invocation_id="inv-${i}-b"} ${10 * i}`,
    `fn_requests_total{code="500",instance="pod-${i}"} 1`,
    "# TYPE fn_latency_seconds histogram",
    `fn_latency_seconds_bucket{le="0.1"} ${i}`,
    `fn_latency_seconds_bucket{le="1"} ${2 * i}`,
    `fn_latency_seconds_bucket{le="+Inf"} ${3 * i}`,
    `fn_latency_seconds_sum ${0.5 * i}`,
    `fn_latency_seconds_count ${3 * i}`,
    "# TYPE fn_payload_bytes summary",
    `fn_payload_bytes{quantile="0.5"} ${10 * i}`,
    `fn_payload_bytes{quantile="0.9"} ${100 * i}`,
    `fn_payload_bytes_sum ${1.25 * i}`,
    `fn_payload_bytes_count ${i}`,
    "",
  ].join("\n");
}

/** Gauge and untyped values of pushes 1, 2, 3: gauge 5, 9, 2; untyped 7, 3, 4. */
const GAUGES = [5, 9, 2];
const UNTYPED = [7, 3, 4];

function gaugeBody(i: number): string {
  return `# TYPE fn_temperature gauge\nfn_temperature ${GAUGES[i - 1]}\nfn_untyped ${UNTYPED[i - 1]}\n`;
}

// ---------------------------------------------------------------------------------------------
// The rules of the shared agent

const MAIN_RULES = `[[inputs.pushgateway]]
  [[inputs.pushgateway.aggregate]]
    jobs = ["lambda-*", "ci-build"]
    drop_labels = ["instance", "invocation_id"]
    gauges = "last"
  [[inputs.pushgateway.aggregate]]
    jobs = ["gsum-*"]
    drop_labels = ["instance"]
    gauges = "sum"
  [[inputs.pushgateway.aggregate]]
    jobs = ["gmin-?"]
    drop_labels = ["instance"]
    gauges = "min"
  [[inputs.pushgateway.aggregate]]
    jobs = ["gmax-[ab]"]
    drop_labels = ["instance"]
    gauges = "max"
  [[inputs.pushgateway.aggregate]]
    jobs = ["hts-*"]
    drop_labels = ["instance"]
    honor_timestamps = true
`;

describe("pushgateway aggregating pushes (integration)", function () {
  this.timeout(60_000);

  after(async () => {
    await stopAll();
    removeTempDirs();
  });

  // -------------------------------------------------------------------------------------------
  // One agent with five rules, for the HTTP semantics

  describe("one agent with five aggregate rules (file sink)", () => {
    let agent: RunningTestAgent;
    before(async () => {
      agent = await start({ conf: { "inputs/pushgateway.conf": MAIN_RULES } });
    });
    after(async () => {
      if (agent) await stopAgent(agent);
    });

    it("adds counters, histograms and summary counts of pushes from three instances into one group; gauges and untyped take the last", async () => {
      const before = Date.now();
      for (const i of [1, 2, 3]) {
        await must(agent, "POST", `/metrics/job/lambda-basic/instance/host-${i}`, basicBody(i) + gaugeBody(i));
      }
      const after = Date.now();
      const g = 'instance="",job="lambda-basic"';
      expect(await familiesOf(agent, "lambda-basic")).to.deep.equal(
        [
          // 1+10 + 2+20 + 3+30: the two invocation ids of each push met once dropped.
          `fn_requests_total{code="200",${g}} 66`,
          `fn_requests_total{code="500",${g}} 3`,
          `fn_latency_seconds_bucket{${g},le="0.1"} 6`,
          `fn_latency_seconds_bucket{${g},le="1"} 12`,
          `fn_latency_seconds_bucket{${g},le="+Inf"} 18`,
          `fn_latency_seconds_sum{${g}} 3`,
          `fn_latency_seconds_count{${g}} 18`,
          // The last push's quantiles; count and sum added.
          `fn_payload_bytes{${g},quantile="0.5"} 30`,
          `fn_payload_bytes{${g},quantile="0.9"} 300`,
          `fn_payload_bytes_sum{${g}} 7.5`,
          `fn_payload_bytes_count{${g}} 6`,
          `fn_temperature{${g}} 2`,
          `fn_untyped{${g}} 4`,
        ].sort(),
      );
      // One group: push_time_seconds (the last merge) and push_failure_time_seconds of the aggregated group only.
      const all = await scrapeAll(agent);
      expect(all).not.to.match(/host-\d/);
      expect(all).not.to.include("invocation_id");
      expect(all).not.to.include("inv-");
      expect(all).not.to.include("pod-");
      const pushTimes = all.split("\n").filter((l) => l.startsWith("push_time_seconds{") && l.includes('job="lambda-basic"'));
      expect(pushTimes).to.have.length(1);
      expect(pushTimes[0]).to.match(/^push_time_seconds\{instance="",job="lambda-basic"\} /);
      const pushTime = Number(pushTimes[0].split(" ")[1]) * 1000;
      expect(pushTime).to.be.within(before, after + 1);
      expect(await scrapedValue(agent, `push_failure_time_seconds{${g}}`)).to.equal(0);
      const groups = await apiGroupsOf(agent, "lambda-basic");
      expect(groups.map((x) => x.labels)).to.deep.equal([{ job: "lambda-basic" }]);
      expect(groups[0].last_push_successful).to.equal(true);

      // The sink got the group's running values: one series per aggregated series.
      await poll("the sink has the third merge", async () => (sinkSeries(agent, "fn", "code=200,job=lambda-basic", "requests_total").length >= 3 ? true : undefined));
      await sleep(100);
      expect(sinkSeries(agent, "fn", "code=200,job=lambda-basic", "requests_total").map((p) => p.value)).to.deep.equal([11, 33, 66]);
      expect(sinkSeries(agent, "fn", "code=500,job=lambda-basic", "requests_total").map((p) => p.value)).to.deep.equal([1, 2, 3]);
      expect(sinkSeries(agent, "fn", "job=lambda-basic", "latency_seconds_count").map((p) => p.value)).to.deep.equal([3, 9, 18]);
      expect(sinkSeries(agent, "fn", "job=lambda-basic", "payload_bytes_count").map((p) => p.value)).to.deep.equal([1, 3, 6]);
      expect(sinkSeries(agent, "fn", "job=lambda-basic", "temperature").map((p) => p.value)).to.deep.equal([5, 9, 2]);
      const sinkText = agent.lines().join("\n");
      expect(sinkText).not.to.include("invocation_id");
      expect(sinkText).not.to.match(/instance=host/);
    });

    it("keeps groups apart by the grouping labels a rule does not drop; base64 grouping keys and protobuf bodies merge alike", async () => {
      const b64 = (s: string) => Buffer.from(s).toString("base64url");
      const counter = (n: number) => `# TYPE rg_total counter\nrg_total{code="200"} ${n}\n`;
      await must(agent, "POST", "/metrics/job/lambda-region/region/eu/instance/a", counter(1));
      await must(agent, "PUT", `/metrics/job@base64/${b64("lambda-region")}/region/eu/instance@base64/${b64("b/c")}`, counter(2));
      await must(agent, "POST", "/metrics/job/lambda-region/region/us/instance/a", counter(4));
      const proto = encodeFamilies({ name: "rg_total", type: 0, metric: [{ label: [{ name: "code", value: "200" }, { name: "invocation_id", value: "p1" }], counter: { value: 8 } }] });
      await must(agent, "POST", "/metrics/job/lambda-region/region/eu/invocation_id/p1", proto, 200, { "Content-Type": PROTOBUF_CONTENT_TYPE });
      expect(await familiesOf(agent, "lambda-region")).to.deep.equal([
        'rg_total{code="200",instance="",job="lambda-region",region="eu"} 11',
        'rg_total{code="200",instance="",job="lambda-region",region="us"} 4',
      ]);
      expect((await apiGroupsOf(agent, "lambda-region")).map((x) => x.labels).sort((a, b) => a.region.localeCompare(b.region))).to.deep.equal([
        { job: "lambda-region", region: "eu" },
        { job: "lambda-region", region: "us" },
      ]);
      // DELETE of one region leaves the other.
      await must(agent, "DELETE", "/metrics/job/lambda-region/region/us/instance/zz");
      expect(await familiesOf(agent, "lambda-region")).to.deep.equal(['rg_total{code="200",instance="",job="lambda-region",region="eu"} 11']);
    });

    it("combines gauges and untyped metrics as each rule's gauges says: sum, min, max", async () => {
      const cases: [string, number, number][] = [
        ["gsum-x", 16, 14],
        ["gmin-x", 2, 3],
        ["gmax-a", 9, 7],
      ];
      for (const [job] of cases) {
        for (const i of [1, 2, 3]) await must(agent, "PUT", `/metrics/job/${job}/instance/i${i}`, gaugeBody(i) + `# TYPE fn_runs_total counter\nfn_runs_total ${i}\n`);
      }
      for (const [job, gauge, untyped] of cases) {
        const g = `instance="",job="${job}"`;
        expect(await familiesOf(agent, job), job).to.deep.equal([`fn_runs_total{${g}} 6`, `fn_temperature{${g}} ${gauge}`, `fn_untyped{${g}} ${untyped}`]);
        expect((await apiGroupsOf(agent, job)).map((x) => x.labels)).to.deep.equal([{ job }]);
      }
      // "gmin-?" and "gmax-[ab]" match only what they say: these jobs are stored per instance, as pushed.
      await must(agent, "PUT", "/metrics/job/gmin-xy/instance/i1", gaugeBody(1));
      await must(agent, "PUT", "/metrics/job/gmin-xy/instance/i2", gaugeBody(2));
      await must(agent, "PUT", "/metrics/job/gmax-c/instance/i1", gaugeBody(1));
      expect(await familiesOf(agent, "gmin-xy")).to.deep.equal(
        ['fn_temperature{instance="i1",job="gmin-xy"} 5', 'fn_temperature{instance="i2",job="gmin-xy"} 9', 'fn_untyped{instance="i1",job="gmin-xy"} 7', 'fn_untyped{instance="i2",job="gmin-xy"} 3'],
      );
      expect((await apiGroupsOf(agent, "gmax-c")).map((x) => [x.labels, x.aggregated])).to.deep.equal([[{ instance: "i1", job: "gmax-c" }, undefined]]);
    });

    it("PUT and POST both merge (a PUT does not empty the group); DELETE with any instance removes it; a job no rule matches is replaced as before", async () => {
      const g = 'instance="",job="ci-build"';
      await must(agent, "PUT", "/metrics/job/ci-build/instance/a", "# TYPE ci_steps_total counter\nci_steps_total 2\n# TYPE ci_queue gauge\nci_queue 4\n");
      // A PUT naming only the counter: the gauge stays, the counter adds.
      await must(agent, "PUT", "/metrics/job/ci-build/instance/b", "# TYPE ci_steps_total counter\nci_steps_total 3\n");
      expect(await familiesOf(agent, "ci-build")).to.deep.equal([`ci_queue{${g}} 4`, `ci_steps_total{${g}} 5`]);
      await must(agent, "POST", "/metrics/job/ci-build/instance/c", "# TYPE ci_steps_total counter\nci_steps_total 4\n");
      expect(await familiesOf(agent, "ci-build")).to.deep.equal([`ci_queue{${g}} 4`, `ci_steps_total{${g}} 9`]);
      // An empty PUT merges nothing and removes nothing.
      await must(agent, "PUT", "/metrics/job/ci-build/instance/d", "");
      expect(await familiesOf(agent, "ci-build")).to.deep.equal([`ci_queue{${g}} 4`, `ci_steps_total{${g}} 9`]);

      // DELETE with an instance never pushed: the dropped label is removed from it too.
      await must(agent, "DELETE", "/metrics/job/ci-build/instance/never-pushed");
      expect(await scrapeJob(agent, "ci-build")).to.deep.equal([]);
      expect(await apiGroupsOf(agent, "ci-build")).to.deep.equal([]);
      // Gone means gone: the next merge starts from nothing.
      await must(agent, "PUT", "/metrics/job/ci-build/invocation_id/x1", "# TYPE ci_steps_total counter\nci_steps_total 1\n");
      expect(await familiesOf(agent, "ci-build")).to.deep.equal([`ci_steps_total{${g}} 1`]);
      // DELETE by another dropped grouping label, and with none.
      await must(agent, "DELETE", "/metrics/job/ci-build/invocation_id/other");
      expect(await scrapeJob(agent, "ci-build")).to.deep.equal([]);
      await must(agent, "POST", "/metrics/job/ci-build/instance/z", "# TYPE ci_steps_total counter\nci_steps_total 7\n");
      expect(await familiesOf(agent, "ci-build")).to.deep.equal([`ci_steps_total{${g}} 7`]);
      await must(agent, "DELETE", "/metrics/job/ci-build");
      expect(await scrapeJob(agent, "ci-build")).to.deep.equal([]);

      // "lambda" and "ci-builds" match no rule ("lambda-*" needs the dash): each instance its own group, PUT replaces, POST replaces families.
      for (const job of ["lambda", "ci-builds"]) {
        await must(agent, "PUT", `/metrics/job/${job}/instance/a`, "# TYPE p_total counter\np_total 2\n# TYPE p_gauge gauge\np_gauge 1\n");
        await must(agent, "PUT", `/metrics/job/${job}/instance/a`, "# TYPE p_total counter\np_total 3\n");
        await must(agent, "PUT", `/metrics/job/${job}/instance/b`, "# TYPE p_total counter\np_total 10\n");
        expect(await familiesOf(agent, job), job).to.deep.equal([`p_total{instance="a",job="${job}"} 3`, `p_total{instance="b",job="${job}"} 10`]);
        await must(agent, "POST", `/metrics/job/${job}/instance/a`, "# TYPE p_total counter\np_total 5\n# TYPE p_gauge gauge\np_gauge 8\n");
        await must(agent, "POST", `/metrics/job/${job}/instance/a`, "# TYPE p_total counter\np_total 6\n");
        expect(await familiesOf(agent, job), job).to.deep.equal([`p_gauge{instance="a",job="${job}"} 8`, `p_total{instance="a",job="${job}"} 6`, `p_total{instance="b",job="${job}"} 10`]);
        await must(agent, "DELETE", `/metrics/job/${job}/instance/a`);
        expect(await familiesOf(agent, job), job).to.deep.equal([`p_total{instance="b",job="${job}"} 10`]);
        expect((await apiGroupsOf(agent, job)).map((x) => [x.labels, x.aggregated])).to.deep.equal([[{ instance: "b", job }, undefined]]);
      }
    });

    it("refuses a type change, other bucket boundaries and timestamps (400 naming the family), and a body with one bad family merges nothing", async () => {
      const job = "lambda-refuse";
      const p = (inst: string) => `/metrics/job/${job}/instance/${inst}`;
      const g = `instance="",job="${job}"`;
      const hist = (bounds: string[]) => ["# TYPE r_latency histogram", ...bounds.map((b) => `r_latency_bucket{le="${b}"} 1`), "r_latency_sum 0.5", "r_latency_count 1", ""].join("\n");
      await must(agent, "POST", p("a"), `# TYPE r_total counter\nr_total 5\n# TYPE r_gauge gauge\nr_gauge 1\n${hist(["1", "+Inf"])}`);
      const stored = await familiesOf(agent, job);
      expect(stored).to.deep.equal([
        `r_gauge{${g}} 1`,
        `r_latency_bucket{${g},le="+Inf"} 1`,
        `r_latency_bucket{${g},le="1"} 1`,
        `r_latency_count{${g}} 1`,
        `r_latency_sum{${g}} 0.5`,
        `r_total{${g}} 5`,
      ]);
      const pushTimeBefore = await scrapedValue(agent, `push_time_seconds{${g}}`);
      expect(await scrapedValue(agent, `push_failure_time_seconds{${g}}`)).to.equal(0);
      // Once the sink has written the good push, it must get nothing more of this job.
      await poll("the sink has the first merge", async () => (agent.lines().filter((l) => l.includes(`job=${job}`)).length >= 5 ? true : undefined));
      await sleep(100);
      const sinkBefore = agent.lines().length;

      const failureTimes: number[] = [];
      const afterRefusal = async (what: string) => {
        expect(await familiesOf(agent, job), `${what}: the group is as it was`).to.deep.equal(stored);
        expect(await scrapedValue(agent, `push_time_seconds{${g}}`), `${what}: push_time_seconds`).to.equal(pushTimeBefore);
        const [group] = await apiGroupsOf(agent, job);
        expect(group.last_push_successful, what).to.equal(false);
        const failure = gaugeValue(group.push_failure_time_seconds);
        expect(failure, what).to.be.greaterThan(0);
        expect(failure * 1000, what).to.be.closeTo(Date.now(), 5000);
        expect(await scrapedValue(agent, `push_failure_time_seconds{${g}}`)).to.equal(failure);
        failureTimes.push(failure);
        await sleep(15); // the next refusal at a later millisecond
      };

      // Another type.
      expect(await refused(agent, "POST", p("b"), "# TYPE r_total gauge\nr_total 1\n")).to.equal('"r_total" is a COUNTER in the aggregated group and cannot be added to as a GAUGE');
      await afterRefusal("type change");
      // An untyped push of a stored counter is another type too.
      expect(await refused(agent, "PUT", p("b"), "r_total 1\n")).to.include('"r_total"');
      await afterRefusal("untyped over a counter");
      // Other bucket boundaries.
      const bounds = await refused(agent, "POST", p("b"), hist(["2", "+Inf"]));
      expect(bounds).to.include('"r_latency"');
      expect(bounds).to.include("bucket boundaries [2, +Inf] differ from the aggregated group's [1, +Inf]");
      await afterRefusal("bucket boundaries");
      // One bucket more.
      expect(await refused(agent, "POST", p("b"), hist(["1", "5", "+Inf"]))).to.include('"r_latency"');
      await afterRefusal("one bucket more");
      // Timestamps, with a rule that does not honor them.
      const ts = await refused(agent, "POST", p("b"), `# TYPE r_total counter\nr_total 1 ${Date.now() - 1000}\n`);
      expect(ts).to.include('"r_total" has timestamps');
      expect(ts).to.include("aggregate rule #1");
      await afterRefusal("timestamps");
      // One good family (and a new one) with one bad family, in either order: neither is merged.
      for (const body of [
        "# TYPE r_total counter\nr_total 1\n# TYPE r_new_total counter\nr_new_total 1\n# TYPE r_gauge counter\nr_gauge 1\n",
        `# TYPE r_new_total counter\nr_new_total 1\n${hist(["0.5", "+Inf"])}# TYPE r_total counter\nr_total 1\n`,
        `# TYPE r_total counter\nr_total 1\n# TYPE r_gauge gauge\nr_gauge 2 ${Date.now()}\n`,
      ]) {
        const reason = await refused(agent, "PUT", p("c"), body);
        expect(reason).to.match(/"r_(gauge|latency)"/);
        await afterRefusal(`good and bad family: ${JSON.stringify(body)}`);
      }
      // Each refusal set a new failure time.
      for (let i = 1; i < failureTimes.length; i++) expect(failureTimes[i]).to.be.greaterThan(failureTimes[i - 1]);
      // The sinks got nothing of any refused push.
      await sleep(100);
      expect(agent.lines().slice(sinkBefore).filter((l) => l.includes(`job=${job}`))).to.deep.equal([]);

      // A good push afterwards merges and clears last_push_successful; the failure time stays.
      await must(agent, "POST", p("d"), "# TYPE r_total counter\nr_total 1\n");
      expect(await scrapedValue(agent, `r_total{${g}}`)).to.equal(6);
      const [group] = await apiGroupsOf(agent, job);
      expect(group.last_push_successful).to.equal(true);
      expect(gaugeValue(group.push_failure_time_seconds)).to.equal(failureTimes[failureTimes.length - 1]);
      expect(group).not.to.have.property("r_new_total");
    });

    it("with honor_timestamps = true accepts pushed timestamps and keeps the latest", async () => {
      const job = "hts-a";
      const t1 = Date.now() - 30_000;
      const t0 = t1 - 10_000;
      const t2 = t1 + 5_000;
      const g = `instance="",job="${job}"`;
      await must(agent, "POST", `/metrics/job/${job}/instance/a`, `# TYPE t_total counter\nt_total 1 ${t1}\n`);
      // An older timestamp: added, the latest time kept.
      await must(agent, "POST", `/metrics/job/${job}/instance/b`, `# TYPE t_total counter\nt_total 2 ${t0}\n`);
      expect(await familiesOf(agent, job)).to.deep.equal([`t_total{${g}} 3 ${t1}`]);
      await must(agent, "POST", `/metrics/job/${job}/instance/c`, `# TYPE t_total counter\nt_total 4 ${t2}\n`);
      expect(await familiesOf(agent, job)).to.deep.equal([`t_total{${g}} 7 ${t2}`]);
      // A push without timestamps adds and keeps the stored time.
      await must(agent, "POST", `/metrics/job/${job}/instance/d`, `# TYPE t_total counter\nt_total 1\n`);
      expect(await familiesOf(agent, job)).to.deep.equal([`t_total{${g}} 8 ${t2}`]);
      const [group] = await apiGroupsOf(agent, job);
      expect(group.aggregated?.honor_timestamps).to.equal(true);
    });

    it("marks aggregated groups in the API, on the status page and in the scrape, and counts merges by rule", async () => {
      const merges = async (rule: string) => (await scrapedValue(agent, `pushkit_pushgateway_aggregate_merges_total{rule="${rule}"}`)) ?? -1;
      const before = await Promise.all(["1", "2", "3", "4", "5"].map(merges));
      expect(before.every((n) => n >= 0), `every rule's counter is served: ${before}`).to.equal(true);
      await must(agent, "POST", "/metrics/job/gsum-mark/instance/a", "# TYPE m_total counter\nm_total 1\n");
      await must(agent, "PUT", "/metrics/job/gsum-mark/instance/b", "# TYPE m_total counter\nm_total 1\n");
      await refused(agent, "PUT", "/metrics/job/gsum-mark/instance/c", "# TYPE m_total gauge\nm_total 1\n");
      await must(agent, "POST", "/metrics/job/lambda-mark/instance/a", "# TYPE m_total counter\nm_total 1\n");
      await must(agent, "PUT", "/metrics/job/plain-mark/instance/a", "# TYPE m_total counter\nm_total 1\n");
      const after = await Promise.all(["1", "2", "3", "4", "5"].map(merges));
      expect(after.map((n, i) => n - before[i])).to.deep.equal([1, 2, 0, 0, 0]);

      const groups = await apiGroups(agent);
      const byJob = (job: string) => groups.find((x) => x.labels.job === job)!;
      expect(byJob("lambda-mark").aggregated).to.deep.equal({ rule: "1", jobs: ["lambda-*", "ci-build"], drop_labels: ["instance", "invocation_id"], gauges: "last", honor_timestamps: false });
      expect(byJob("gsum-mark").aggregated).to.deep.equal({ rule: "2", jobs: ["gsum-*"], drop_labels: ["instance"], gauges: "sum", honor_timestamps: false });
      expect(byJob("plain-mark")).not.to.have.property("aggregated");
      expect(byJob("plain-mark").labels).to.deep.equal({ instance: "a", job: "plain-mark" });

      const page = await (await fetch(`${agent.url}/`)).text();
      const rows = page.split(/<tr[\s>]/);
      const rowOf = (job: string) => {
        const found = rows.filter((r) => r.includes(`job="${job}"`) || r.includes(`job=&quot;${job}&quot;`));
        expect(found, `one row for ${job}`).to.have.length(1);
        return found[0];
      };
      expect(rowOf("lambda-mark")).to.match(/<span class="aggregated"[^>]*>aggregated by rule #1<\/span>/);
      expect(rowOf("gsum-mark")).to.match(/<span class="aggregated"[^>]*>aggregated by rule #2<\/span>/);
      expect(rowOf("plain-mark")).not.to.include("aggregated");

      const all = await scrapeAll(agent);
      expect(all).to.include('pushkit_pushgateway_aggregated_group{aggregate_rule="1",instance="",job="lambda-mark"} 1');
      expect(all).to.include('pushkit_pushgateway_aggregated_group{aggregate_rule="2",instance="",job="gsum-mark"} 1');
      expect(all).not.to.match(/pushkit_pushgateway_aggregated_group\{[^}]*job="plain-mark"/);
    });
  });

  // -------------------------------------------------------------------------------------------
  // Order and concurrency

  describe("merges into one group in arrival order", () => {
    let agent: RunningTestAgent;
    before(async () => {
      agent = await start({ conf: { "inputs/pushgateway.conf": MAIN_RULES } });
    });
    after(async () => {
      if (agent) await stopAgent(agent);
    });

    it("40 parallel clients x 25 pushes: the counter and histogram count are exactly 1000, the sink gets 1..1000 in order", async () => {
      const job = "lambda-conc";
      const body = [
        "# TYPE conc_requests_total counter",
        "conc_requests_total 1",
        "# TYPE conc_latency_seconds histogram",
        'conc_latency_seconds_bucket{le="0.5"} 1',
        'conc_latency_seconds_bucket{le="+Inf"} 1',
        "conc_latency_seconds_sum 0.25",
        "conc_latency_seconds_count 1",
        "",
      ].join("\n");
      const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 40 });
      const url = new URL(agent.url);
      const post = (instance: string) =>
        new Promise<number>((resolve, reject) => {
          const req = http.request({ host: url.hostname, port: url.port, method: "POST", path: `/metrics/job/${job}/instance/${instance}`, agent: keepAlive }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          });
          req.on("error", reject);
          req.end(body);
        });
      const statuses: number[] = [];
      try {
        await Promise.all(
          Array.from({ length: 40 }, async (_, c) => {
            for (let n = 0; n < 25; n++) statuses.push(await post(`client-${c}`));
          }),
        );
      } finally {
        keepAlive.destroy();
      }
      expect(statuses.length).to.equal(1000);
      expect(statuses.filter((s) => s !== 200)).to.deep.equal([]);
      const g = `instance="",job="${job}"`;
      expect(await familiesOf(agent, job)).to.deep.equal([
        `conc_latency_seconds_bucket{${g},le="+Inf"} 1000`,
        `conc_latency_seconds_bucket{${g},le="0.5"} 1000`,
        `conc_latency_seconds_count{${g}} 1000`,
        `conc_latency_seconds_sum{${g}} 250`,
        `conc_requests_total{${g}} 1000`,
      ]);

      // The sink: one point per push, the running sum 1..1000 in the order written.
      const series = await poll(
        "the sink has 1000 points of the counter",
        async () => {
          const s = sinkSeries(agent, "conc", `job=${job}`, "requests_total");
          return s.length >= 1000 ? s : undefined;
        },
        10_000,
      );
      expect(series.map((p) => p.value)).to.deep.equal(Array.from({ length: 1000 }, (_, i) => i + 1));
      expect(sinkSeries(agent, "conc", `job=${job}`, "latency_seconds_count").map((p) => p.value)).to.deep.equal(Array.from({ length: 1000 }, (_, i) => i + 1));
      // A monotonic series in time too: no later value at an earlier time.
      const backwards = series.filter((p, i) => i > 0 && p.timeNs < series[i - 1].timeNs).map((p) => `${p.value} at ${p.timeNs}`);
      expect(backwards, "points whose time is before the previous point's").to.deep.equal([]);
      expect(await scrapedValue(agent, 'pushkit_pushgateway_aggregate_merges_total{rule="1"}')).to.equal(1000);
    });

    it("merges in arrival order behind a slow upload, and a merge queued behind it gets a time no earlier than the merge before it (the sink's counter stays monotonic in time)", async () => {
      const job = "lambda-order";
      const url = new URL(agent.url);
      // The gauge (gauges = "last") tells which merge came last: A's 1, then B's 2.
      const bodyOf = (gauge: number) => `# TYPE order_total counter\norder_total 1\n# TYPE order_gauge gauge\norder_gauge ${gauge}\n`;
      const body = bodyOf(1);
      // A: its headers now, its body 400 ms later. B: whole, 100 ms after A's headers; it is merged after A.
      const a = http.request({ host: url.hostname, port: url.port, method: "POST", path: `/metrics/job/${job}/instance/a`, headers: { "Content-Length": String(body.length) } });
      const aStatus = new Promise<number>((resolve, reject) => {
        a.on("response", (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        a.on("error", reject);
      });
      a.flushHeaders();
      await sleep(100);
      const bStatus = send(agent, "POST", `/metrics/job/${job}/instance/b`, bodyOf(2)).then((r) => r.status);
      await sleep(400);
      a.end(body);
      expect(await aStatus).to.equal(200);
      expect(await bStatus).to.equal(200);
      expect(await familiesOf(agent, job)).to.deep.equal([`order_gauge{instance="",job="${job}"} 2`, `order_total{instance="",job="${job}"} 2`]);
      const series = await poll("the sink has both merges", async () => {
        const s = sinkSeries(agent, "order", `job=${job}`, "total");
        return s.length >= 2 ? s : undefined;
      });
      expect(series.map((p) => p.value)).to.deep.equal([1, 2]);
      expect(sinkSeries(agent, "order", `job=${job}`, "gauge").map((p) => p.value)).to.deep.equal([1, 2]);
      expect(series[1].timeNs >= series[0].timeNs, `value 1 at ${series[0].timeNs} ns, value 2 at ${series[1].timeNs} ns (${Number(series[0].timeNs - series[1].timeNs) / 1e6} ms earlier)`).to.equal(true);
    });
  });

  // -------------------------------------------------------------------------------------------
  // Persistence and group_ttl

  describe("persistence_file and group_ttl", () => {
    afterEach(stopAll);

    it("keeps the sums through a SIGTERM restart and through kill -9 after an interval write", async () => {
      const dir = tempDir("pushkit-aggregate-persist-");
      const file = path.join(dir, "groups.db");
      const conf = {
        "inputs/pushgateway.conf": `[[inputs.pushgateway]]\npersistence_file = ${JSON.stringify(file)}\npersistence_interval = "1s"\n  [[inputs.pushgateway.aggregate]]\n    jobs = ["fn-*"]\n    drop_labels = ["instance"]\n    gauges = "sum"\n`,
      };
      const body = (n: number) =>
        [
          "# TYPE p_total counter",
          `p_total{path="/a"} ${n}`,
          "# TYPE p_seconds histogram",
          `p_seconds_bucket{le="1"} ${n}`,
          `p_seconds_bucket{le="+Inf"} ${2 * n}`,
          `p_seconds_sum ${n}`,
          `p_seconds_count ${2 * n}`,
          "# TYPE p_size summary",
          `p_size{quantile="0.5"} ${n}`,
          `p_size_sum ${n}`,
          `p_size_count ${n}`,
          "# TYPE p_gauge gauge",
          `p_gauge ${n}`,
          "",
        ].join("\n");
      const g = 'instance="",job="fn-persist"';
      const expected = (s: number, last: number) =>
        [
          `p_gauge{${g}} ${s}`,
          `p_seconds_bucket{${g},le="+Inf"} ${2 * s}`,
          `p_seconds_bucket{${g},le="1"} ${s}`,
          `p_seconds_count{${g}} ${2 * s}`,
          `p_seconds_sum{${g}} ${s}`,
          `p_size_count{${g}} ${s}`,
          `p_size_sum{${g}} ${s}`,
          `p_size{${g},quantile="0.5"} ${last}`,
          `p_total{${g},path="/a"} ${s}`,
        ];

      const first = await start({ conf });
      await must(first, "POST", "/metrics/job/fn-persist/instance/a", body(1));
      await must(first, "PUT", "/metrics/job/fn-persist/instance/b", body(2));
      expect(await familiesOf(first, "fn-persist")).to.deep.equal(expected(3, 2));
      expect(await stopAgent(first)).to.equal(0);

      const second = await start({ conf });
      expect(await familiesOf(second, "fn-persist"), "as before the restart").to.deep.equal(expected(3, 2));
      expect((await apiGroupsOf(second, "fn-persist"))[0].aggregated?.rule).to.equal("1");
      await must(second, "POST", "/metrics/job/fn-persist/instance/c", body(4));
      expect(await familiesOf(second, "fn-persist")).to.deep.equal(expected(7, 4));
      // The sink of the new agent continues the series.
      const sent = await poll("the second agent's sink has the merge", async () => {
        const s = sinkSeries(second, "p", "job=fn-persist,path=/a", "total");
        return s.length > 0 ? s : undefined;
      });
      expect(sent.map((p) => p.value)).to.deep.equal([7]);
      await must(second, "POST", "/metrics/job/fn-persist/instance/d", body(5));
      expect(await familiesOf(second, "fn-persist")).to.deep.equal(expected(12, 5));
      // After the interval write, kill -9.
      await sleep(2500);
      await stopAgent(second, "SIGKILL");

      const third = await start({ conf });
      expect(await familiesOf(third, "fn-persist"), "as written before kill -9").to.deep.equal(expected(12, 5));
      await must(third, "POST", "/metrics/job/fn-persist/instance/a", body(1));
      expect(await familiesOf(third, "fn-persist")).to.deep.equal(expected(13, 1));
      // Still refused as before the restarts.
      expect(await refused(third, "POST", "/metrics/job/fn-persist/instance/a", "# TYPE p_seconds histogram\np_seconds_bucket{le=\"2\"} 1\np_seconds_bucket{le=\"+Inf\"} 1\np_seconds_sum 1\np_seconds_count 1\n")).to.include('"p_seconds"');
    });

    it("group_ttl expires an aggregated group not merged into for that long; merges from any instance keep it, refused pushes do not", async () => {
      const agent = await start({
        conf: { "inputs/pushgateway.conf": `[[inputs.pushgateway]]\ngroup_ttl = "2s"\n  [[inputs.pushgateway.aggregate]]\n    jobs = ["fn-*"]\n    drop_labels = ["instance"]\n` },
      });
      const ids = async () => (await apiGroups(agent)).map((x) => JSON.stringify(x.labels)).sort();
      // fn-kept: merged every 400 ms from ever new instances, for 4 s; fn-once: merged once, then only refused.
      const onceAt = Date.now();
      await must(agent, "POST", "/metrics/job/fn-once/instance/a", "# TYPE o_total counter\no_total 1\n");
      let n = 0;
      let keptSent = 0;
      const keptMissing: string[][] = [];
      const refusals: number[] = [];
      const goneAt = await poll(
        "fn-once expired",
        async () => {
          keptSent = Date.now();
          await must(agent, "POST", `/metrics/job/fn-kept/instance/i${++n}`, "# TYPE k_total counter\nk_total 1\n");
          refusals.push((await send(agent, "POST", "/metrics/job/fn-once/instance/b", `# TYPE o_total counter\no_total 1 ${Date.now()}\n`)).status);
          const now = await ids();
          if (!now.includes('{"job":"fn-kept"}')) keptMissing.push(now);
          return now.includes('{"job":"fn-once"}') ? undefined : Date.now();
        },
        10_000,
        400,
      );
      expect(goneAt - onceAt).to.be.at.least(2000);
      expect(keptMissing).to.deep.equal([]);
      expect(new Set(refusals)).to.deep.equal(new Set([400]));
      expect(await scrapeJob(agent, "fn-once")).to.deep.equal([]);
      expect(await scrapedValue(agent, "pushkit_pushgateway_groups_expired_total")).to.equal(1);
      // fn-kept has every merge; fn-once starts from nothing again.
      expect(await scrapedValue(agent, 'k_total{instance="",job="fn-kept"}')).to.equal(n);
      await must(agent, "POST", "/metrics/job/fn-once/instance/c", "# TYPE o_total counter\no_total 1\n");
      expect(await familiesOf(agent, "fn-once")).to.deep.equal(['o_total{instance="",job="fn-once"} 1']);
      // And fn-kept expires once nobody merges into it.
      const keptGoneAt = await poll("fn-kept expired", async () => ((await ids()).includes('{"job":"fn-kept"}') ? undefined : Date.now()), 8000, 200);
      expect(keptGoneAt - keptSent, "fn-kept removed no earlier than group_ttl after its last merge").to.be.at.least(2000);
    });
  });

  // -------------------------------------------------------------------------------------------
  // Configuration

  describe("configuration", () => {
    afterEach(stopAll);

    it("takes rules from ENV_INPUT_PUSHGATEWAY_AGGREGATE and from ENV_INPUTS", async () => {
      const [fromVar, fromInputs] = await Promise.all([
        start({
          conf: { "inputs/pushgateway.conf": "[[inputs.pushgateway]]\n" },
          env: { ENV_INPUT_PUSHGATEWAY_AGGREGATE: '[{ jobs = ["fn-*"], drop_labels = ["instance"], gauges = "sum" }, { jobs = ["other-*"], gauges = "max" }]' },
        }),
        start({
          env: { ENV_INPUTS: '[[inputs.pushgateway]]\n[[inputs.pushgateway.aggregate]]\njobs = ["env-*"]\ndrop_labels = ["instance", "run"]\ngauges = "max"\n' },
        }),
      ]);
      for (const i of [1, 2, 3]) {
        await must(fromVar, "PUT", `/metrics/job/fn-env/instance/i${i}`, gaugeBody(i) + `# TYPE e_total counter\ne_total ${i}\n`);
        await must(fromVar, "PUT", `/metrics/job/plain/instance/i${i}`, `# TYPE e_total counter\ne_total ${i}\n`);
        await must(fromInputs, "PUT", `/metrics/job/env-x/instance/i${i}/run/r${i}`, gaugeBody(i) + `# TYPE e_total counter\ne_total ${i}\n`);
      }
      expect(await familiesOf(fromVar, "fn-env")).to.deep.equal(['e_total{instance="",job="fn-env"} 6', 'fn_temperature{instance="",job="fn-env"} 16', 'fn_untyped{instance="",job="fn-env"} 14']);
      expect(await familiesOf(fromVar, "plain")).to.deep.equal(['e_total{instance="i1",job="plain"} 1', 'e_total{instance="i2",job="plain"} 2', 'e_total{instance="i3",job="plain"} 3']);
      expect((await apiGroupsOf(fromVar, "fn-env"))[0].aggregated).to.deep.equal({ rule: "1", jobs: ["fn-*"], drop_labels: ["instance"], gauges: "sum", honor_timestamps: false });
      expect(await familiesOf(fromInputs, "env-x")).to.deep.equal(['e_total{instance="",job="env-x"} 6', 'fn_temperature{instance="",job="env-x"} 9', 'fn_untyped{instance="",job="env-x"} 7']);
      expect((await apiGroupsOf(fromInputs, "env-x")).map((x) => [x.labels, x.aggregated])).to.deep.equal([
        [{ job: "env-x" }, { rule: "1", jobs: ["env-*"], drop_labels: ["instance", "run"], gauges: "max", honor_timestamps: false }],
      ]);
    });

    it("a rule with an unknown key, a bad glob, no jobs or the job in drop_labels stops the start (exit 2) naming the rule", async () => {
      const dir = tempDir("pushkit-aggregate-config-");
      const agentConfText = agentConf(`[[sinks.file]]\npath = ${JSON.stringify(path.join(dir, "points.lp"))}\n`);
      /** Runs `pushkit run` on a conf.d of its own; an agent that starts after all is killed after 15 s. */
      const run = (name: string, pushgatewayConf: string | undefined, env: Record<string, string> = {}) =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const confDir = path.join(dir, name);
          mkdirSync(confDir);
          writeFileSync(path.join(confDir, "agent.conf"), agentConfText);
          if (pushgatewayConf !== undefined) writeFileSync(path.join(confDir, "pushgateway.conf"), pushgatewayConf);
          const child = spawn(process.execPath, ["--import", "tsx", "core/cli.ts", "run", "--conf-dir", confDir], {
            cwd: repoRoot,
            env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ENV_DATA_DIR: path.join(dir, `${name}-data`), ...env },
            stdio: ["ignore", "ignore", "pipe"],
          });
          let stderr = "";
          child.stderr!.on("data", (d) => (stderr += d));
          const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
          child.on("exit", (code) => {
            clearTimeout(timer);
            resolve({ code, stderr });
          });
        });
      const good = '[[inputs.pushgateway]]\n  [[inputs.pushgateway.aggregate]]\n    jobs = ["ok-*"]\n  [[inputs.pushgateway.aggregate]]\n';
      const cases: { name: string; conf?: string; env?: Record<string, string>; message: RegExp }[] = [
        { name: "unknown-key", conf: `${good}    job = ["fn-*"]\n`, message: /aggregate rule #2: unknown key "job"/ },
        { name: "bad-glob", conf: `${good}    jobs = ["a[b"]\n`, message: /aggregate rule #2 key "jobs": glob "a\[b" has a "\[" without its "\]"/ },
        { name: "empty-jobs", conf: `${good}    jobs = []\n`, message: /aggregate rule #2 key "jobs": needs at least one glob/ },
        { name: "drop-job", conf: `${good}    jobs = ["fn-*"]\n    drop_labels = ["instance", "job"]\n`, message: /aggregate rule #2 key "drop_labels": the job cannot be dropped/ },
        { name: "env-unknown-key", conf: "[[inputs.pushgateway]]\n", env: { ENV_INPUT_PUSHGATEWAY_AGGREGATE: '[{ job = ["fn-*"] }]' }, message: /^pushkit: ENV_INPUT_PUSHGATEWAY_AGGREGATE: aggregate rule #1: unknown key "job"/ },
        { name: "env-drop-job", conf: "[[inputs.pushgateway]]\n", env: { ENV_INPUT_PUSHGATEWAY_AGGREGATE: '[{ jobs = ["fn-*"] }, { jobs = ["x"], drop_labels = ["job"] }]' }, message: /^pushkit: ENV_INPUT_PUSHGATEWAY_AGGREGATE: aggregate rule #2 key "drop_labels": the job cannot be dropped/ },
        { name: "env-inputs-bad-glob", env: { ENV_INPUTS: '[[inputs.pushgateway]]\n[[inputs.pushgateway.aggregate]]\njobs = ["x[y"]\n' }, message: /^pushkit: ENV_INPUTS.*aggregate rule #1 key "jobs": glob "x\[y"/ },
      ];
      const results = await Promise.all(cases.map((c) => run(c.name, c.conf, c.env)));
      cases.forEach((c, i) => {
        const r = results[i];
        expect(r.code, `${c.name}: ${r.stderr}`).to.equal(2);
        expect(r.stderr, c.name).to.match(c.message);
        expect(r.stderr, c.name).not.to.include("pushkit started");
      });
      expect(results[0].stderr).to.include("pushgateway.conf");
    });
  });

  // -------------------------------------------------------------------------------------------
  // Real backends

  describe("Prometheus 2.42 through prometheus_remote_write", () => {
    let prom: RunningPrometheus;
    before(async () => {
      prom = await startPrometheus();
    });
    after(async () => {
      await stopAll();
      await prom?.stop();
    });

    /** Polls an instant query until it gives one series with this value (or fails with what it last saw). */
    async function waitForValue(expr: string, value: string, timeoutMs = 10_000): Promise<VectorSample[]> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const got = await prom.query(expr);
        if (got.length === 1 && got[0].value[1] === value) return got;
        if (Date.now() > until) throw new Error(`${expr}: expected one series of ${value}, got ${JSON.stringify(got)}\nprometheus:\n${prom.output().slice(-3000)}`);
        await sleep(100);
      }
    }

    it("10 pushes of 3 from 10 instances: one series in Prometheus rising 3, 6, ..., 30", async () => {
      const agent = await start({
        conf: {
          "agent.conf": agentConf(`[[sinks.prometheus_remote_write]]\nurl = ${JSON.stringify(prom.writeUrl)}\nflush_interval = "50ms"\n`),
          "inputs/pushgateway.conf": '[[inputs.pushgateway]]\n  [[inputs.pushgateway.aggregate]]\n    jobs = ["lambda-*"]\n    drop_labels = ["instance", "invocation_id"]\n',
        },
      });
      const first = Date.now();
      for (let i = 1; i <= 10; i++) {
        await must(agent, "POST", `/metrics/job/lambda-prom/instance/i${i}`, `# TYPE fn_invocations_total counter\nfn_invocations_total{invocation_id="x${i}"} 3\n`);
        await sleep(20); // each merge at a millisecond of its own, and in a batch of its own
      }
      const [last] = await waitForValue("fn_invocations_total", "30");
      expect(last.metric).to.deep.equal({ __name__: "fn_invocations_total", job: "lambda-prom" });
      const range = `${Math.ceil((Date.now() - first) / 1000) + 5}s`;
      const at = Date.now();
      const one = async (expr: string) => {
        const r = await prom.query(expr, at);
        expect(r, expr).to.have.length(1);
        return r[0].value[1];
      };
      expect(await one(`count_over_time(fn_invocations_total[${range}])`)).to.equal("10");
      expect(await one(`min_over_time(fn_invocations_total[${range}])`)).to.equal("3");
      expect(await one(`max_over_time(fn_invocations_total[${range}])`)).to.equal("30");
      expect(await one(`resets(fn_invocations_total[${range}])`)).to.equal("0");
      // Exact: the last sample minus the first is what was pushed after the first push.
      expect(await one(`max_over_time(fn_invocations_total[${range}]) - min_over_time(fn_invocations_total[${range}])`)).to.equal("27");
      expect(await prom.query("count(fn_invocations_total)", at)).to.have.length(1);
      expect((await prom.query("count(fn_invocations_total)", at))[0].value[1]).to.equal("1");
      expect(await prom.query('{__name__=~"fn_invocations_total", instance=~".+"}', at)).to.deep.equal([]);
      expect(agent.stderr()).not.to.include("sink write failed");
    });

    /** An agent writing to the Prometheus, rule #1 on lambda-* dropping instance; `sink` adds keys to its table. */
    function promAgent(sink = ""): Promise<RunningTestAgent> {
      return start({
        conf: {
          "agent.conf": agentConf(`[[sinks.prometheus_remote_write]]\nurl = ${JSON.stringify(prom.writeUrl)}\nflush_interval = "50ms"\n${sink}`),
          "inputs/pushgateway.conf": '[[inputs.pushgateway]]\n  [[inputs.pushgateway.aggregate]]\n    jobs = ["lambda-*"]\n    drop_labels = ["instance"]\n',
        },
      });
    }

    /** What Prometheus holds of a counter: its last value, and its resets, over the whole test. */
    async function promCounter(name: string, since: number): Promise<{ last: string[]; resets: string[] }> {
      const at = Date.now();
      const range = `${Math.ceil((at - since) / 1000) + 5}s`;
      return {
        last: (await prom.query(`last_over_time(${name}[${range}])`, at)).map((r) => r.value[1]),
        resets: (await prom.query(`resets(${name}[${range}])`, at)).map((r) => r.value[1]),
      };
    }

    it("a merge queued behind a slow upload: Prometheus ends at the sum, without resets", async () => {
      const agent = await promAgent();
      const first = Date.now();
      const body = "# TYPE slow_total counter\nslow_total 1\n";
      // A slow upload (headers now, body 300 ms later), with 10 pushes queued behind it in the group's line.
      const url = new URL(agent.url);
      const a = http.request({ host: url.hostname, port: url.port, method: "POST", path: "/metrics/job/lambda-slow/instance/slow", headers: { "Content-Length": String(body.length) } });
      const aStatus = new Promise<number>((resolve, reject) => {
        a.on("response", (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        a.on("error", reject);
      });
      a.flushHeaders();
      await sleep(100);
      const queued = Promise.all(Array.from({ length: 10 }, (_, i) => send(agent, "POST", `/metrics/job/lambda-slow/instance/q${i}`, body)));
      await sleep(300);
      a.end(body);
      expect(await aStatus).to.equal(200);
      expect((await queued).map((r) => r.status)).to.deep.equal(Array(10).fill(200));
      expect(await scrapedValue(agent, 'slow_total{instance="",job="lambda-slow"}')).to.equal(11);
      await sleep(1000);
      const refusedBatches = agent.stderr().split("\n").filter((l) => l.includes("backend refused"));
      expect(await promCounter("slow_total", first), `Prometheus's last value and resets; the agent logged:\n${refusedBatches.join("\n")}`).to.deep.equal({ last: ["11"], resets: ["0"] });
      expect(refusedBatches).to.deep.equal([]);
    });

    it("bursts of parallel pushes, each point written on its own (batch_points = 1): Prometheus ends at the sum, no write refused", async () => {
      const agent = await promAgent("batch_points = 1\n");
      const first = Date.now();
      const body = "# TYPE burst_total counter\nburst_total 1\n";
      for (let round = 0; round < 5; round++) {
        const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => send(agent, "POST", `/metrics/job/lambda-burst/instance/r${round}-${i}`, body)));
        expect(answers.map((r) => r.status)).to.deep.equal(Array(10).fill(200));
        await sleep(50);
      }
      expect(await scrapedValue(agent, 'burst_total{instance="",job="lambda-burst"}')).to.equal(50);
      await sleep(1000);
      const refusedBatches = agent.stderr().split("\n").filter((l) => l.includes("backend refused"));
      expect(await promCounter("burst_total", first), `Prometheus's last value and resets; the agent logged ${refusedBatches.length} refused writes:\n${refusedBatches.slice(0, 3).join("\n")}`).to.deep.equal({ last: ["50"], resets: ["0"] });
      expect(refusedBatches.length, refusedBatches.slice(0, 3).join("\n")).to.equal(0);
    });
  });

  describe("InfluxDB 1.6 through the influxdb sink", () => {
    let influx: RunningBackend;
    before(async () => {
      influx = await startInfluxDB();
      const res = await fetch(`${influx.url}/query`, { method: "POST", body: new URLSearchParams({ q: "CREATE DATABASE pushkit" }) });
      expect(res.status).to.equal(200);
    });
    after(async () => {
      await stopAll();
      await influx?.stop();
    });

    it("stores the running sums 3, 6, ..., 30 as one series", async () => {
      const agent = await start({
        conf: {
          "agent.conf": agentConf(`[[sinks.influxdb]]\nurl = "${influx.url}/write?db=pushkit&precision=ns"\nflush_interval = "50ms"\n`),
          "inputs/pushgateway.conf": '[[inputs.pushgateway]]\n  [[inputs.pushgateway.aggregate]]\n    jobs = ["lambda-*"]\n    drop_labels = ["instance", "invocation_id"]\n',
        },
      });
      for (let i = 1; i <= 10; i++) {
        await must(agent, "POST", `/metrics/job/lambda-influx/instance/i${i}/invocation_id/x${i}`, "# TYPE fn_invocations_total counter\nfn_invocations_total 3\n");
        await sleep(5); // a millisecond of its own: InfluxDB keeps one point per series and time
      }
      const query = async () => {
        const form = new URLSearchParams({ q: "SELECT * FROM fn GROUP BY *", db: "pushkit", epoch: "ns" });
        const res = await fetch(`${influx.url}/query`, { method: "POST", body: form });
        const text = await res.text();
        expect(res.status, text).to.equal(200);
        return (JSON.parse(text.replace(/\[(-?\d{16,}),/g, '["$1",')) as { results: { series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[] }[] }).results[0].series ?? [];
      };
      const series = await poll("InfluxDB has 10 points", async () => {
        const s = await query();
        return s.length > 0 && s.reduce((n, x) => n + x.values.length, 0) >= 10 ? s : undefined;
      });
      expect(series).to.have.length(1);
      expect(series[0].name).to.equal("fn");
      expect(Object.fromEntries(Object.entries(series[0].tags ?? {}).filter(([, v]) => v !== ""))).to.deep.equal({ job: "lambda-influx" });
      const col = series[0].columns.indexOf("invocations_total");
      expect(col).to.be.greaterThan(0);
      const values = series[0].values;
      expect(values.map((v) => v[col])).to.deep.equal([3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
      const times = values.map((v) => BigInt(v[0] as string));
      for (let i = 1; i < times.length; i++) expect(times[i] > times[i - 1]).to.equal(true);
      expect(agent.stderr()).not.to.include("sink write failed");
    });
  });
});
