// Real client libraries and curl push to the real agent (a child process), and every push must
// give exactly the expected points. Each client pushes through a pass-through recorder
// (test/clients/recorder.ts), so that every test also asserts the exact HTTP status and what the
// client put on the wire (method, path, Content-Type, Content-Encoding, chunked or not).
//
// The peers are Debian packages installed by scripts/setup-peers.sh (.ci/run calls it):
// Go with client_golang 1.14 (GOPATH mode, offline), /usr/bin/python3 with prometheus_client
// 0.16, and curl; prom-client 15 comes from npm. A missing peer fails these tests: it never
// skips them.
//
// The expected points follow the conversion rules (plugins/inputs/pushgateway/README.md): the
// measurement is the metric name up to its first "_" and the field the rest; a histogram gives
// `<f>_bucket` points tagged `le` plus one `<f>_count,<f>_sum` point; a summary gives `<f>`
// points tagged `quantile` plus `<f>_count,<f>_sum`; `le`/`quantile` are spelled as Go's %g
// does; the grouping key becomes tags (empty values left out). Samples carry no timestamps, so
// every point of a push has the push's receive time. The same data pushed in another format
// (protobuf vs text, OpenMetrics vs text) must give the same points: each expectation is
// computed once and reused for every format.
import { expect } from "chai";
import { execFile, type ExecFileOptions } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { Counter, Gauge, Histogram, Pushgateway, Registry, Summary } from "prom-client";
import { repoRoot, startTestAgent, withoutTime, type RunningTestAgent } from "../support/agent.ts";
import { startRecorder, type Exchange, type Recorder } from "../clients/recorder.ts";

const CLIENTS_DIR = path.join(repoRoot, "test", "clients");
const PYTHON = "/usr/bin/python3";
const PROTO_CT = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
const TEXT_CT = "text/plain; version=0.0.4; charset=utf-8";
/** prom-client 15's typings declare no Registry constructor; the runtime takes the content type. */
const OpenMetricsRegistry = Registry as unknown as new (contentType: string) => Registry;

// ---------------------------------------------------------------------------------------------
// Expected points

type Tags = Record<string, string>;

function escapeTag(s: string): string {
  return s.replace(/[,= ]/g, (c) => `\\${c}`);
}

/** One line-protocol line without its timestamp: tags sorted by key, empty values left out. */
function point(measurement: string, tags: Tags, fields: string): string {
  const t = Object.keys(tags)
    .filter((k) => tags[k] !== "")
    .sort()
    .map((k) => `,${escapeTag(k)}=${escapeTag(tags[k])}`)
    .join("");
  return `${measurement}${t} ${fields}`;
}

/**
 * The histogram every client observes: buckets 1e-05, 0.005, 0.1, 1, 2.5, 100000, 1e+06 and the
 * values 2^-8, 0.0625, 0.5, 2, 64 (exact in binary, so the sum is exact too).
 */
function latencyPoints(m: string, g: Tags): string[] {
  const buckets: [string, number][] = [
    ["1e-05", 0],
    ["0.005", 1],
    ["0.1", 2],
    ["1", 3],
    ["2.5", 4],
    ["100000", 5],
    ["1e+06", 5],
    ["+Inf", 5],
  ];
  return [
    ...buckets.map(([le, n]) => point(m, { ...g, le }, `latency_seconds_bucket=${n}`)),
    point(m, g, "latency_seconds_count=5,latency_seconds_sum=66.56640625"),
  ];
}

function temperaturePoints(m: string, g: Tags): string[] {
  return [point(m, { ...g, room: "a" }, "temperature_celsius=21.5"), point(m, { ...g, room: "b" }, "temperature_celsius=-3.25")];
}

/** What test/clients/go-pusher pushes (the summary's quantiles as client_golang computes them). */
function goPoints(g: Tags): string[] {
  return [
    point("gopush", g, "requests_total=7"),
    ...temperaturePoints("gopush", g),
    ...latencyPoints("gopush", g),
    point("gopush", { ...g, quantile: "0.5" }, "duration_seconds=2"),
    point("gopush", { ...g, quantile: "0.9" }, "duration_seconds=4"),
    point("gopush", { ...g, quantile: "0.99" }, "duration_seconds=4"),
    point("gopush", g, "duration_seconds_count=4,duration_seconds_sum=10"),
  ].sort();
}

/**
 * What test/clients/python_pusher.py pushes. Its summary has no quantiles (the Python client
 * computes none). In the text format the client adds a `<name>_created` gauge per counter,
 * histogram and summary, whose value is the creation time in seconds: those points are matched
 * as `<field>_created=<created>` (see normalizeCreated). In OpenMetrics the `_created` samples
 * belong to their family and are dropped.
 */
function pythonPoints(g: Tags, created: boolean): string[] {
  return [
    point("pypush", g, "requests_total=7"),
    ...temperaturePoints("pypush", g),
    ...latencyPoints("pypush", g),
    point("pypush", g, "duration_seconds_count=4,duration_seconds_sum=10"),
    ...(created
      ? [point("pypush", g, "requests_created=<created>"), point("pypush", g, "latency_seconds_created=<created>"), point("pypush", g, "duration_seconds_created=<created>")]
      : []),
  ].sort();
}

/** What nodeRegistry() holds (the summary's quantiles as prom-client computes them). */
function nodePoints(g: Tags): string[] {
  return [
    point("nodepush", { ...g, code: "200" }, "requests_total=7"),
    ...temperaturePoints("nodepush", g),
    ...latencyPoints("nodepush", g),
    point("nodepush", { ...g, quantile: "0.5" }, "duration_seconds=2.5"),
    point("nodepush", { ...g, quantile: "0.9" }, "duration_seconds=4"),
    point("nodepush", g, "duration_seconds_count=4,duration_seconds_sum=10"),
  ].sort();
}

/**
 * Replaces the value of every `*_created` field (one field per line) with `<created>` after
 * checking that it is a time in seconds within [from, to] (Date.now() values).
 */
function normalizeCreated(lines: string[], from: number, to: number): string[] {
  return lines.map((l) => {
    const m = /^(.* \w+_created)=(\S+)$/.exec(l);
    if (!m) return l;
    const v = Number(m[2]);
    expect(v, l).to.be.within(Math.floor(from / 1000) - 1, Math.ceil(to / 1000) + 1);
    return `${m[1]}=<created>`;
  });
}

// ---------------------------------------------------------------------------------------------
// Running things

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: ExecFileOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 60_000, maxBuffer: 16 << 20, encoding: "utf8", ...opts }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      if (err && typeof err.code === "string") reject(new Error(`cannot run ${cmd}: ${err.message} (install the test peers with: bash scripts/setup-peers.sh)`));
      else resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One agent plus the recorder in front of it, with helpers to read what a push gave. */
function agentWithRecorder(conf: string) {
  const h = {
    agent: undefined as unknown as RunningTestAgent,
    rec: undefined as unknown as Recorder,
    /** Base URL the clients push to (the recorder's). */
    get url() {
      return h.rec.url;
    },
    /** Marks the lines written so far (and drops the exchanges so far): a push's points come after it. */
    mark(): number {
      h.rec.take();
      return h.agent.lines().length;
    },
    /**
     * Waits for as many lines after the mark as expected, then a little longer to see any extra
     * ones, and asserts them (see expectPoints).
     */
    async expectPoints(mark: number, ex: Exchange, expected: string[], normalize?: (l: string[]) => string[]): Promise<void> {
      await h.agent.waitForLines(mark + expected.length);
      await sleep(150);
      expectPoints(h.agent.lines().slice(mark), ex, expected, normalize);
    },
    async noPoints(mark: number): Promise<void> {
      await sleep(250);
      expect(h.agent.lines().slice(mark)).to.deep.equal([]);
    },
  };
  before(async () => {
    h.agent = await startTestAgent({ conf: { "inputs/pushgateway.conf": conf } });
    h.rec = await startRecorder(h.agent.url);
  });
  after(async () => {
    await h.rec?.close();
    h.agent?.cleanup();
  });
  return h;
}

/** The one exchange of a client action, asserted to be the expected method and status. */
function one(exchanges: Exchange[], method: string, status: number): Exchange {
  expect(exchanges.map((e) => `${e.method} ${e.path}`), "requests sent").to.have.length(1);
  const [ex] = exchanges;
  expect(ex.method).to.equal(method);
  expect(ex.status, `${ex.method} ${ex.path} answered: ${ex.response}`).to.equal(status);
  return ex;
}

/**
 * Asserts the points of one push: exactly `expected` (timestamps aside, any order), all with one
 * timestamp, the receive time of the push.
 */
function expectPoints(lines: string[], ex: Exchange, expected: string[], normalize: (l: string[]) => string[] = (l) => l): void {
  expect(normalize(lines.map(withoutTime)).sort()).to.deep.equal([...expected].sort());
  const times = new Set(lines.map((l) => l.slice(l.lastIndexOf(" ") + 1)));
  expect(times.size, "one receive time for the whole push").to.equal(1);
  const t = BigInt([...times][0]);
  expect(t >= BigInt(ex.start) * 1_000_000n && t <= BigInt(ex.end) * 1_000_000n, `receive time ${t} within the request`).to.equal(true);
}

/** The pairs of a grouping path after the job, as a set (clients may order them freely). */
function groupingPairs(p: string, prefix: string): string[] {
  expect(p.startsWith(prefix), p).to.equal(true);
  const parts = p.slice(prefix.length).split("/").filter((s) => s !== "");
  const pairs: string[] = [];
  for (let i = 0; i < parts.length; i += 2) pairs.push(`${parts[i]}/${parts[i + 1]}`);
  return pairs.sort();
}

// ---------------------------------------------------------------------------------------------

describe("real clients pushing to the agent (integration)", function () {
  this.timeout(60_000);

  describe("Go: client_golang's push package", () => {
    const h = agentWithRecorder("[[inputs.pushgateway]]\n");
    let buildDir: string;
    let pusher: string;

    before(async function () {
      // The first build compiles client_golang and its dependencies from Debian's sources.
      this.timeout(300_000);
      buildDir = mkdtempSync(path.join(tmpdir(), "pushkit-go-pusher-"));
      pusher = path.join(buildDir, "go-pusher");
      const res = await run("go", ["build", "-o", pusher, "."], {
        cwd: path.join(CLIENTS_DIR, "go-pusher"),
        timeout: 290_000,
        env: { ...process.env, GOPATH: "/usr/share/gocode", GO111MODULE: "off", GOPROXY: "off", GOFLAGS: "", GOCACHE: path.join(buildDir, "gocache") },
      });
      expect(res.code, `go build failed (bash scripts/setup-peers.sh installs Go and client_golang):\n${res.stderr}`).to.equal(0);
    });
    after(() => {
      if (buildDir) rmSync(buildDir, { recursive: true, force: true });
    });

    async function goPush(...args: string[]): Promise<Exchange[]> {
      const res = await run(pusher, ["-url", h.url, ...args]);
      const sent = h.rec.take();
      // The client's own error names the status and the agent's answer; show the exchange too.
      expect(res.code, `go-pusher ${args.join(" ")}: ${res.stderr}`).to.equal(0);
      return sent;
    }

    const g = { job: "gojob", instance: "i1" };

    it("Push() sends delimited protobuf (its default) with PUT, and gives the points of the text push", async () => {
      const mark = h.mark();
      const ex = one(await goPush("-job", "gojob", "-grouping", "instance=i1", "-method", "push"), "PUT", 200);
      expect(ex.path).to.equal("/metrics/job/gojob/instance/i1");
      expect(ex.headers["content-type"]).to.equal(PROTO_CT);
      expect(ex.headers["content-encoding"]).to.equal(undefined);
      expect(ex.headers["content-length"]).to.equal(String(ex.body.length));
      await h.expectPoints(mark, ex, goPoints(g));
    });

    it("Add() sends delimited protobuf with POST", async () => {
      const mark = h.mark();
      const ex = one(await goPush("-job", "gojob", "-grouping", "instance=i1", "-method", "add"), "POST", 200);
      expect(ex.headers["content-type"]).to.equal(PROTO_CT);
      await h.expectPoints(mark, ex, goPoints(g));
    });

    it("Push() with Format(expfmt.FmtText) sends text with PUT", async () => {
      const mark = h.mark();
      const ex = one(await goPush("-job", "gojob", "-grouping", "instance=i1", "-method", "push", "-format", "text"), "PUT", 200);
      expect(ex.headers["content-type"]).to.equal(TEXT_CT);
      // client_golang's text has the +Inf bucket; its protobuf has not (the decoder adds it).
      expect(ex.body.toString()).to.contain('gopush_latency_seconds_bucket{le="+Inf"} 5\n');
      await h.expectPoints(mark, ex, goPoints(g));
    });

    it("Add() with the text format sends text with POST", async () => {
      const mark = h.mark();
      const ex = one(await goPush("-job", "gojob", "-grouping", "instance=i1", "-method", "add", "-format", "text"), "POST", 200);
      expect(ex.headers["content-type"]).to.equal(TEXT_CT);
      await h.expectPoints(mark, ex, goPoints(g));
    });

    it("encodes a job or value with '/' and an empty value as @base64, and a space as '+' (kept, as the reference keeps it)", async () => {
      const mark = h.mark();
      const ex = one(
        await goPush("-job", "nightly/backup", "-grouping", "path=/var/tmp", "-grouping", "sp=a b", "-grouping", "e=", "-method", "push", "-format", "text"),
        "PUT",
        200,
      );
      // Raw (unpadded) URL-safe base64; the grouping labels in map order.
      expect(groupingPairs(ex.path, "/metrics/job@base64/bmlnaHRseS9iYWNrdXA/")).to.deep.equal(["e@base64/=", "path@base64/L3Zhci90bXA", "sp/a+b"]);
      await h.expectPoints(mark, ex, goPoints({ job: "nightly/backup", path: "/var/tmp", sp: "a+b", e: "" }));
    });

    it("Delete() sends DELETE without a body and wants 202; nothing is ingested", async () => {
      const mark = h.mark();
      const ex = one(await goPush("-job", "gojob", "-grouping", "instance=i1", "-method", "delete"), "DELETE", 202);
      expect(ex.path).to.equal("/metrics/job/gojob/instance/i1");
      expect(ex.body.length).to.equal(0);
      expect(ex.headers["content-type"]).to.equal(undefined);
      await h.noPoints(mark);
    });
  });

  describe("Python: prometheus_client", () => {
    const h = agentWithRecorder("[[inputs.pushgateway]]\n");
    const script = path.join(CLIENTS_DIR, "python_pusher.py");

    before(async () => {
      const res = await run(PYTHON, ["-c", "import prometheus_client"]);
      expect(res.code, `${PYTHON} has no prometheus_client (bash scripts/setup-peers.sh installs python3-prometheus-client):\n${res.stderr}`).to.equal(0);
    });

    async function pyPush(action: string, job: string, grouping: string[]): Promise<{ sent: Exchange[]; from: number; to: number }> {
      const from = Date.now();
      const res = await run(PYTHON, [script, h.url.replace(/^http:\/\//, ""), job, action, ...grouping]);
      const to = Date.now();
      const sent = h.rec.take();
      expect(res.code, `python_pusher.py ${action}: ${res.stderr}`).to.equal(0);
      return { sent, from, to };
    }

    it("push_to_gateway: PUT of text, a '/' value as padded @base64; le=\"1.0\" becomes le=1 and the _created gauges are points", async () => {
      const mark = h.mark();
      const { sent, from, to } = await pyPush("push", "pyjob", ["instance=i1", "path=/var/tmp"]);
      const ex = one(sent, "PUT", 200);
      expect(ex.path).to.equal("/metrics/job/pyjob/instance/i1/path@base64/L3Zhci90bXA=");
      expect(ex.headers["content-type"]).to.equal(TEXT_CT);
      expect(ex.headers["content-length"]).to.equal(String(ex.body.length));
      const body = ex.body.toString();
      expect(body).to.contain('pypush_latency_seconds_bucket{le="1.0"} 3.0\n');
      expect(body).to.contain('pypush_latency_seconds_bucket{le="100000.0"} 5.0\n');
      expect(body).to.match(/^# TYPE pypush_requests_created gauge$/m);
      await h.expectPoints(mark, ex, pythonPoints({ job: "pyjob", instance: "i1", path: "/var/tmp" }, true), (l) => normalizeCreated(l, from, to));
    });

    it("pushadd_to_gateway: POST of text; an empty grouping value as @base64/=", async () => {
      const mark = h.mark();
      const { sent, from, to } = await pyPush("pushadd", "pyjob", ["instance=i1", "e="]);
      const ex = one(sent, "POST", 200);
      expect(ex.path).to.equal("/metrics/job/pyjob/e@base64/=/instance/i1");
      expect(ex.headers["content-type"]).to.equal(TEXT_CT);
      await h.expectPoints(mark, ex, pythonPoints({ job: "pyjob", instance: "i1" }, true), (l) => normalizeCreated(l, from, to));
    });

    it("delete_from_gateway: DELETE with an empty body (but a text Content-Type); nothing is ingested", async () => {
      const mark = h.mark();
      const { sent } = await pyPush("delete", "pyjob", ["instance=i1", "path=/var/tmp"]);
      const ex = one(sent, "DELETE", 202);
      expect(ex.path).to.equal("/metrics/job/pyjob/instance/i1/path@base64/L3Zhci90bXA=");
      expect(ex.headers["content-length"]).to.equal("0");
      expect(ex.headers["content-type"]).to.equal(TEXT_CT);
      await h.noPoints(mark);
    });

    it("its OpenMetrics exposition of the same registry gives the same points without the _created ones", async () => {
      const om = await run(PYTHON, [script, "openmetrics"]);
      expect(om.code, om.stderr).to.equal(0);
      expect(om.stderr).to.equal("application/openmetrics-text; version=0.0.1; charset=utf-8");
      expect(om.stdout).to.match(/^pypush_requests_created \S+$/m);
      expect(om.stdout.endsWith("# EOF\n")).to.equal(true);
      const mark = h.mark();
      const res = await fetch(`${h.url}/metrics/job/pyjob/instance/i1`, { method: "PUT", headers: { "Content-Type": om.stderr }, body: om.stdout });
      const ex = one(h.rec.take(), "PUT", 200);
      expect(res.status).to.equal(200);
      await h.expectPoints(mark, ex, pythonPoints({ job: "pyjob", instance: "i1" }, false));
    });
  });

  describe("Node: prom-client's Pushgateway", () => {
    const h = agentWithRecorder("[[inputs.pushgateway]]\n");

    /** The same metrics as the other clients; in OpenMetrics the counter carries an exemplar. */
    function nodeRegistry(openMetrics: boolean): Registry {
      const r = openMetrics ? new OpenMetricsRegistry(Registry.OPENMETRICS_CONTENT_TYPE) : new Registry();
      const registers = [r];
      // Counter<string>: the typings restrict exemplar labels to the metric's label names.
      const requests = new Counter<string>({ name: "nodepush_requests_total", help: "Requests handled by the batch job.", labelNames: ["code"], registers, enableExemplars: openMetrics });
      if (openMetrics) requests.inc({ labels: { code: "200" }, value: 7, exemplarLabels: { trace_id: "abc123" } });
      else requests.inc({ code: "200" }, 7);
      const temperature = new Gauge({ name: "nodepush_temperature_celsius", help: "Temperature per room.", labelNames: ["room"], registers });
      temperature.set({ room: "a" }, 21.5);
      temperature.set({ room: "b" }, -3.25);
      const latency = new Histogram({ name: "nodepush_latency_seconds", help: "Latency of the steps.", buckets: [1e-5, 0.005, 0.1, 1, 2.5, 100000, 1e6], registers });
      for (const v of [0.00390625, 0.0625, 0.5, 2, 64]) latency.observe(v);
      const duration = new Summary({ name: "nodepush_duration_seconds", help: "Duration of the steps.", percentiles: [0.5, 0.9], registers });
      for (const v of [1, 2, 3, 4]) duration.observe(v);
      return r;
    }

    const g = { job: "nodejob", instance: "i1" };

    it("pushAdd: POST of text with no Content-Type, chunked; le=\"0.00001\" and \"1000000\" become 1e-05 and 1e+06", async () => {
      const mark = h.mark();
      await new Pushgateway(h.url, {}, nodeRegistry(false)).pushAdd({ jobName: "nodejob", groupings: { instance: "i1" } });
      const ex = one(h.rec.take(), "POST", 200);
      expect(ex.path).to.equal("/metrics/job/nodejob/instance/i1");
      expect(ex.headers["content-type"]).to.equal(undefined);
      expect(ex.headers["transfer-encoding"]).to.equal("chunked");
      expect(ex.headers["content-length"]).to.equal(undefined);
      expect(ex.body.toString()).to.contain('nodepush_latency_seconds_bucket{le="0.00001"} 0\n');
      expect(ex.body.toString()).to.contain('nodepush_latency_seconds_bucket{le="1000000"} 5\n');
      await h.expectPoints(mark, ex, nodePoints(g));
    });

    it("push: PUT of text", async () => {
      const mark = h.mark();
      await new Pushgateway(h.url, {}, nodeRegistry(false)).push({ jobName: "nodejob", groupings: { instance: "i1" } });
      const ex = one(h.rec.take(), "PUT", 200);
      expect(ex.headers["content-type"]).to.equal(undefined);
      await h.expectPoints(mark, ex, nodePoints(g));
    });

    it("with headers {Content-Encoding: gzip}: a gzipped chunked body; delete() drops the header (for good: prom-client deletes it from the options object)", async () => {
      const options = { headers: { "Content-Encoding": "gzip" } as Record<string, string> };
      const gateway = new Pushgateway(h.url, options, nodeRegistry(false));

      let mark = h.mark();
      await gateway.push({ jobName: "nodejob", groupings: { instance: "i1" } });
      let ex = one(h.rec.take(), "PUT", 200);
      expect(ex.headers["content-encoding"]).to.equal("gzip");
      expect(ex.headers["transfer-encoding"]).to.equal("chunked");
      expect(gunzipSync(ex.body).toString()).to.match(/^# HELP nodepush_requests_total /);
      await h.expectPoints(mark, ex, nodePoints(g));

      mark = h.mark();
      await gateway.delete({ jobName: "nodejob", groupings: { instance: "i1" } });
      ex = one(h.rec.take(), "DELETE", 202);
      expect(ex.headers["content-encoding"]).to.equal(undefined);
      expect(ex.body.length).to.equal(0);
      await h.noPoints(mark);

      // The header is gone from the options the gateway was made with: later pushes are plain.
      expect(options.headers).to.deep.equal({});
      mark = h.mark();
      await gateway.pushAdd({ jobName: "nodejob", groupings: { instance: "i1" } });
      ex = one(h.rec.take(), "POST", 200);
      expect(ex.headers["content-encoding"]).to.equal(undefined);
      await h.expectPoints(mark, ex, nodePoints(g));
    });

    it("delete: DELETE without a body; nothing is ingested", async () => {
      const mark = h.mark();
      await new Pushgateway(h.url, {}, nodeRegistry(false)).delete({ jobName: "nodejob" });
      const ex = one(h.rec.take(), "DELETE", 202);
      expect(ex.path).to.equal("/metrics/job/nodejob");
      await h.noPoints(mark);
    });

    it("an OpenMetrics registry with Content-Type: the points of the text push (counter x as x_total, exemplar dropped)", async () => {
      const mark = h.mark();
      await new Pushgateway(h.url, { headers: { "Content-Type": Registry.OPENMETRICS_CONTENT_TYPE } }, nodeRegistry(true)).push({ jobName: "nodejob", groupings: { instance: "i1" } });
      const ex = one(h.rec.take(), "PUT", 200);
      expect(ex.headers["content-type"]).to.equal("application/openmetrics-text; version=1.0.0; charset=utf-8");
      const body = ex.body.toString();
      expect(body).to.match(/^# TYPE nodepush_requests counter$/m);
      expect(body).to.match(/^nodepush_requests_total\{code="200"\} 7 # \{trace_id="abc123"\} 7 \d+(\.\d+)?$/m);
      expect(body.endsWith("# EOF\n")).to.equal(true);
      await h.expectPoints(mark, ex, nodePoints(g));
    });

    it("an OpenMetrics registry without Content-Type (prom-client's default): the same points", async () => {
      const mark = h.mark();
      await new Pushgateway(h.url, {}, nodeRegistry(true)).push({ jobName: "nodejob", groupings: { instance: "i1" } });
      const ex = one(h.rec.take(), "PUT", 200);
      expect(ex.headers["content-type"]).to.equal(undefined);
      expect(ex.body.toString().endsWith("# EOF\n")).to.equal(true);
      await h.expectPoints(mark, ex, nodePoints(g));
    });
  });

  describe("curl: the examples of the Prometheus Pushgateway README", () => {
    const h = agentWithRecorder("[[inputs.pushgateway]]\n");

    /**
     * Runs a README command with bash (the README's gateway address replaced by ours) and returns
     * its one exchange, with the method and status asserted.
     */
    async function curl(command: string, method: string, status: number): Promise<Exchange> {
      const res = await run("bash", ["-c", `set -o pipefail\n${command.replaceAll("http://pushgateway.example.org:9091", h.url)}`]);
      expect(res.code, `${command}\n${res.stderr}`).to.equal(0);
      return one(h.rec.take(), method, status);
    }

    it("pushes a single sample (untyped) into {job=\"some_job\"}: POST, form Content-Type", async () => {
      const mark = h.mark();
      const ex = await curl('echo "some_metric 3.14" | curl --data-binary @- http://pushgateway.example.org:9091/metrics/job/some_job', "POST", 200);
      expect(ex.headers["content-type"]).to.equal("application/x-www-form-urlencoded");
      expect(ex.body.toString()).to.equal("some_metric 3.14\n");
      await h.expectPoints(mark, ex, ["some,job=some_job metric=3.14"]);
    });

    it("pushes something more complex (TYPE, HELP, a label) into {job=\"some_job\",instance=\"some_instance\"}", async () => {
      // The first example left an untyped some_metric in {job="some_job"}: this counter of the
      // same name would be refused (400), by the reference as by pushkit, while that group exists.
      expect((await fetch(`${h.url}/metrics/job/some_job`, { method: "DELETE" })).status).to.equal(202);
      const mark = h.mark();
      const ex = await curl(
        [
          "cat <<EOF | curl --data-binary @- http://pushgateway.example.org:9091/metrics/job/some_job/instance/some_instance",
          "# TYPE some_metric counter",
          'some_metric{label="val1"} 42',
          "# TYPE another_metric gauge",
          "# HELP another_metric Just an example.",
          "another_metric 2398.283",
          "EOF",
        ].join("\n"),
        "POST",
        200,
      );
      await h.expectPoints(mark, ex, [
        "some,instance=some_instance,job=some_job,label=val1 metric=42",
        "another,instance=some_instance,job=some_job metric=2398.283",
      ]);
    });

    it("deletes the group {job=\"some_job\",instance=\"some_instance\"}: 202, nothing ingested", async () => {
      const mark = h.mark();
      const ex = await curl("curl -X DELETE http://pushgateway.example.org:9091/metrics/job/some_job/instance/some_instance", "DELETE", 202);
      expect(ex.path).to.equal("/metrics/job/some_job/instance/some_instance");
      await h.noPoints(mark);
    });

    it("deletes the group {job=\"some_job\"}: 202, nothing ingested", async () => {
      const mark = h.mark();
      const ex = await curl("curl -X DELETE http://pushgateway.example.org:9091/metrics/job/some_job", "DELETE", 202);
      expect(ex.path).to.equal("/metrics/job/some_job");
      await h.noPoints(mark);
    });

    it("takes a value with '/' as path@base64/L3Zhci90bXA (the README's path, and its command with a base64url encoder)", async () => {
      let mark = h.mark();
      let ex = await curl(`echo 'some_metric{foo="bar"} 3.14' | curl --data-binary @- http://pushgateway.example.org:9091/metrics/job/directory_cleaner/path@base64/L3Zhci90bXA`, "POST", 200);
      await h.expectPoints(mark, ex, ["some,foo=bar,job=directory_cleaner,path=/var/tmp metric=3.14"]);
      // The README pipes through `base64url` (Debian's basez); coreutils' basenc is the same
      // encoder, and it pads (L3Zhci90bXA=): padding is optional.
      mark = h.mark();
      ex = await curl(
        `echo 'some_metric{foo="bar"} 3.14' | curl --data-binary @- http://pushgateway.example.org:9091/metrics/job/directory_cleaner/path@base64/$(echo -n '/var/tmp' | basenc --base64url)`,
        "POST",
        200,
      );
      expect(ex.path).to.equal("/metrics/job/directory_cleaner/path@base64/L3Zhci90bXA=");
      await h.expectPoints(mark, ex, ["some,foo=bar,job=directory_cleaner,path=/var/tmp metric=3.14"]);
    });

    it("takes an empty value as first_label@base64/= (and leaves the empty tag out)", async () => {
      const mark = h.mark();
      const ex = await curl('echo "some_metric 3.14" | curl --data-binary @- http://pushgateway.example.org:9091/metrics/job/example/first_label@base64/=/second_label/foobar', "POST", 200);
      await h.expectPoints(mark, ex, ["some,job=example,second_label=foobar metric=3.14"]);
    });

    it("takes {job=\"titan\",name=\"Προμηθεύς\"} URI-encoded and as base64", async () => {
      for (const p of ["/metrics/job/titan/name/%CE%A0%CF%81%CE%BF%CE%BC%CE%B7%CE%B8%CE%B5%CF%8D%CF%82", "/metrics/job/titan/name@base64/zqDPgc6_zrzOt864zrXPjc-C"]) {
        const mark = h.mark();
        const ex = await curl(`echo "some_metric 3.14" | curl --data-binary @- http://pushgateway.example.org:9091${p}`, "POST", 200);
        await h.expectPoints(mark, ex, ["some,job=titan,name=Προμηθεύς metric=3.14"]);
      }
    });

    it("PUT and POST of the same body give the same points", async () => {
      for (const method of ["PUT", "POST"]) {
        const mark = h.mark();
        const ex = await curl(`echo "some_metric 3.14" | curl -X ${method} --data-binary @- http://pushgateway.example.org:9091/metrics/job/some_job`, method, 200);
        await h.expectPoints(mark, ex, ["some,job=some_job metric=3.14"]);
      }
    });

    it("a PUT with an empty body (the README's way to empty a group): 200, nothing ingested", async () => {
      const mark = h.mark();
      const ex = await curl("curl -X PUT --data-binary @/dev/null http://pushgateway.example.org:9091/metrics/job/some_job", "PUT", 200);
      expect(ex.body.length).to.equal(0);
      await h.noPoints(mark);
    });

    it("takes a gzip-compressed body (the request compression example)", async () => {
      const mark = h.mark();
      const ex = await curl(`echo "some_metric 3.14" | gzip | curl -H 'Content-Encoding: gzip' --data-binary @- http://pushgateway.example.org:9091/metrics/job/some_job`, "POST", 200);
      expect(ex.headers["content-encoding"]).to.equal("gzip");
      await h.expectPoints(mark, ex, ["some,job=some_job metric=3.14"]);
    });
  });

  describe("curl: DataKit's seed example, under route_prefix = \"/v1/pushgateway\"", () => {
    const h = agentWithRecorder('[[inputs.pushgateway]]\nroute_prefix = "/v1/pushgateway"\n');

    it("gives exactly one point: pushgateway,job=hello,... count=100", async () => {
      const mark = h.mark();
      const res = await run("bash", [
        "-c",
        `set -o pipefail\nprintf 'pushgateway_count{name="client"} 100\\n' | curl -X PUT --data-binary @- ${h.url}/v1/pushgateway/metrics/job@base64/aGVsbG8=/node/n1/pod/p1/namespace/ns`,
      ]);
      expect(res.code, res.stderr).to.equal(0);
      const ex = one(h.rec.take(), "PUT", 200);
      expect(ex.body.toString()).to.equal('pushgateway_count{name="client"} 100\n');
      await h.expectPoints(mark, ex, ["pushgateway,job=hello,name=client,namespace=ns,node=n1,pod=p1 count=100"]);
    });

    it("serves nothing outside the prefix", async () => {
      const mark = h.mark();
      const res = await run("bash", ["-c", `printf 'pushgateway_count 1\\n' | curl -X PUT --data-binary @- ${h.url}/metrics/job/hello`]);
      expect(res.code, res.stderr).to.equal(0);
      one(h.rec.take(), "PUT", 404);
      await h.noPoints(mark);
    });
  });
});
