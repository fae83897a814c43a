// UTF-8 metric and label names (Prometheus 3, Pushgateway 1.11) end to end, against the real
// agent as a child process (test/support/agent.ts):
// - a default agent: protobuf pushes carry UTF-8 names, text and OpenMetrics pushes of quoted
//   UTF-8 names are refused, U__ grouping label names are literal; scrapes escape names as the
//   Accept header asks (underscores when it does not say) and say so in the Content-Type;
// - enable_utf8_names (in the input's conf file, and from ENV_INPUT_PUSHGATEWAY_ENABLE_UTF8_NAMES):
//   quoted names in text and OpenMetrics, U__ label names in the grouping key unescaped; the
//   JSON API shows names as pushed; the allow-utf-8 scrapes parse back to the same names;
// - a real Prometheus 2.42 scraping both agents (its Accept header names no escaping) stores
//   legacy names;
// - points: the file sink's line protocol, the prometheus_remote_write sink into a real
//   Prometheus 2.42 (legacy names), a real InfluxDB 1.6 (measurement and dotted field);
// - a refused first push to a new group, next to the reference Pushgateway 1.5.1.
// No peer here reads quoted UTF-8 names (Debian's prometheus/common 0.39, Python client 0.16):
// the allow-utf-8 answers are parsed back with the agent's own parsers.
import { expect } from "chai";
import type { MetricFamily } from "../../plugins/formats/prometheus/model.ts";
import { parseOpenMetrics } from "../../plugins/formats/prometheus/parse-openmetrics.ts";
import { parseProtobuf } from "../../plugins/formats/prometheus/parse-protobuf.ts";
import { parseText } from "../../plugins/formats/prometheus/parse-text.ts";
import { startTestAgent, withoutTime, type AgentOptions, type RunningTestAgent } from "../support/agent.ts";
import { poll, startInfluxDB, type RunningBackend } from "../support/backends.ts";
import { encodeFamilies, PROTOBUF_CONTENT_TYPE, type FamilyObject } from "../support/protobuf.ts";
import { startPrometheus, type RunningPrometheus, type VectorSample } from "../support/prometheus.ts";
import { b64url } from "../support/reference-corpus.ts";
import { closeConnections, startReference, type RunningReference } from "../support/reference-peer.ts";
import {
  maskTimes,
  pb,
  post,
  put,
  pushkitOwn,
  referenceOwn,
  sendReq,
  snapshot,
  startScrapingPrometheus,
  type ApiGroupRaw,
  type Req,
  type ScrapingPrometheus,
  type Snapshot,
  zeroOrNot,
} from "../support/store-sequences.ts";

/** The Accept header of Prometheus 3's scrapes (3.x after 3.0; scrape_protocols' default), as in test/unit/utf8-names.test.ts. */
const PROMETHEUS_3_ACCEPT =
  "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
/** The Accept header of Debian's Prometheus 2.42 (as test/integration/store-prometheus.test.ts captured it). */
const PROMETHEUS_2_42_ACCEPT = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const GAUGE = 1;
const HISTOGRAM = 4;

// ---------------------------------------------------------------------------------------------
// Agents

const agents = new Set<RunningTestAgent>();

async function start(o: AgentOptions): Promise<RunningTestAgent> {
  const agent = await startTestAgent(o);
  agents.add(agent);
  return agent;
}

async function stopAll(): Promise<void> {
  await Promise.all(
    [...agents].map(async (a) => {
      await a.stop();
      a.cleanup();
    }),
  );
  agents.clear();
}

/** The pushgateway input's conf file, with enable_utf8_names as given (none: the default). */
function inputConf(utf8?: boolean): Record<string, string> {
  return { "inputs/pushgateway.conf": `[[inputs.pushgateway]]\n${utf8 === undefined ? "" : `enable_utf8_names = ${utf8}\n`}` };
}

// ---------------------------------------------------------------------------------------------
// HTTP

/** Sends req and expects `status`; returns the answer's text. */
async function must(base: string, req: Req, status = 200, stderr = () => ""): Promise<string> {
  const a = await sendReq(base, "", req);
  if (a.status !== status) throw new Error(`${req.method} ${req.path}: expected ${status}, got ${a.status} ${a.text}\n${stderr().slice(-3000)}`);
  return a.text;
}

const push = (agent: RunningTestAgent, req: Req, status = 200) => must(agent.url, req, status, agent.stderr);

/** An OpenMetrics push (Content-Type says so). */
function omPut(p: string, body: string): Req {
  return { ...put(p, body), headers: { "Content-Type": OPENMETRICS_TYPE } };
}

interface Scrape {
  status: number;
  contentType: string;
  body: Buffer;
  text: string;
}

/** GET /metrics, with the Accept header when given. */
async function scrape(agent: RunningTestAgent, accept?: string): Promise<Scrape> {
  const res = await fetch(`${agent.url}/metrics`, { headers: accept === undefined ? {} : { Accept: accept } });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", body, text: body.toString("utf8") };
}

/** The lines of a text or OpenMetrics scrape that speak of one job (samples) or one family (comments). */
function linesOf(text: string, job: string, families: string[] = []): string[] {
  return text.split("\n").filter((l) => l.includes(`job="${job}"`) || families.some((f) => l.startsWith(`# TYPE ${f} `) || l.startsWith(`# HELP ${f} `)));
}

/** The group {job=pbj}'s own gauges in a scrape, values zero / non-zero (pbjLines). */
const PBJ_GAUGES = ['push_failure_time_seconds{instance="",job="pbj"} 0', 'push_time_seconds{instance="",job="pbj"} non-zero'];

/** The lines of job pbj and the comments of `family` in a scrape, the push-time gauges' values zero / non-zero. */
function pbjLines(text: string, family: string): string[] {
  return linesOf(text, "pbj", [family]).map((l) => (l.startsWith("push_") ? l.replace(/ (\S+)$/, (_, v: string) => ` ${zeroOrNot(v)}`) : l));
}

async function apiGroups(agent: RunningTestAgent): Promise<ApiGroupRaw[]> {
  const res = await fetch(`${agent.url}/api/v1/metrics`);
  expect(res.status).to.equal(200);
  return ((await res.json()) as { data: ApiGroupRaw[] }).data;
}

async function apiGroupsOf(agent: RunningTestAgent, job: string): Promise<ApiGroupRaw[]> {
  return (await apiGroups(agent)).filter((g) => g.labels.job === job);
}

interface ApiFamily {
  type: string;
  help?: string;
  metrics: { labels: Record<string, string>; value?: string }[];
}

/** The families of one API group (without the push-time gauges): name -> type and each metric's labels. */
function apiFamilies(g: ApiGroupRaw): Record<string, { type: string; labels: Record<string, string>[] }> {
  const out: Record<string, { type: string; labels: Record<string, string>[] }> = {};
  for (const [name, v] of Object.entries(g)) {
    if (name === "labels" || name === "last_push_successful" || name.startsWith("push_")) continue;
    const f = v as ApiFamily;
    out[name] = { type: f.type, labels: f.metrics.map((m) => m.labels) };
  }
  return out;
}

/**
 * Names as a reader sees them: one `family TYPE {label=value,...}` line per metric (labels
 * sorted), without the agent's own families, sorted. The API and every scrape format give the
 * same lines for the same groups when no name is escaped.
 */
function nameLines(families: MetricFamily[]): string[] {
  const out: string[] = [];
  for (const f of families) {
    if (pushkitOwn(f.name)) continue;
    for (const m of f.metrics) {
      const pairs: string[] = [];
      for (let i = 0; i < m.labels.length; i += 2) pairs.push(`${m.labels[i]}=${m.labels[i + 1]}`);
      out.push(`${f.name} ${f.type} {${pairs.sort().join(",")}}`);
    }
  }
  return out.sort();
}

function apiNameLines(groups: ApiGroupRaw[]): string[] {
  const out: string[] = [];
  for (const g of groups) {
    for (const [name, v] of Object.entries(g)) {
      if (name === "labels" || name === "last_push_successful") continue;
      const f = v as ApiFamily;
      for (const m of f.metrics) out.push(`${name} ${f.type} {${Object.entries(m.labels).map(([k, x]) => `${k}=${x}`).sort().join(",")}}`);
    }
  }
  return out.sort();
}

/** The names a scrape answer in `format` parses back to, UTF-8 names allowed. */
function parseScrape(s: Scrape, format: "text" | "openmetrics" | "protobuf"): MetricFamily[] {
  if (format === "protobuf") return parseProtobuf(s.body);
  return format === "text" ? parseText(s.body, { names: "utf8" }) : parseOpenMetrics(s.body, { names: "utf8" });
}

// ---------------------------------------------------------------------------------------------
// Bodies

/** A gauge named pb.dotted with a label my.label, as a protobuf push. */
const PB_DOTTED: FamilyObject = { name: "pb.dotted", help: "A dotted gauge.", type: GAUGE, metric: [{ label: [{ name: "my.label", value: "v" }], gauge: { value: 3 } }] };

/** OpenTelemetry's names: a histogram and a gauge, with a dotted label, as a protobuf push. */
const PB_OTEL: FamilyObject[] = [
  {
    name: "http.server.duration",
    type: HISTOGRAM,
    metric: [{ label: [{ name: "my.label", value: "v" }], histogram: { sample_count: 4, sample_sum: 1.5, bucket: [{ upper_bound: 0.5, cumulative_count: 3 }] } }],
  },
  { name: "http.server.active_requests", type: GAUGE, metric: [{ label: [{ name: "my.label", value: "v" }], gauge: { value: 2 } }] },
];

/** Text 0.0.4 with quoted names: the metric name inside the braces, and before them. */
const TEXT_BODY = `# HELP "my.metric" A dotted gauge.
# TYPE "my.metric" gauge
{"my.metric","my.label"="v",code="200"} 1
"my.metric"{"my.label"="w"} 2
`;

/** The same histogram as PB_OTEL's, in text 0.0.4 with quoted names. */
const TEXT_OTEL = `# TYPE "http.server.duration" histogram
{"http.server.duration_bucket","my.label"="v",le="0.5"} 3
{"http.server.duration_bucket","my.label"="v",le="+Inf"} 4
{"http.server.duration_sum","my.label"="v"} 1.5
{"http.server.duration_count","my.label"="v"} 4
`;

const OM_BODY = `# TYPE "om.requests" counter
# HELP "om.requests" Requests.
{"om.requests_total","a.b"="v"} 7
# EOF
`;

/** A protobuf body whose marker "ZZ" is replaced by bytes that are not UTF-8. */
function withInvalidUtf8(family: FamilyObject): Buffer {
  const body = encodeFamilies(family);
  const at = body.indexOf("ZZ");
  expect(at).to.be.greaterThan(0);
  body[at] = 0xc3;
  body[at + 1] = 0x28;
  return body;
}

// ---------------------------------------------------------------------------------------------

describe("UTF-8 metric and label names (integration)", function () {
  this.timeout(60_000);

  /** enable_utf8_names off (the default). */
  let plain: RunningTestAgent;
  /** enable_utf8_names = true in its inputs/pushgateway.conf. */
  let utf8: RunningTestAgent;

  before(async () => {
    [plain, utf8] = await Promise.all([start({ conf: inputConf() }), start({ conf: inputConf(true) })]);
    for (const agent of [plain, utf8]) {
      await push(agent, pb("PUT", "/metrics/job/pbj", PB_DOTTED));
      await push(agent, put("/metrics/job/literal/U__my_2e_label/v", "ug 1\n"));
    }
    await push(utf8, put("/metrics/job/text", TEXT_BODY));
    await push(utf8, put("/metrics/job/otel", TEXT_OTEL));
    await push(utf8, omPut("/metrics/job/om", OM_BODY));
    await push(utf8, put("/metrics/job/ug/U__my_2e_label/v", "ug 1\n"));
    await push(utf8, put(`/metrics/job/ug/U__my_2e_label@base64/${b64url("v")}`, "ug 2\n"));
  });

  after(async () => {
    await stopAll();
    closeConnections();
  });

  // -------------------------------------------------------------------------------------------

  describe("a default agent (enable_utf8_names off)", () => {
    it("stores a protobuf push of pb.dotted{my.label} as pushed; invalid UTF-8 in a name stays a 400 and leaves no group", async () => {
      const [g] = await apiGroupsOf(plain, "pbj");
      expect(g.labels).to.deep.equal({ job: "pbj" });
      expect(g.last_push_successful).to.equal(true);
      expect(apiFamilies(g)).to.deep.equal({ "pb.dotted": { type: "GAUGE", labels: [{ instance: "", job: "pbj", "my.label": "v" }] } });
      expect((g["pb.dotted"] as ApiFamily).help).to.equal("A dotted gauge.");

      const badName = await sendReq(plain.url, "", { ...pb("PUT", "/metrics/job/bad-utf8"), body: withInvalidUtf8({ name: "bad.ZZ", type: GAUGE, metric: [{ gauge: { value: 1 } }] }) });
      expect([badName.status, badName.text]).to.deep.equal([400, "protobuf parsing error at byte 0: invalid MetricFamily message (23 bytes): string at byte 3 is not valid UTF-8\n"]);
      const badLabel = await sendReq(plain.url, "", {
        ...pb("PUT", "/metrics/job/bad-utf8"),
        body: withInvalidUtf8({ name: "ok", type: GAUGE, metric: [{ label: [{ name: "my.ZZ", value: "v" }], gauge: { value: 1 } }] }),
      });
      expect(badLabel.status).to.equal(400);
      expect(badLabel.text).to.match(/is not valid UTF-8\n$/);
      expect(await apiGroupsOf(plain, "bad-utf8")).to.deep.equal([]);
    });

    it("answers a scrape without Accept in text 0.0.4 with escaping=underscores: pb_dotted{my_label}", async () => {
      const s = await scrape(plain);
      expect([s.status, s.contentType]).to.deep.equal([200, `${TEXT_TYPE}; escaping=underscores`]);
      expect(pbjLines(s.text, "pb_dotted")).to.deep.equal(["# HELP pb_dotted A dotted gauge.", "# TYPE pb_dotted gauge", 'pb_dotted{instance="",job="pbj",my_label="v"} 3', ...PBJ_GAUGES]);
      expect(s.text).not.to.include("pb.dotted");
      expect(s.text).not.to.include("my.label");
      // Legacy names only: the text parser with legacy validation reads the whole answer.
      expect(nameLines(parseText(s.body))).to.include('pb_dotted GAUGE {instance=,job=pbj,my_label=v}');
    });

    it("answers Prometheus 3's Accept header with OpenMetrics, escaping=allow-utf-8: {\"pb.dotted\",...,\"my.label\"=\"v\"}", async () => {
      const s = await scrape(plain, PROMETHEUS_3_ACCEPT);
      expect([s.status, s.contentType]).to.deep.equal([200, `${OPENMETRICS_TYPE}; escaping=allow-utf-8`]);
      expect(pbjLines(s.text, '"pb.dotted"')).to.deep.equal(['# TYPE "pb.dotted" gauge', '# HELP "pb.dotted" A dotted gauge.', '{"pb.dotted",instance="",job="pbj","my.label"="v"} 3', ...PBJ_GAUGES]);
      expect(s.text.endsWith("# EOF\n")).to.equal(true);
      expect(nameLines(parseOpenMetrics(s.body, { names: "utf8" }))).to.include('pb.dotted GAUGE {instance=,job=pbj,my.label=v}');
      // A reader of legacy names cannot read it: the names really are quoted UTF-8.
      expect(() => parseOpenMetrics(s.body)).to.throw(/invalid metric name "pb\.dotted"/);
    });

    it("escapes with the scheme the Accept header names, in text, OpenMetrics and protobuf", async () => {
      const cases: [string, string, string][] = [
        ["text/plain;version=0.0.4;escaping=underscores", "underscores", 'pb_dotted{instance="",job="pbj",my_label="v"} 3'],
        ["text/plain;version=0.0.4;escaping=dots", "dots", 'pb_dot_dotted{instance="",job="pbj",my_dot_label="v"} 3'],
        ["text/plain;version=0.0.4;escaping=values", "values", 'U__pb_2e_dotted{instance="",job="pbj",U__my_2e_label="v"} 3'],
        ["text/plain;version=0.0.4;escaping=allow-utf-8", "allow-utf-8", '{"pb.dotted",instance="",job="pbj","my.label"="v"} 3'],
        ["text/plain;version=0.0.4;escaping=bogus", "underscores", 'pb_dotted{instance="",job="pbj",my_label="v"} 3'],
        ["application/openmetrics-text;version=1.0.0;escaping=values", "values", 'U__pb_2e_dotted{instance="",job="pbj",U__my_2e_label="v"} 3'],
        ["application/openmetrics-text;version=1.0.0", "underscores", 'pb_dotted{instance="",job="pbj",my_label="v"} 3'],
      ];
      for (const [accept, scheme, line] of cases) {
        const s = await scrape(plain, accept);
        const type = accept.startsWith("text/") ? TEXT_TYPE : OPENMETRICS_TYPE;
        expect([s.status, s.contentType], accept).to.deep.equal([200, `${type}; escaping=${scheme}`]);
        expect(s.text.split("\n"), accept).to.include(line);
      }
      for (const [scheme, name, label] of [
        ["allow-utf-8", "pb.dotted", "my.label"],
        ["underscores", "pb_dotted", "my_label"],
        ["dots", "pb_dot_dotted", "my_dot_label"],
      ]) {
        const s = await scrape(plain, `${PROTOBUF_CONTENT_TYPE};escaping=${scheme}`);
        expect([s.status, s.contentType]).to.deep.equal([200, `${PROTOBUF_CONTENT_TYPE}; escaping=${scheme}`]);
        expect(nameLines(parseProtobuf(s.body)), scheme).to.include(`${name} GAUGE {instance=,job=pbj,${label}=v}`);
      }
    });

    it("refuses text and OpenMetrics pushes of quoted UTF-8 names with a 400 naming them, and keeps no group; quoted legacy names pass", async () => {
      const refusals: [Req, string][] = [
        [put("/metrics/job/t", TEXT_BODY), 'text format parsing error in line 1: invalid metric name "my.metric"\n'],
        [put("/metrics/job/t", 'ok{"my.label"="v"} 1\n'), 'text format parsing error in line 1: invalid label name "my.label"\n'],
        [omPut("/metrics/job/t", OM_BODY), 'openmetrics parsing error in line 1: invalid metric name "om.requests"\n'],
      ];
      for (const [req, message] of refusals) {
        const a = await sendReq(plain.url, "", req);
        expect([a.status, a.text], String(req.body)).to.deep.equal([400, message]);
      }
      expect(await apiGroupsOf(plain, "t")).to.deep.equal([]);
      await push(plain, put("/metrics/job/quoted-legacy", '{"ok_metric",code="1"} 1\n'));
      expect(linesOf((await scrape(plain)).text, "quoted-legacy")).to.include('ok_metric{code="1",instance="",job="quoted-legacy"} 1');
    });

    it("takes a U__ label name of the grouping key literally", async () => {
      // The same group with @base64 (the same value, so that the other tests see what the outer before pushed).
      await push(plain, put(`/metrics/job/literal/U__my_2e_label@base64/${b64url("v")}`, "ug 1\n"));
      expect((await apiGroupsOf(plain, "literal")).map((g) => g.labels)).to.deep.equal([{ job: "literal", U__my_2e_label: "v" }]);
      const s = await scrape(plain, PROMETHEUS_3_ACCEPT);
      expect(linesOf(s.text, "literal").filter((l) => l.startsWith("ug{"))).to.deep.equal(['ug{U__my_2e_label="v",instance="",job="literal"} 1']);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("an agent with enable_utf8_names = true", () => {
    it("accepted text and OpenMetrics pushes of quoted names; /api/v1/metrics shows the names as pushed", async () => {
      const groups = await apiGroups(utf8);
      const byJob = Object.fromEntries(groups.map((g) => [g.labels.job, g]));
      expect(Object.keys(byJob).sort()).to.deep.equal(["literal", "om", "otel", "pbj", "text", "ug"]);
      expect(apiFamilies(byJob.text)).to.deep.equal({
        "my.metric": {
          type: "GAUGE",
          labels: [
            { code: "200", instance: "", job: "text", "my.label": "v" },
            { instance: "", job: "text", "my.label": "w" },
          ],
        },
      });
      expect((byJob.text["my.metric"] as ApiFamily).help).to.equal("A dotted gauge.");
      expect(apiFamilies(byJob.om)).to.deep.equal({ "om.requests_total": { type: "COUNTER", labels: [{ "a.b": "v", instance: "", job: "om" }] } });
      expect(apiFamilies(byJob.otel)).to.deep.equal({ "http.server.duration": { type: "HISTOGRAM", labels: [{ instance: "", job: "otel", "my.label": "v" }] } });
      expect(apiFamilies(byJob.pbj)).to.deep.equal({ "pb.dotted": { type: "GAUGE", labels: [{ instance: "", job: "pbj", "my.label": "v" }] } });
      for (const g of groups) expect(g.last_push_successful, g.labels.job).to.equal(true);
    });

    it("reads U__ label names of the grouping key with the values scheme, with and without @base64: one group {job=ug, my.label=v}", async () => {
      const groups = await apiGroupsOf(utf8, "ug");
      expect(groups.map((g) => g.labels)).to.deep.equal([{ job: "ug", "my.label": "v" }]);
      expect((groups[0].ug as ApiFamily).metrics).to.deep.equal([{ labels: { instance: "", job: "ug", "my.label": "v" }, value: "2" }]);
      // The group's own gauges carry the unescaped name too; underscores gives my_label back.
      const s = await scrape(utf8, PROMETHEUS_3_ACCEPT);
      expect(linesOf(s.text, "ug").map((l) => l.replace(/ \S+$/, ""))).to.deep.equal([
        'push_failure_time_seconds{instance="",job="ug","my.label"="v"}',
        'push_time_seconds{instance="",job="ug","my.label"="v"}',
        'ug{instance="",job="ug","my.label"="v"}',
      ]);
      expect(linesOf((await scrape(utf8)).text, "ug").filter((l) => l.startsWith("ug{"))).to.deep.equal(['ug{instance="",job="ug",my_label="v"} 2']);
      // Without the option the same name is literal (the default agent).
      expect((await apiGroupsOf(plain, "ug")).length).to.equal(0);
    });

    it("serves text, OpenMetrics and protobuf with escaping=allow-utf-8 that parse back to the names the API shows", async () => {
      const api = apiNameLines(await apiGroups(utf8));
      expect(api).to.include.members([
        "my.metric GAUGE {code=200,instance=,job=text,my.label=v}",
        "om.requests_total COUNTER {a.b=v,instance=,job=om}",
        "http.server.duration HISTOGRAM {instance=,job=otel,my.label=v}",
        "pb.dotted GAUGE {instance=,job=pbj,my.label=v}",
        "push_time_seconds GAUGE {instance=,job=ug,my.label=v}",
        "ug UNTYPED {instance=,job=ug,my.label=v}",
      ]);
      const asked: [string, "text" | "openmetrics" | "protobuf", string][] = [
        ["text/plain;version=0.0.4;escaping=allow-utf-8", "text", TEXT_TYPE],
        [PROMETHEUS_3_ACCEPT, "openmetrics", OPENMETRICS_TYPE],
        [`${PROTOBUF_CONTENT_TYPE};escaping=allow-utf-8`, "protobuf", PROTOBUF_CONTENT_TYPE],
      ];
      for (const [accept, format, type] of asked) {
        const s = await scrape(utf8, accept);
        expect([s.status, s.contentType], format).to.deep.equal([200, `${type}; escaping=allow-utf-8`]);
        expect(nameLines(parseScrape(s, format)), format).to.deep.equal(api);
      }
    });

    it("serves legacy names to a scraper that names no escaping scheme", async () => {
      const s = await scrape(utf8);
      expect(s.contentType).to.equal(`${TEXT_TYPE}; escaping=underscores`);
      expect(linesOf(s.text, "text", ["my_metric"])).to.include.members([
        "# HELP my_metric A dotted gauge.",
        "# TYPE my_metric gauge",
        'my_metric{code="200",instance="",job="text",my_label="v"} 1',
        'my_metric{instance="",job="text",my_label="w"} 2',
      ]);
      expect(linesOf(s.text, "om")).to.include('om_requests_total{a_b="v",instance="",job="om"} 7');
      expect(linesOf(s.text, "otel")).to.include('http_server_duration_bucket{instance="",job="otel",my_label="v",le="0.5"} 3');
      expect(s.text).not.to.match(/[{,]"|\.(metric|label|requests|dotted|server)/);
    });
  });

  describe("enable_utf8_names from ENV_INPUT_PUSHGATEWAY_ENABLE_UTF8_NAMES", () => {
    it("accepts quoted names and unescapes U__ grouping label names, with no such key in the conf file", async () => {
      const agent = await start({ conf: inputConf(), env: { ENV_INPUT_PUSHGATEWAY_ENABLE_UTF8_NAMES: "true" } });
      await push(agent, put("/metrics/job/env/U__my_2e_label/v", TEXT_BODY));
      await push(agent, omPut("/metrics/job/env-om", OM_BODY));
      const groups = await apiGroups(agent);
      expect(groups.map((g) => [g.labels, Object.keys(apiFamilies(g))])).to.deep.equal([
        [{ job: "env", "my.label": "v" }, ["my.metric"]],
        [{ job: "env-om" }, ["om.requests_total"]],
      ]);
      // And false from the environment wins over true in the file.
      const off = await start({ conf: inputConf(true), env: { ENV_INPUT_PUSHGATEWAY_ENABLE_UTF8_NAMES: "false" } });
      const a = await sendReq(off.url, "", put("/metrics/job/env", TEXT_BODY));
      expect([a.status, a.text]).to.deep.equal([400, 'text format parsing error in line 1: invalid metric name "my.metric"\n']);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("a real Prometheus 2.42 scraping both agents", () => {
    let prometheus: ScrapingPrometheus;
    before(async function () {
      this.timeout(60_000);
      const hostPort = (a: RunningTestAgent) => new URL(a.url).host;
      prometheus = await startScrapingPrometheus([
        { name: "scrape-plain", target: hostPort(plain), metricsPath: "/metrics", labels: { src: "plain" } },
        { name: "scrape-utf8", target: hostPort(utf8), metricsPath: "/metrics", labels: { src: "utf8" } },
      ]);
      // Both scraped, successfully, after every push of the outer before.
      const since = Date.now() / 1000;
      await poll(
        "both agents scraped",
        async () => {
          const ups = await prometheus.query('timestamp(up{src=~"plain|utf8"}) > ' + since.toFixed(3));
          return ups.length === 2 ? ups : undefined;
        },
        20_000,
        200,
      );
    });
    after(async () => {
      await prometheus?.stop();
    });

    /** Series as `src: name{labels} value` (src: which agent), sorted. */
    async function series(expr: string): Promise<string[]> {
      return (await prometheus.query(expr))
        .map((r) => {
          const { __name__: name, src, ...labels } = r.metric;
          return `${src}: ${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(",")}} ${r.value[1]}`;
        })
        .sort();
    }

    it("both targets are up: the OpenMetrics Prometheus 2.42 gets has legacy names only", async () => {
      // What the agents answer to Prometheus 2.42's Accept header (no escaping= in it).
      for (const agent of [plain, utf8]) {
        const s = await scrape(agent, PROMETHEUS_2_42_ACCEPT);
        expect([s.status, s.contentType]).to.deep.equal([200, `${OPENMETRICS_TYPE}; escaping=underscores`]);
        expect(s.text).to.include('pb_dotted{instance="",job="pbj",my_label="v"} 3\n');
        expect(s.text).not.to.match(/[{,]"/);
      }
      expect(await series('up{src=~"plain|utf8"}')).to.deep.equal([
        `plain: up{instance="${new URL(plain.url).host}",job="scrape-plain"} 1`,
        `utf8: up{instance="${new URL(utf8.url).host}",job="scrape-utf8"} 1`,
      ]);
    });

    it("stores pb_dotted, my_metric, om_requests_total, http_server_duration_* with underscored label names", async () => {
      expect(await series('{__name__=~"pb_dotted|my_metric|om_requests_total|http_server_duration_.+|ug"}')).to.deep.equal(
        [
          'plain: pb_dotted{job="pbj",my_label="v"} 3',
          // A literal label name without enable_utf8_names, my.label with it.
          'plain: ug{U__my_2e_label="v",job="literal"} 1',
          'utf8: ug{job="literal",my_label="v"} 1',
          'utf8: pb_dotted{job="pbj",my_label="v"} 3',
          'utf8: ug{job="ug",my_label="v"} 2',
          'utf8: my_metric{code="200",job="text",my_label="v"} 1',
          'utf8: my_metric{job="text",my_label="w"} 2',
          'utf8: om_requests_total{a_b="v",job="om"} 7',
          'utf8: http_server_duration_bucket{job="otel",le="0.5",my_label="v"} 3',
          'utf8: http_server_duration_bucket{job="otel",le="+Inf",my_label="v"} 4',
          'utf8: http_server_duration_sum{job="otel",my_label="v"} 1.5',
          'utf8: http_server_duration_count{job="otel",my_label="v"} 4',
        ].sort(),
      );
      expect(await series('push_time_seconds{job="ug"} > 0')).to.have.length(1);
      expect((await prometheus.query('push_time_seconds{job="ug"}'))[0].metric.my_label).to.equal("v");
      // Every name Prometheus holds from the agents, and every label name, is a legacy one.
      const stored = await prometheus.query('{src=~"plain|utf8"}');
      expect(stored.length).to.be.greaterThan(20);
      const names = new Set(stored.flatMap((r) => [r.metric.__name__, ...Object.keys(r.metric)]));
      expect([...names].filter((n) => !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(n))).to.deep.equal([]);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("points", () => {
    it("the file sink's line protocol: a dotted name splits at its first '.' into measurement and field; dotted tags as they are", async () => {
      const expected = [
        "pb,job=pbj,my.label=v dotted=3",
        "my,code=200,job=text,my.label=v metric=1",
        "my,job=text,my.label=w metric=2",
        "om,a.b=v,job=om requests_total=7",
        "http,job=otel,my.label=v server.duration_count=4,server.duration_sum=1.5",
        "http,job=otel,le=0.5,my.label=v server.duration_bucket=3",
        "http,job=otel,le=+Inf,my.label=v server.duration_bucket=4",
        "ug,job=ug,my.label=v ug=1",
        "ug,job=ug,my.label=v ug=2",
        "ug,job=literal,my.label=v ug=1",
      ];
      const got = await poll("the file sink has every point", async () => {
        const lines = utf8.lines().map(withoutTime);
        const missing = expected.filter((l) => !lines.includes(l));
        if (missing.length > 0) throw new Error(`missing ${JSON.stringify(missing)} in:\n${lines.join("\n")}`);
        return lines;
      });
      expect(got.filter((l) => expected.includes(l)).sort()).to.deep.equal([...expected].sort());
    });

    describe("into a real Prometheus 2.42 (remote write) and a real InfluxDB 1.6", () => {
      let prom: RunningPrometheus;
      let influx: RunningBackend;
      let agent: RunningTestAgent;
      before(async function () {
        this.timeout(60_000);
        [prom, influx] = await Promise.all([startPrometheus(), startInfluxDB()]);
        const created = await fetch(`${influx.url}/query`, { method: "POST", body: new URLSearchParams({ q: "CREATE DATABASE pushkit" }) });
        expect(created.status).to.equal(200);
        agent = await start({
          conf: {
            ...inputConf(),
            "agent.conf": [
              '[http]\nlisten = "127.0.0.1:0"\n[log]\nlevel = "debug"\nformat = "json"',
              `[[sinks.prometheus_remote_write]]\nurl = ${JSON.stringify(prom.writeUrl)}\nflush_interval = "50ms"`,
              `[[sinks.influxdb]]\nurl = "${influx.url}/write?db=pushkit&precision=ns"\nflush_interval = "50ms"\n`,
            ].join("\n"),
          },
        });
        // A protobuf push: UTF-8 names need no option.
        await push(agent, pb("PUT", "/metrics/job/otel", ...PB_OTEL));
      });
      after(async () => {
        await prom?.stop();
        await influx?.stop();
      });

      it("Prometheus gets the series with legacy names: http_server_duration_*, http_server_active_requests, my_label", async () => {
        const got = await poll("Prometheus has 5 series", async () => {
          const r = await prom.query('{__name__=~"http_.+"}');
          return r.length >= 5 ? r : undefined;
        });
        const rows = got.map((r: VectorSample) => `${JSON.stringify(Object.entries(r.metric).sort())} ${r.value[1]}`).sort();
        const row = (name: string, extra: [string, string][], value: string) =>
          `${JSON.stringify(([["__name__", name], ["job", "otel"], ["my_label", "v"], ...extra] as [string, string][]).sort())} ${value}`;
        expect(rows).to.deep.equal(
          [
            row("http_server_duration_bucket", [["le", "0.5"]], "3"),
            row("http_server_duration_bucket", [["le", "+Inf"]], "4"),
            row("http_server_duration_sum", [], "1.5"),
            row("http_server_duration_count", [], "4"),
            row("http_server_active_requests", [], "2"),
          ].sort(),
        );
        expect(agent.stderr()).not.to.include("backend refused");
      });

      it("InfluxDB gets the measurement http with the fields server.duration_* and server.active_requests, tag my.label", async () => {
        const query = async () => {
          const form = new URLSearchParams({ q: 'SELECT * FROM "http" GROUP BY *', db: "pushkit" });
          const res = await fetch(`${influx.url}/query`, { method: "POST", body: form });
          const text = await res.text();
          expect(res.status, text).to.equal(200);
          return (JSON.parse(text) as { results: { series?: { name: string; tags: Record<string, string>; columns: string[]; values: unknown[][] }[] }[] }).results[0].series ?? [];
        };
        const series = await poll("InfluxDB has the http series", async () => {
          const s = await query();
          return s.length >= 3 ? s : undefined;
        });
        const seen = series
          .flatMap((s) => {
            const tags = Object.entries(s.tags).filter(([, v]) => v !== "").map(([k, v]) => `${k}=${v}`).sort().join(",");
            return s.values.flatMap((v) => s.columns.map((c, i) => [c, v[i]] as const).filter(([c, x]) => c !== "time" && x !== null).map(([c, x]) => `${s.name},${tags} ${c}=${String(x)}`));
          })
          .sort();
        expect(seen).to.deep.equal(
          [
            "http,job=otel,my.label=v server.active_requests=2",
            "http,job=otel,my.label=v server.duration_count=4",
            "http,job=otel,my.label=v server.duration_sum=1.5",
            "http,job=otel,le=0.5,my.label=v server.duration_bucket=3",
            "http,job=otel,le=+Inf,my.label=v server.duration_bucket=4",
          ].sort(),
        );
        // The dotted field can be named in a query.
        const form = new URLSearchParams({ q: 'SELECT "server.active_requests" FROM "http" WHERE "my.label" = \'v\'', db: "pushkit" });
        const res = await fetch(`${influx.url}/query`, { method: "POST", body: form });
        const doc = (await res.json()) as { results: { series?: { columns: string[]; values: unknown[][] }[] }[] };
        expect(doc.results[0].series?.[0].columns).to.deep.equal(["time", "server.active_requests"]);
        expect(doc.results[0].series?.[0].values.map((v) => v[1])).to.deep.equal([2]);
        expect(agent.stderr()).not.to.include("sink write failed");
      });
    });
  });

  // -------------------------------------------------------------------------------------------

  describe("a refused first push to a new group, next to the reference Pushgateway 1.5.1", () => {
    let reference: RunningReference;
    before(async () => {
      reference = await startReference();
    });
    after(async () => {
      await reference?.stop();
    });

    /** The groups of the clash-* jobs: API and scrape (push-time gauges zero / non-zero). */
    function clashOnly(s: Snapshot): { api: Snapshot["api"]; series: Record<string, string> } {
      const series = maskTimes(s.exposition.series);
      return {
        api: s.api.filter((g) => g.labels.job.startsWith("clash-")),
        series: Object.fromEntries(Object.entries(series).filter(([k]) => k.includes('job="clash-'))),
      };
    }

    async function both(req: Req, status: number): Promise<{ pushkit: ReturnType<typeof clashOnly>; reference: ReturnType<typeof clashOnly> }> {
      const [pk, ref] = await Promise.all([sendReq(plain.url, "", req), sendReq(reference.url, "", req)]);
      expect([pk.status, ref.status], `${req.method} ${req.path}: pushkit ${pk.text} / reference ${ref.text}`).to.deep.equal([status, status]);
      const [p, r] = await Promise.all([snapshot(plain.url, "", pushkitOwn), snapshot(reference.url, "", referenceOwn)]);
      return { pushkit: clashOnly(p), reference: clashOnly(r) };
    }

    it("leaves the group empty, push_failure_time_seconds set and push_time_seconds 0, as the reference does", async () => {
      await both(put("/metrics/job/clash-a", "# TYPE x counter\nx 1\n"), 200);
      const refused = await both(put("/metrics/job/clash-b", "# TYPE x gauge\nx 1\n"), 400);
      expect(refused.pushkit.series).to.deep.equal({
        'push_failure_time_seconds{instance="",job="clash-a"}': "0",
        'push_failure_time_seconds{instance="",job="clash-b"}': "non-zero",
        'push_time_seconds{instance="",job="clash-a"}': "non-zero",
        'push_time_seconds{instance="",job="clash-b"}': "0",
        'x{instance="",job="clash-a"}': "1",
      });
      const b = refused.pushkit.api.find((g) => g.labels.job === "clash-b")!;
      expect([b.labels, b.last_push_successful, Object.keys(b.families)]).to.deep.equal([{ job: "clash-b" }, false, ["push_failure_time_seconds", "push_time_seconds"]]);
      expect(refused.pushkit).to.deep.equal(refused.reference);
      // The raw values: a failure time of now, a push time of exactly 0.
      const text = (await scrape(plain)).text;
      const failure = Number(text.split("\n").find((l) => l.startsWith('push_failure_time_seconds{instance="",job="clash-b"} '))!.split(" ")[1]);
      expect(failure * 1000).to.be.within(Date.now() - 60_000, Date.now() + 1000);
      expect(text.split("\n")).to.include('push_time_seconds{instance="",job="clash-b"} 0');
    });

    it("a push that does not parse (a quoted UTF-8 name) leaves no group on either; a later good push to the refused group succeeds on both", async () => {
      const unparsed = await both(put("/metrics/job/clash-c", '{"my.metric"} 1\n'), 400);
      expect(unparsed.pushkit.api.map((g) => g.labels.job)).to.deep.equal(["clash-a", "clash-b"]);
      expect(unparsed.pushkit).to.deep.equal(unparsed.reference);
      const good = await both(post("/metrics/job/clash-b", "# TYPE y gauge\ny 2\n"), 200);
      expect(good.pushkit.series).to.include({
        'push_failure_time_seconds{instance="",job="clash-b"}': "non-zero",
        'push_time_seconds{instance="",job="clash-b"}': "non-zero",
        'y{instance="",job="clash-b"}': "2",
      });
      expect(good.pushkit.api.find((g) => g.labels.job === "clash-b")!.last_push_successful).to.equal(true);
      expect(good.pushkit).to.deep.equal(good.reference);
    });
  });
});
