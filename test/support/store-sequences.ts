// Shared by test/integration/store-side-by-side.test.ts and store-prometheus.test.ts: the
// request sequences replayed against the reference Pushgateway (Debian's 1.5.1) and pushkit's
// group store, the reference started with its admin API, a real Prometheus with scrape jobs,
// and the normalisation of what both serve (GET /api/v1/metrics, GET /metrics) so that two
// servers' answers can be compared.
//
// The sequences are facts only: what is sent, and `features` naming what is special about a
// step. Which differences are on purpose is decided by the table at the top of the side-by-side
// test, not here. Paths are relative to the route prefix (pushkit runs with one, the reference
// without).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { encodeFamilies, PROTOBUF_CONTENT_TYPE, type FamilyObject } from "./protobuf.ts";
import { b64url } from "./reference-corpus.ts";
import { send, startReference, type Answer } from "./reference-peer.ts";
import { PROMETHEUS_BINARY, type VectorSample } from "./prometheus.ts";
import { freePort } from "./backends.ts";
export { freePort };

// ---- Requests and sequences ------------------------------------------------------------------

export interface Req {
  method: "PUT" | "POST" | "DELETE";
  /** Relative to the route prefix, sent byte for byte. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface Step {
  /** Unique, e.g. "crud-07"; the difference table and failure messages name steps by it. */
  id: string;
  note: string;
  request: Req;
  /** What is special about the step, for the difference table (e.g. "timestamps"). */
  features: string[];
  /**
   * What the reference is sent instead when learning the state pushkit must hold after this
   * step: a request, or "skip" (nothing). Only steps where pushkit differs on purpose have one.
   */
  referenceEquivalent?: Req | "skip";
  /**
   * The samples pushkit must expose WITH a timestamp after this step (series key -> ms), when
   * that changes with this step; the reference never exposes timestamps. Starts empty.
   */
  pushkitTimestamps?: Record<string, string>;
  /** Series of the reference's GET /metrics (raw values) a difference's check looks at. */
  probe?: Record<string, string>;
}

export interface Sequence {
  name: string;
  note: string;
  steps: Step[];
}

export const text = (method: Req["method"], p: string, body: string): Req => ({ method, path: p, headers: {}, body: Buffer.from(body) });
export const put = (p: string, body = "") => text("PUT", p, body);
export const post = (p: string, body = "") => text("POST", p, body);
export const del = (p: string): Req => ({ method: "DELETE", path: p, headers: {} });
export const wipe = (): Req => ({ method: "PUT", path: "/api/v1/admin/wipe", headers: {} });
export const pb = (method: Req["method"], p: string, ...families: FamilyObject[]): Req => ({
  method,
  path: p,
  headers: { "Content-Type": PROTOBUF_CONTENT_TYPE },
  body: encodeFamilies(...families),
});

/** A push the reference refuses before any consistency check and that only marks the (existing) group failed. */
const failOnly = (p: string): Req => post(p, "store_seq_failure_marker 1 1700000000000\n");

const COUNTER = 0;
const GAUGE = 1;
const SUMMARY = 2;
const UNTYPED = 3;
const HISTOGRAM = 4;

const ALL_TYPES_TEXT = `# HELP st_counter_total A counter.
# TYPE st_counter_total counter
st_counter_total{l="x"} 1e+21
st_counter_total{l="y"} 3
# TYPE st_gauge gauge
st_gauge 100000
st_untyped 0.1
# HELP st_summary A summary.
# TYPE st_summary summary
st_summary{quantile="0.5"} 1.5
st_summary{quantile="0.99"} NaN
st_summary_sum 10.25
st_summary_count 7
# HELP st_hist A histogram.
# TYPE st_hist histogram
st_hist_bucket{le="0.1"} 1
st_hist_bucket{le="1"} 3
st_hist_bucket{le="+Inf"} 4
st_hist_sum 2.5e-07
st_hist_count 4
`;

const ALL_TYPES_TEXT_B = `# HELP st_counter_total Another help for the same counter.
# TYPE st_counter_total counter
st_counter_total{l="x"} 5
# TYPE st_gauge gauge
st_gauge{path="a\\"b\\\\c\\nd",utf="Προμηθεύς"} -Inf
st_gauge{path="plain"} 1.2345678e+07
st_untyped{l="z"} +Inf
# TYPE st_summary summary
st_summary{quantile="0.5"} 2
st_summary_sum 4
st_summary_count 2
# TYPE st_hist histogram
st_hist_bucket{le="0.1"} 0
st_hist_bucket{le="1"} 2
st_hist_bucket{le="+Inf"} 2
st_hist_sum 1.5
st_hist_count 2
`;

const PB_ALL_TYPES: FamilyObject[] = [
  { name: "pb_counter_total", help: "A protobuf counter.", type: COUNTER, metric: [{ label: [{ name: "code", value: "200" }], counter: { value: 1027 } }] },
  { name: "pb_gauge", type: GAUGE, metric: [{ label: [{ name: "room", value: "a b,c=d" }], gauge: { value: -3.5 } }] },
  { name: "pb_untyped", type: UNTYPED, metric: [{ untyped: { value: 42 } }] },
  {
    name: "pb_summary",
    help: "A protobuf summary.",
    type: SUMMARY,
    metric: [{ summary: { sample_count: 200, sample_sum: 17.5, quantile: [{ quantile: 0.5, value: 0.05 }, { quantile: 0.99, value: 0.25 }, { quantile: 1e-5, value: 0.01 }] } }],
  },
  {
    // No +Inf bucket: protobuf leaves it implied by the sample count.
    name: "pb_hist",
    type: HISTOGRAM,
    metric: [{ histogram: { sample_count: 5, sample_sum: 2, bucket: [{ upper_bound: 0.5, cumulative_count: 2 }, { upper_bound: 1, cumulative_count: 4 }] } }],
  },
];

const histogramWithLe = (): FamilyObject => ({
  name: "whq",
  type: HISTOGRAM,
  metric: [{ label: [{ name: "le", value: "1" }], histogram: { sample_count: 1, sample_sum: 2, bucket: [{ upper_bound: 1, cumulative_count: 1 }] } }],
});

const B64_JOB = b64url("s3/x");
const B64_PATH = b64url("/var/tmp");
const B64_UTF = b64url("Προμηθεύς");

/** Every sequence starts from an empty store (the runner wipes both servers first). */
export function buildSequences(): Sequence[] {
  const seqs: Sequence[] = [];
  type StepInput = Omit<Step, "id" | "features"> & { features?: string[] };
  const seq = (name: string, note: string, steps: StepInput[]) =>
    seqs.push({ name, note, steps: steps.map((s, i) => ({ ...s, features: s.features ?? [], id: `${name}-${String(i + 1).padStart(2, "0")}` })) });

  seq("crud", "PUT/POST/DELETE across several groups sharing metric names", [
    {
      note: "PUT a new group {job=s1a}",
      request: put("/metrics/job/s1a", '# HELP sq_requests_total Requests handled.\n# TYPE sq_requests_total counter\nsq_requests_total{code="200"} 10\nsq_requests_total{code="500"} 1\n# TYPE sq_temp gauge\nsq_temp 21.5\nsq_plain 3\n'),
    },
    {
      note: "PUT {job=s1b,instance=i1}: the same names, other values",
      request: put("/metrics/job/s1b/instance/i1", '# HELP sq_requests_total Requests handled.\n# TYPE sq_requests_total counter\nsq_requests_total{code="200"} 20\n# TYPE sq_temp gauge\nsq_temp -3.5\nsq_plain 4\n'),
    },
    { note: "POST replaces only sq_temp of {job=s1a}", request: post("/metrics/job/s1a", "# TYPE sq_temp gauge\nsq_temp 22\n") },
    { note: "POST adds a family to {job=s1b,instance=i1}", request: post("/metrics/job/s1b/instance/i1", "sq_new 1\n") },
    { note: "PUT replaces every family of {job=s1a}", request: put("/metrics/job/s1a", "sq_only 1\n") },
    { note: "DELETE {job=s1b}: absent, {job=s1b,instance=i1} stays", request: del("/metrics/job/s1b") },
    { note: "PUT {job=s1b} beside {job=s1b,instance=i1}", request: put("/metrics/job/s1b", "# TYPE sq_temp gauge\nsq_temp 5\n") },
    { note: "DELETE {job=s1b} leaves {job=s1b,instance=i1}", request: del("/metrics/job/s1b") },
    { note: "empty POST creates {job=s1c} with its push-time gauges only", request: post("/metrics/job/s1c") },
    { note: "empty PUT empties {job=s1b,instance=i1}", request: put("/metrics/job/s1b/instance/i1") },
    { note: "empty POST keeps the families of {job=s1a}", request: post("/metrics/job/s1a") },
    { note: "DELETE {job=s1c}", request: del("/metrics/job/s1c") },
    { note: "DELETE {job=s1c} again: absent, 202", request: del("/metrics/job/s1c") },
    {
      note: "grouping labels override body labels (job, zone), body instance kept",
      request: put("/metrics/job/s1a/zone/z1", 'sq_x{job="other",zone="body",instance="bi",foo="bar"} 1\nsq_y{job="other"} 2\n'),
    },
    { note: "POST replaces the family sq_x wholesale", request: post("/metrics/job/s1a/zone/z1", 'sq_x{foo="baz"} 3\n') },
    { note: "wipe in the middle of a sequence", request: wipe() },
    { note: "PUT after the wipe", request: put("/metrics/job/s1a", "sq_only 2\n") },
  ]);

  seq("types", "every metric type, in text and protobuf; POST replacing a family; HELP per group", [
    { note: "PUT every type (text)", request: put("/metrics/job/s2/instance/a", ALL_TYPES_TEXT) },
    { note: "PUT the same names in another group, other HELP, escaped and UTF-8 label values, ±Inf", request: put("/metrics/job/s2/instance/b", ALL_TYPES_TEXT_B) },
    { note: "POST a family of two metrics", request: post("/metrics/job/s2/instance/a", 'st_fam{l="1"} 1\nst_fam{l="2"} 2\n') },
    { note: "POST the family again with one metric: replaced wholesale", request: post("/metrics/job/s2/instance/a", 'st_fam{l="3"} 3\n') },
    { note: "POST every type (protobuf), histogram without +Inf bucket", request: pb("POST", "/metrics/job/s2/instance/a", ...PB_ALL_TYPES), features: ["protobuf-implied-inf"] },
    {
      note: "POST a protobuf histogram replacing the text one",
      request: pb("POST", "/metrics/job/s2/instance/a", {
        name: "st_hist",
        help: "A histogram.",
        type: HISTOGRAM,
        metric: [{ histogram: { sample_count: 9, sample_sum: 4.5, bucket: [{ upper_bound: 0.25, cumulative_count: 3 }, { upper_bound: 2, cumulative_count: 8 }, { upper_bound: Infinity, cumulative_count: 9 }] } }],
      }),
    },
    { note: "a gauge x_bucket beside a summary x is allowed", request: post("/metrics/job/s2/instance/b", "# TYPE st_summary_bucket gauge\nst_summary_bucket 1\n") },
    {
      note: "one protobuf body with a family twice: the last wins",
      request: pb("POST", "/metrics/job/s2/instance/b", { name: "st_twice", type: GAUGE, metric: [{ gauge: { value: 1 } }] }, { name: "st_twice", type: GAUGE, metric: [{ gauge: { value: 2 } }] }),
    },
    { note: "a protobuf family without metrics", request: pb("POST", "/metrics/job/s2/instance/b", { name: "st_none", type: GAUGE, metric: [] }), features: ["protobuf-empty-family"] },
    {
      note: "a protobuf family without metrics replaces its namesake",
      request: pb("POST", "/metrics/job/s2/instance/b", { name: "st_twice", type: GAUGE, metric: [] }),
      features: ["protobuf-empty-family"],
    },
    { note: "PUT a summary with a quantile of NaN and no sum", request: put("/metrics/job/s2/instance/c", '# TYPE st_sum2 summary\nst_sum2{quantile="0.9"} NaN\nst_sum2_count 0\n') },
    { note: "DELETE by base64 path {job=s2,instance=b}", request: del(`/metrics/job@base64/${b64url("s2")}/instance@base64/${b64url("b")}`) },
  ]);

  seq("base64", "base64 grouping values", [
    { note: "job and a label value with a slash, base64", request: put(`/metrics/job@base64/${B64_JOB}/path@base64/${B64_PATH}`, "sb_g 1\n") },
    { note: "UTF-8 label value in base64, shared name", request: post(`/metrics/job/s3/utf@base64/${B64_UTF}`, "sb_g 2\n") },
    { note: "job@base64 with padding", request: put("/metrics/job@base64/YQ==", "sb_g 3\n") },
    { note: "a grouping label with an empty value (base64 =)", request: put("/metrics/job/s3b/e@base64/=", "sb_e 1\n") },
    { note: "PUT to the same group by its plain path", request: put("/metrics/job/a", "sb_g 4\n") },
    { note: "DELETE by base64 path with padding", request: del(`/metrics/job@base64/${B64_JOB}==/path@base64/${B64_PATH}=`) },
  ]);

  seq("refused", "pushes both refuse, to existing groups: only their failure time changes", [
    {
      note: "PUT {job=r1}: counter rx, summary rs, histogram rh, gauge rg_count",
      request: put(
        "/metrics/job/r1",
        '# TYPE rx counter\nrx 1\n# TYPE rs summary\nrs_sum 1\nrs_count 2\n# TYPE rh histogram\nrh_bucket{le="1"} 1\nrh_bucket{le="+Inf"} 2\nrh_sum 3\nrh_count 2\n# TYPE rg_count gauge\nrg_count 1\n',
      ),
    },
    { note: "PUT {job=r2,instance=x}", request: put("/metrics/job/r2/instance/x", "rz 1\n") },
    { note: "PUT {job=r2}", request: put("/metrics/job/r2", "r2_ok 1\n") },
    { note: "type clash across groups (gauge rx, counter in r1)", request: put("/metrics/job/r2", "# TYPE rx gauge\nrx 1\n") },
    { note: "the same series in two groups ({job=r2,instance=x} holds rz{instance=x})", request: put("/metrics/job/r2", 'rz{instance="x"} 2\n') },
    { note: "gauge rs_count beside summary rs", request: post("/metrics/job/r2", "# TYPE rs_count gauge\nrs_count 1\n") },
    { note: "gauge rh_bucket beside histogram rh", request: post("/metrics/job/r2", "# TYPE rh_bucket gauge\nrh_bucket 1\n") },
    { note: "gauge rh_sum beside histogram rh", request: post("/metrics/job/r2", "# TYPE rh_sum gauge\nrh_sum 1\n") },
    { note: "summary rg beside gauge rg_count", request: post("/metrics/job/r2", "# TYPE rg summary\nrg_sum 1\nrg_count 1\n") },
    { note: "histogram rg beside gauge rg_count (protobuf)", request: pb("POST", "/metrics/job/r2", { name: "rg", type: HISTOGRAM, metric: [{ histogram: { sample_count: 1, sample_sum: 1, bucket: [] } }] }) },
    {
      note: "summary with an explicit quantile label (protobuf)",
      request: pb("POST", "/metrics/job/r2", { name: "rq", type: SUMMARY, metric: [{ label: [{ name: "quantile", value: "0.5" }], summary: { sample_count: 1, sample_sum: 2, quantile: [{ quantile: 0.5, value: 1 }] } }] }),
    },
    { note: "the same series twice in one body", request: post("/metrics/job/r2", "rdup 1\nrdup 2\n") },
    { note: "protobuf gauge family holding a counter metric", request: pb("POST", "/metrics/job/r2", { name: "rmix", type: GAUGE, metric: [{ counter: { value: 2 } }] }) },
    { note: "a later good push: last_push_successful again, failure time kept", request: post("/metrics/job/r2", "r2_ok 5\n") },
    { note: "PUT {job=r1} changes the type of rx, which no other group holds", request: put("/metrics/job/r1", "# TYPE rx gauge\nrx 1\n") },
    { note: "now gauge rx fits in {job=r2}", request: put("/metrics/job/r2", '# TYPE rx gauge\nrx{a="1"} 1\n') },
    { note: "DELETE {job=r2,instance=x}", request: del("/metrics/job/r2/instance/x") },
    { note: "now rz{instance=x} fits in {job=r2}", request: post("/metrics/job/r2", 'rz{instance="x"} 2\n') },
  ]);

  seq("names", "suffix collisions and type changes as groups are replaced, deleted and wiped", [
    {
      note: "PUT {job=m1}: summary mq, gauge mhb_bucket, gauges mok and mok_count (allowed together)",
      request: put("/metrics/job/m1", "# TYPE mq summary\nmq_sum 1\nmq_count 1\n# TYPE mhb_bucket gauge\nmhb_bucket 1\n# TYPE mok gauge\nmok 1\n# TYPE mok_count gauge\nmok_count 2\n"),
    },
    { note: "gauge mq_count beside summary mq in the same group", request: post("/metrics/job/m1", "# TYPE mq_count gauge\nmq_count 1\n") },
    { note: "PUT {job=m2}", request: put("/metrics/job/m2", "m2_ok 1\n") },
    { note: "histogram mhb beside gauge mhb_bucket of {job=m1}", request: post("/metrics/job/m2", '# TYPE mhb histogram\nmhb_bucket{le="+Inf"} 1\nmhb_sum 1\nmhb_count 1\n') },
    { note: "PUT {job=m1} replaces summary mq by gauge mq_count (and drops mhb_bucket)", request: put("/metrics/job/m1", "# TYPE mq_count gauge\nmq_count 5\n") },
    { note: "now histogram mhb fits", request: post("/metrics/job/m2", '# TYPE mhb histogram\nmhb_bucket{le="+Inf"} 1\nmhb_sum 1\nmhb_count 1\n') },
    { note: "a quantile label on a gauge, an le label on a counter", request: post("/metrics/job/m2", '# TYPE mz gauge\nmz{quantile="0.5"} 1\n# TYPE mc counter\nmc{le="1"} 2\n') },
    { note: "gauge y_count, then summary y in one body", request: post("/metrics/job/m2", "# TYPE y_count gauge\ny_count 1\n# TYPE y summary\ny_sum 1\ny_count 3\n") },
    { note: "summary mq beside gauge mq_count of {job=m1}", request: post("/metrics/job/m2", "# TYPE mq summary\nmq_sum 2\nmq_count 2\n") },
    { note: "DELETE {job=m1}", request: del("/metrics/job/m1") },
    { note: "now summary mq fits", request: post("/metrics/job/m2", "# TYPE mq summary\nmq_sum 2\nmq_count 2\n") },
    { note: "POST changes the type of mz, which no other group holds", request: post("/metrics/job/m2", "# TYPE mz counter\nmz 3\n") },
    { note: "wipe", request: wipe() },
    { note: "after the wipe, mhb may be a gauge", request: put("/metrics/job/m1", "# TYPE mhb gauge\nmhb 1\n") },
  ]);

  seq("refused-new", "a refused push to a new group, then other pushes", [
    { note: "PUT {job=n1} counter nx", request: put("/metrics/job/n1", "# TYPE nx counter\nnx 1\n") },
    { note: "type clash in a new group {job=n2}: left empty with its failure time, as the reference does", request: put("/metrics/job/n2", "# TYPE nx gauge\nnx 2\n") },
    { note: "a good push to {job=n1}", request: put("/metrics/job/n1", "# TYPE nx counter\nnx 3\n") },
    { note: "a good push to {job=n3}", request: post("/metrics/job/n3", "# TYPE nx counter\nnx 4\n") },
    { note: "DELETE {job=n2}", request: del("/metrics/job/n2") },
    { note: "PUT {job=n5,instance=x}", request: put("/metrics/job/n5/instance/x", "nd 1\n") },
    { note: "the same series in a new group {job=n5}: left empty with its failure time", request: put("/metrics/job/n5", 'nd{instance="x"} 2\n') },
    { note: "a good push to {job=n5,instance=x}", request: post("/metrics/job/n5/instance/x", "nd 3\n") },
  ]);

  seq("timestamps", "pushes with timestamps", [
    { note: "PUT {job=t1}", request: put("/metrics/job/t1", "tg 1\n") },
    {
      note: "PUT with a timestamp on one sample (text)",
      request: put("/metrics/job/t1", "# TYPE tg gauge\ntg 2 1700000000000\ntn 3\n"),
      features: ["timestamps"],
      referenceEquivalent: put("/metrics/job/t1", "# TYPE tg gauge\ntg 2\ntn 3\n"),
      pushkitTimestamps: { 'tg{instance="",job="t1"}': "1700000000000" },
    },
    {
      note: "POST with timestamp_ms to a new group (protobuf)",
      request: pb("POST", "/metrics/job/t2", { name: "tp", type: GAUGE, metric: [{ gauge: { value: 7 }, timestamp_ms: 1700000001000 }] }),
      features: ["timestamps"],
      referenceEquivalent: pb("POST", "/metrics/job/t2", { name: "tp", type: GAUGE, metric: [{ gauge: { value: 7 } }] }),
      pushkitTimestamps: { 'tg{instance="",job="t1"}': "1700000000000", 'tp{instance="",job="t2"}': "1700000001000" },
    },
    { note: "POST another family to {job=t1}", request: post("/metrics/job/t1", "tn 4\n") },
    { note: "PUT {job=t1} without timestamps", request: put("/metrics/job/t1", "tg 5\n"), pushkitTimestamps: { 'tp{instance="",job="t2"}': "1700000001000" } },
    { note: "DELETE {job=t2}", request: del("/metrics/job/t2"), pushkitTimestamps: {} },
  ]);

  seq("misstored", "pushes the reference accepts but stores wrongly", [
    { note: "PUT {job=w1}", request: put("/metrics/job/w1", "wg 1\n") },
    {
      note: "histogram with an explicit le label (protobuf)",
      request: pb("POST", "/metrics/job/w1", histogramWithLe()),
      features: ["histogram-le-label"],
      referenceEquivalent: failOnly("/metrics/job/w1"),
    },
    {
      note: "pushed push_time_seconds to an existing group",
      request: post("/metrics/job/w1", "push_time_seconds 5\n"),
      features: ["pushed-push-time"],
      referenceEquivalent: failOnly("/metrics/job/w1"),
      probe: { series: 'push_time_seconds{instance="",job="w1"}', pushed: "5" },
    },
    {
      note: "pushed push_failure_time_seconds with a label to an existing group",
      request: put("/metrics/job/w1", '# TYPE push_failure_time_seconds gauge\npush_failure_time_seconds{a="b"} 5\nwg 2\n'),
      features: ["pushed-push-failure-time"],
      referenceEquivalent: failOnly("/metrics/job/w1"),
      probe: { series: 'push_failure_time_seconds{instance="",job="w1"}', pushed: 'push_failure_time_seconds{a="b",instance="",job="w1"}' },
    },
    {
      note: "pushed push_time_seconds gauge to a new group",
      request: put("/metrics/job/w2", "# TYPE push_time_seconds gauge\npush_time_seconds 7\nwg2 1\n"),
      features: ["pushed-push-time"],
      // pushkit refuses it and leaves {job=w2} empty with its failure time, as a refused first push.
      referenceEquivalent: failOnly("/metrics/job/w2"),
      probe: { series: 'push_time_seconds{instance="",job="w2"}', pushed: "7" },
    },
    { note: "a good push to {job=w1}", request: post("/metrics/job/w1", "wg 3\n") },
    { note: "a good push to {job=w2}", request: post("/metrics/job/w2", "wg2 2\n") },
  ]);

  seq("poison", "the reference's store poisoning, sequence A (notes §5h)", [
    { note: "empty PUT {job=px}", request: put("/metrics/job/px") },
    {
      note: "push to {job=px,instance=} (instance@base64/=): its push-time gauges would be {job=px}'s",
      request: put("/metrics/job/px/instance@base64/=", "pa 1\n"),
      features: ["refused-new-group"],
      referenceEquivalent: "skip",
    },
    { note: "a push to another group {job=py}", request: put("/metrics/job/py", "pb 2\n"), features: ["poisoned"] },
    { note: "a push to {job=px}", request: post("/metrics/job/px", "pc 3\n"), features: ["poisoned"] },
    { note: "DELETE {job=py} (DELETE is not checked)", request: del("/metrics/job/py"), features: ["poisoned"] },
    { note: "DELETE {job=px,instance=}: the reference recovers", request: del("/metrics/job/px/instance/") },
    { note: "a push to {job=py} again", request: put("/metrics/job/py", "pb 4\n") },
  ]);

  seq("poison-reverse", "poisoning the other way round: {job=pz,instance=} first, then {job=pz}", [
    { note: "PUT {job=pz,instance=}", request: put("/metrics/job/pz/instance/", "pd 1\n") },
    { note: "PUT {job=pz}: its push-time gauges would be {job=pz,instance=}'s", request: put("/metrics/job/pz", "pe 1\n"), features: ["refused-new-group"], referenceEquivalent: "skip" },
    { note: "a push to {job=pw}", request: post("/metrics/job/pw", "pf 1\n"), features: ["poisoned"] },
    { note: "a push to {job=pz,instance=}", request: post("/metrics/job/pz/instance/", "pd 2\n"), features: ["poisoned"] },
    { note: "wipe: the reference recovers", request: wipe() },
    { note: "PUT {job=pz}", request: put("/metrics/job/pz", "pe 2\n") },
  ]);

  return seqs;
}

// ---- Snapshots: what a server holds after a step -----------------------------------------------

export interface ApiMetric {
  labels: Record<string, string>;
  [k: string]: unknown;
}

export interface ApiGroupRaw {
  labels: Record<string, string>;
  last_push_successful: boolean;
  [family: string]: unknown;
}

export interface NormalFamily {
  type: string;
  help?: string;
  metrics: ApiMetric[];
}

export interface NormalGroup {
  labels: Record<string, string>;
  last_push_successful: boolean;
  families: Record<string, NormalFamily>;
}

export const TIME_GAUGES = new Set(["push_time_seconds", "push_failure_time_seconds"]);

/** "0" stays "0", any other value becomes "non-zero". */
export const zeroOrNot = (v: string) => (Number(v) === 0 ? "0" : "non-zero");

function sortedObject<T>(o: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

/** Groups sorted by labels, time_stamp dropped, push-time gauge values masked to zero / non-zero. */
export function normaliseApi(data: ApiGroupRaw[]): NormalGroup[] {
  const groups = data.map((g) => {
    const families: Record<string, NormalFamily> = {};
    for (const [name, v] of Object.entries(g)) {
      if (name === "labels" || name === "last_push_successful") continue;
      const f = v as { type: string; help?: string; metrics: ApiMetric[] };
      const metrics = (f.metrics ?? []).map((m) => {
        const out: ApiMetric = { ...m, labels: sortedObject(m.labels) };
        if (TIME_GAUGES.has(name) && typeof m.value === "string") out.value = zeroOrNot(m.value);
        return sortedObject(out) as ApiMetric;
      });
      families[name] = { type: f.type, ...(f.help !== undefined ? { help: f.help } : {}), metrics };
    }
    return { labels: sortedObject(g.labels), last_push_successful: g.last_push_successful, families: sortedObject(families) };
  });
  const key = (g: NormalGroup) => JSON.stringify(Object.entries(g.labels));
  return groups.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export interface Exposition {
  /** Series key `name{l1="v1",...}` (labels sorted by name, values escaped as in the text format) -> value text. */
  series: Record<string, string>;
  /** Family name -> TYPE. */
  types: Record<string, string>;
  /** Series key -> timestamp text, for samples that carry one. */
  stamps: Record<string, string>;
}

function escapeValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

export function seriesKey(name: string, labels: [string, string][]): string {
  const sorted = [...labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return `${name}{${sorted.map(([n, v]) => `${n}="${escapeValue(v)}"`).join(",")}}`;
}

/**
 * Parses a text 0.0.4 exposition (as both servers write it) into series; families for which
 * `skip(name)` holds are left out. Throws on anything it cannot read.
 */
export function parseExposition(body: string, skip: (family: string) => boolean): Exposition {
  const out: Exposition = { series: {}, types: {}, stamps: {} };
  let family = "";
  for (const line of body.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) {
        family = m[1];
        if (!skip(family)) out.types[family] = m[2];
      }
      continue;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) throw new Error(`unreadable sample line: ${JSON.stringify(line)}`);
    const name = nameMatch[0];
    let i = name.length;
    const labels: [string, string][] = [];
    if (line[i] === "{") {
      i++;
      while (line[i] !== "}") {
        const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
        if (!ln || line[i + ln[0].length] !== "=" || line[i + ln[0].length + 1] !== '"') throw new Error(`unreadable labels at ${i}: ${JSON.stringify(line)}`);
        i += ln[0].length + 2;
        let v = "";
        while (line[i] !== '"') {
          if (i >= line.length) throw new Error(`unterminated label value: ${JSON.stringify(line)}`);
          if (line[i] === "\\") {
            const c = line[i + 1];
            v += c === "n" ? "\n" : c;
            i += 2;
          } else v += line[i++];
        }
        i++;
        labels.push([ln[0], v]);
        if (line[i] === ",") i++;
      }
      i++;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    if (rest.length < 1 || rest.length > 2) throw new Error(`unreadable value: ${JSON.stringify(line)}`);
    if (family === "" || !(name === family || name.startsWith(family + "_"))) family = name;
    if (skip(family) || skip(name)) continue;
    const key = seriesKey(name, labels);
    if (key in out.series) throw new Error(`series ${key} twice in the exposition`);
    out.series[key] = rest[0];
    if (rest.length === 2) out.stamps[key] = rest[1];
  }
  return out;
}

/** The exposition with push-time gauge values masked to zero / non-zero. */
export function maskTimes(series: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(series).sort()) {
    const name = k.slice(0, k.indexOf("{"));
    out[k] = TIME_GAUGES.has(name) ? zeroOrNot(series[k]) : series[k];
  }
  return out;
}

export interface Snapshot {
  apiStatus: number;
  api: NormalGroup[];
  metricsStatus: number;
  metricsText: string;
  /** Raw values; compare through maskTimes. */
  exposition: Exposition;
}

/** GET <base>/api/v1/metrics and GET <base>/metrics (text 0.0.4: no Accept header). */
export async function snapshot(base: string, prefix: string, own: (family: string) => boolean): Promise<Snapshot> {
  const api = await send(base, { method: "GET", path: `${prefix}/api/v1/metrics`, headers: {} });
  const metrics = await send(base, { method: "GET", path: `${prefix}/metrics`, headers: {} });
  let groups: NormalGroup[] = [];
  if (api.status === 200) groups = normaliseApi((JSON.parse(api.text) as { data: ApiGroupRaw[] }).data);
  const exposition = metrics.status === 200 ? parseExposition(metrics.text, own) : { series: {}, types: {}, stamps: {} };
  return { apiStatus: api.status, api: groups, metricsStatus: metrics.status, metricsText: metrics.text, exposition };
}

export const referenceOwn = (f: string) => /^(go|process|pushgateway)_/.test(f);
export const pushkitOwn = (f: string) => f.startsWith("pushkit_");

export function sendReq(base: string, prefix: string, r: Req): Promise<Answer> {
  return send(base, { method: r.method, path: prefix + r.path, headers: r.headers, body: r.body });
}

// ---- Processes --------------------------------------------------------------------------------


export interface Peer {
  url: string;
  /** host:port */
  address: string;
  pid: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess, exited: Promise<void>, after?: () => void): () => Promise<void> {
  const alive = () => child.exitCode === null && child.signalCode === null;
  return async () => {
    if (alive()) process.kill(child.pid!, "SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (alive()) {
      process.kill(child.pid!, "SIGKILL");
      await exited;
    }
    after?.();
  };
}

/** The reference with its admin API (PUT /api/v1/admin/wipe) and no persistence file. */
export function startReferenceWithAdmin(): Promise<Peer> {
  return startReference(["--web.enable-admin-api"]);
}

export interface ScrapeJob {
  name: string;
  /** host:port */
  target: string;
  metricsPath: string;
  /** Target labels added to every series of this job. */
  labels: Record<string, string>;
}

export interface ScrapingPrometheus extends Peer {
  query(expr: string, timeMs?: number): Promise<VectorSample[]>;
}

/** A real Prometheus scraping the given jobs every second with honor_labels: true. */
export async function startScrapingPrometheus(jobs: ScrapeJob[]): Promise<ScrapingPrometheus> {
  if (!existsSync(PROMETHEUS_BINARY)) throw new Error(`${PROMETHEUS_BINARY} is not installed; run scripts/setup-peers.sh (Debian package prometheus)`);
  const yaml = [
    "global:",
    "  scrape_interval: 1s",
    "  scrape_timeout: 1s",
    "  evaluation_interval: 1s",
    "scrape_configs:",
    ...jobs.flatMap((j) => [
      `  - job_name: ${JSON.stringify(j.name)}`,
      "    honor_labels: true",
      `    metrics_path: ${JSON.stringify(j.metricsPath)}`,
      "    static_configs:",
      `      - targets: [${JSON.stringify(j.target)}]`,
      `        labels: ${JSON.stringify(j.labels)}`,
    ]),
    "",
  ].join("\n");
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(path.join(tmpdir(), "pushkit-prometheus-"));
    const config = path.join(dir, "prometheus.yml");
    const data = path.join(dir, "data");
    mkdirSync(data);
    writeFileSync(config, yaml);
    const port = await freePort();
    const child = spawn(PROMETHEUS_BINARY, [`--config.file=${config}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const url = `http://127.0.0.1:${port}`;
    const stop = stopper(child, exited, () => rmSync(dir, { recursive: true, force: true }));
    const until = Date.now() + 20_000;
    while (Date.now() < until && child.exitCode === null) {
      const a = await send(url, { method: "GET", path: "/-/ready", headers: {} }, 1000);
      if (a.status === 200) {
        return {
          url,
          address: `127.0.0.1:${port}`,
          pid: child.pid!,
          child,
          output: () => output,
          stop,
          async query(expr, timeMs = Date.now()) {
            const q = new URLSearchParams({ query: expr, time: (timeMs / 1000).toFixed(3) });
            const res = await fetch(`${url}/api/v1/query?${q}`);
            const body = (await res.json()) as { status: string; data?: { resultType: string; result: VectorSample[] }; error?: string };
            if (res.status !== 200 || body.status !== "success") throw new Error(`query ${expr}: ${res.status} ${JSON.stringify(body)}`);
            if (body.data!.resultType !== "vector") throw new Error(`query ${expr}: expected a vector, got ${body.data!.resultType}`);
            return body.data!.result;
          },
        };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    lastError = `prometheus did not become ready on port ${port}; output:\n${output}`;
    await stop();
  }
  throw new Error(lastError);
}

/** pushkit's pushgateway input as both tests run it: a route prefix (the host serves its own /metrics), the admin API. */
export const PUSHKIT_PREFIX = "/pg";
export const PUSHKIT_STORE_CONF = `[[inputs.pushgateway]]\nroute_prefix = "${PUSHKIT_PREFIX}"\nenable_admin_api = true\n`;

/**
 * Sends requests pipelined on one connection (HTTP/1.1), so that the server reads the next one
 * while it still answers the previous one: writes to one group arrive back to back, in order.
 * Resolves with the status codes, in order.
 */
export function sendPipelined(base: string, prefix: string, reqs: Req[], timeoutMs = 5000): Promise<number[]> {
  const u = new URL(base);
  const raw = Buffer.concat(
    reqs.map((r) => {
      const body = r.body ?? Buffer.alloc(0);
      const headers = { Host: u.host, "Content-Length": String(body.length), ...r.headers };
      const head = `${r.method} ${prefix}${r.path} HTTP/1.1\r\n${Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("")}\r\n`;
      return Buffer.concat([Buffer.from(head), body]);
    }),
  );
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port), u.hostname, () => socket.write(raw));
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`pipelined requests: ${reqs.length} answers expected within ${timeoutMs} ms, got ${JSON.stringify(data)}`));
    }, timeoutMs);
    socket.on("data", (d) => {
      data += d.toString("latin1");
      const codes = [...data.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
      if (codes.length >= reqs.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(codes);
      }
    });
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
