// What a real Prometheus (Debian's 2.42) makes of the group store: it scrapes pushkit's
// <route_prefix>/metrics and the reference Pushgateway's /metrics (two scrape jobs,
// honor_labels: true, every second) after the same pushes to both (several groups, every
// metric type, a group deleted after it was scraped, an empty group, a refused push), and the
// same PromQL queries, restricted to one scrape job by its target label `src`, must give the
// same series and values on both. Prometheus asks for OpenMetrics first: pushkit answers
// OpenMetrics, the reference (1.5.1) text 0.0.4; the series must be the same nevertheless.
//
// Compared: labels without the target label `src` and without `job` / `instance` when they are
// the scrape job's own target labels (honor_labels keeps the pushed job and instance); values
// as Prometheus prints them, push_time_seconds / push_failure_time_seconds masked to zero /
// non-zero (the two servers were pushed to at slightly different times).
import { expect } from "chai";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { encodeFamilies, PROTOBUF_CONTENT_TYPE } from "../support/protobuf.ts";
import type { VectorSample } from "../support/prometheus.ts";
import { closeConnections, send } from "../support/reference-peer.ts";
import {
  del,
  post,
  put,
  PUSHKIT_PREFIX,
  PUSHKIT_STORE_CONF,
  sendReq,
  startReferenceWithAdmin,
  startScrapingPrometheus,
  zeroOrNot,
  type Peer,
  type Req,
  type ScrapingPrometheus,
} from "../support/store-sequences.ts";

/** The Accept header Prometheus 2.42 sends with every scrape (as captured from the Debian build). */
const PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

const SOURCES = { pushkit: "pushkit", reference: "reference" } as const;
type Source = keyof typeof SOURCES;

const API_A = `# HELP sp_requests_total Requests.
# TYPE sp_requests_total counter
sp_requests_total{code="200"} 1027
sp_requests_total{code="500"} 3
# TYPE sp_errors counter
sp_errors 4
# HELP sp_temperature Temperature.
# TYPE sp_temperature gauge
sp_temperature 21.5
sp_untyped 7
# HELP sp_rpc_seconds RPC latency.
# TYPE sp_rpc_seconds summary
sp_rpc_seconds{quantile="0.5"} 0.05
sp_rpc_seconds{quantile="0.9"} 0.1
sp_rpc_seconds{quantile="0.99"} 0.25
sp_rpc_seconds_sum 17.5
sp_rpc_seconds_count 200
# HELP sp_latency_seconds Request latency.
# TYPE sp_latency_seconds histogram
sp_latency_seconds_bucket{le="0.1"} 3
sp_latency_seconds_bucket{le="0.5"} 5
sp_latency_seconds_bucket{le="1"} 6
sp_latency_seconds_bucket{le="+Inf"} 7
sp_latency_seconds_sum 3.25
sp_latency_seconds_count 7
# TYPE sp_ratio gauge
sp_ratio{kind="nan"} NaN
sp_ratio{kind="inf"} +Inf
sp_ratio{kind="esc",path="a\\"b\\\\c\\nd",utf="Προμηθεύς"} -1e-06
`;

const API_B = `# TYPE sp_requests_total counter
sp_requests_total{code="200"} 500
# TYPE sp_errors counter
sp_errors 1
# TYPE sp_temperature gauge
sp_temperature -3.5
# TYPE sp_rpc_seconds summary
sp_rpc_seconds{quantile="0.5"} 0.5
sp_rpc_seconds{quantile="0.9"} 0.7
sp_rpc_seconds{quantile="0.99"} 1.25
sp_rpc_seconds_sum 100
sp_rpc_seconds_count 120
# TYPE sp_latency_seconds histogram
sp_latency_seconds_bucket{le="0.1"} 0
sp_latency_seconds_bucket{le="0.5"} 2
sp_latency_seconds_bucket{le="1"} 9
sp_latency_seconds_bucket{le="+Inf"} 10
sp_latency_seconds_sum 8
sp_latency_seconds_count 10
`;

const BATCH: Req = {
  method: "PUT",
  path: "/metrics/job/batch/suite/sp",
  headers: { "Content-Type": PROTOBUF_CONTENT_TYPE },
  body: encodeFamilies(
    { name: "sp_requests_total", type: 0, metric: [{ label: [{ name: "code", value: "200" }], counter: { value: 5 } }] },
    { name: "sp_last_success_seconds", help: "Last success.", type: 1, metric: [{ gauge: { value: 1.7e9 } }] },
    { name: "sp_untyped", type: 3, metric: [{ label: [{ name: "kind", value: "pb" }], untyped: { value: 42 } }] },
    { name: "sp_rpc_seconds", type: 2, metric: [{ summary: { sample_count: 9, sample_sum: 1.5, quantile: [{ quantile: 0.5, value: 0.125 }, { quantile: 0.99, value: 0.75 }] } }] },
    // No +Inf bucket: implied by the sample count.
    { name: "sp_latency_seconds", type: 4, metric: [{ histogram: { sample_count: 4, sample_sum: 1, bucket: [{ upper_bound: 0.1, cumulative_count: 1 }, { upper_bound: 0.5, cumulative_count: 3 }] } }] },
  ),
};

interface Push {
  req: Req;
  status: number;
}

const BEFORE_DELETE: Push[] = [
  { req: put("/metrics/job/api/suite/sp/instance/a", API_A), status: 200 },
  { req: put("/metrics/job/api/suite/sp/instance/b", API_B), status: 200 },
  { req: BATCH, status: 200 },
  { req: put("/metrics/job/gone/suite/sp", '# TYPE sp_requests_total counter\nsp_requests_total{code="200"} 99\nsp_gone_only 1\n'), status: 200 },
];

const AFTER_DELETE: Push[] = [
  { req: del("/metrics/job/gone/suite/sp"), status: 202 },
  { req: post("/metrics/job/api/suite/sp/instance/a", "# TYPE sp_temperature gauge\nsp_temperature 22\n"), status: 200 },
  { req: put("/metrics/job/empty/suite/sp"), status: 200 },
  // Refused by both (type clash with the gauge of the other groups): only the failure time of {job=batch} changes.
  { req: post("/metrics/job/batch/suite/sp", "# TYPE sp_temperature counter\nsp_temperature 1\n"), status: 400 },
];

interface Query {
  expr: (src: string) => string;
  /** Values of push-time gauges differ between the servers: compare zero / non-zero. */
  maskValues?: boolean;
  /** The answer is expected to be empty (else non-empty). */
  empty?: boolean;
}

const QUERIES: Query[] = [
  { expr: (s) => `{suite="sp",src="${s}"}`, maskValues: true },
  { expr: (s) => `{__name__=~"sp_.+",job!="",src="${s}"}` },
  { expr: (s) => `sum by (job) (sp_requests_total{src="${s}"})` },
  { expr: (s) => `sum by (job, instance, code) (sp_requests_total{src="${s}"})` },
  { expr: (s) => `histogram_quantile(0.9, sum by (job, le) (sp_latency_seconds_bucket{src="${s}"}))` },
  { expr: (s) => `histogram_quantile(0.5, sp_latency_seconds_bucket{src="${s}"})` },
  { expr: (s) => `sp_latency_seconds_sum{src="${s}"} / sp_latency_seconds_count{src="${s}"}` },
  { expr: (s) => `sp_rpc_seconds{quantile="0.99",src="${s}"}` },
  { expr: (s) => `sp_rpc_seconds_count{src="${s}"}` },
  { expr: (s) => `sp_ratio{src="${s}"}` },
  { expr: (s) => `sp_errors{src="${s}"} + sp_untyped{src="${s}"}` },
  { expr: (s) => `{__name__=~"sp_untyped|sp_temperature|sp_last_success_seconds",src="${s}"}` },
  { expr: (s) => `count by (__name__) ({suite="sp",src="${s}"})` },
  { expr: (s) => `push_time_seconds{suite="sp",src="${s}"} > 0`, maskValues: true },
  { expr: (s) => `push_failure_time_seconds{suite="sp",src="${s}"} > 0`, maskValues: true },
  { expr: (s) => `push_failure_time_seconds{suite="sp",src="${s}"} == 0`, maskValues: true },
  { expr: (s) => `{job="gone",src="${s}"}`, empty: true },
  { expr: (s) => `absent(sp_gone_only{src="${s}"})` },
];

function hostPort(url: string): string {
  return new URL(url).host;
}

describe("group store: a real Prometheus 2.42 scrapes pushkit and the reference alike", function () {
  this.timeout(30_000);
  let reference: Peer | undefined;
  let agent: RunningTestAgent | undefined;
  let prometheus: ScrapingPrometheus | undefined;
  const targets = {} as Record<Source, { job: string; address: string }>;

  before(async function () {
    this.timeout(120_000);
    [reference, agent] = await Promise.all([startReferenceWithAdmin(), startTestAgent({ conf: { "inputs/pushgateway.conf": PUSHKIT_STORE_CONF } })]);
    targets.pushkit = { job: "scrape-pushkit", address: hostPort(agent.url) };
    targets.reference = { job: "scrape-reference", address: reference.address };
    prometheus = await startScrapingPrometheus([
      { name: targets.pushkit.job, target: targets.pushkit.address, metricsPath: `${PUSHKIT_PREFIX}/metrics`, labels: { src: SOURCES.pushkit } },
      { name: targets.reference.job, target: targets.reference.address, metricsPath: "/metrics", labels: { src: SOURCES.reference } },
    ]);
  });

  after(async () => {
    await prometheus?.stop();
    await reference?.stop();
    agent?.cleanup();
    closeConnections();
  });

  async function pushBoth(list: Push[]): Promise<void> {
    for (const p of list) {
      const [pk, ref] = await Promise.all([sendReq(agent!.url, PUSHKIT_PREFIX, p.req), sendReq(reference!.url, "", p.req)]);
      expect([pk.status, ref.status], `${p.req.method} ${p.req.path}: pushkit ${pk.status} ${pk.text} / reference ${ref.status} ${ref.text}`).to.deep.equal([p.status, p.status]);
    }
  }

  /** Waits until both targets were scraped (successfully) after now. */
  async function scrapedAfterNow(): Promise<void> {
    const since = Date.now() / 1000;
    const until = Date.now() + 15_000;
    for (;;) {
      // timestamp(): when the last scrape started; a scrape that started after the pushes saw them all.
      const scraped = await prometheus!.query(`timestamp(up{src=~"pushkit|reference"})`);
      if (scraped.filter((u) => Number(u.value[1]) > since).length === 2) {
        const ups = await prometheus!.query(`up{src=~"pushkit|reference"}`);
        const down = ups.filter((u) => u.value[1] !== "1");
        expect(down.map((u) => u.metric), `a target could not be scraped: ${JSON.stringify(down)}`).to.deep.equal([]);
        return;
      }
      if (Date.now() > until) throw new Error(`not both targets were scraped within 15 s: ${JSON.stringify(scraped)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  function normalise(src: Source, result: VectorSample[], mask: boolean): string[] {
    const t = targets[src];
    return result
      .map((r) => {
        const labels = Object.entries(r.metric)
          .filter(([k, v]) => k !== "src" && !(k === "job" && v === t.job) && !(k === "instance" && v === t.address))
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return `${JSON.stringify(labels)} ${mask ? zeroOrNot(r.value[1]) : r.value[1]}`;
      })
      .sort();
  }

  it("pushkit answers Prometheus 2.42's Accept header with OpenMetrics, the reference with text 0.0.4", async () => {
    const headers = { Accept: PROMETHEUS_ACCEPT };
    const [pk, ref] = await Promise.all([
      send(agent!.url, { method: "GET", path: `${PUSHKIT_PREFIX}/metrics`, headers }),
      send(reference!.url, { method: "GET", path: "/metrics", headers }),
    ]);
    expect([pk.status, pk.headers["content-type"]]).to.deep.equal([200, "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"]);
    expect([ref.status, ref.headers["content-type"]]).to.deep.equal([200, "text/plain; version=0.0.4; charset=utf-8"]);
  });

  it("both targets are up and serve the group that is later deleted", async function () {
    this.timeout(30_000);
    await pushBoth(BEFORE_DELETE);
    await scrapedAfterNow();
    const pk = await prometheus!.query(`sp_gone_only{src="pushkit"}`);
    const ref = await prometheus!.query(`sp_gone_only{src="reference"}`);
    expect(ref.map((r) => [r.metric.job, r.metric.suite, r.value[1]]), "the reference's series").to.deep.equal([["gone", "sp", "1"]]);
    expect(normalise("pushkit", pk, false)).to.deep.equal(normalise("reference", ref, false));
  });

  describe("after the delete and the other pushes, the same PromQL gives the same series on both", () => {
    let timeMs = 0;
    before(async function () {
      this.timeout(30_000);
      await pushBoth(AFTER_DELETE);
      await scrapedAfterNow();
      timeMs = Date.now();
    });

    for (const q of QUERIES) {
      it(q.expr("<src>"), async () => {
        const [pk, ref] = await Promise.all([prometheus!.query(q.expr(SOURCES.pushkit), timeMs), prometheus!.query(q.expr(SOURCES.reference), timeMs)]);
        const r = normalise("reference", ref, Boolean(q.maskValues));
        if (q.empty) expect(r, "the reference's answer").to.deep.equal([]);
        else expect(r.length, "the reference's answer is empty: the query tests nothing").to.be.greaterThan(0);
        expect(normalise("pushkit", pk, Boolean(q.maskValues)), `pushkit's series (left) against the reference's (right) for ${q.expr(SOURCES.pushkit)}`).to.deep.equal(r);
      });
    }
  });
});
