// The group store side by side with the reference: the sequences of test/support/store-sequences.ts
// (PUT/POST/DELETE over several groups, every metric type, refused pushes, wipe, timestamps) go
// to Debian's prometheus-pushgateway 1.5.1 (--web.enable-admin-api) and to pushkit (pushgateway
// input with enable_admin_api = true, reject_timestamps and consistency_check at their defaults).
// Each sequence starts from an empty store (both wiped). After every step both are compared:
// the status code, GET /api/v1/metrics (groups sorted, time_stamp dropped, push-time gauge
// values masked to zero / non-zero, every family compared exactly) and the series of GET /metrics
// (own metrics left out, push-time gauge values masked, TYPE lines compared too).
//
// Where pushkit differs on purpose it is listed in the one table below, and each listed
// difference is asserted to occur at its steps (so the table cannot go stale). Once a sequence
// has such a step, the reference's later state no longer tells what pushkit must hold; the
// reference is then sent the sequence a second time, from an empty store, with each such step
// replaced by its `referenceEquivalent` (the body without its timestamps, a push the reference
// refuses without side effects but the failure time, or nothing), and pushkit is compared with
// what the reference holds after each step of that run. STORE_REPORT=<file> writes every step's
// answers and snapshots as JSON.
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { closeConnections, type Answer } from "../support/reference-peer.ts";
import {
  buildSequences,
  maskTimes,
  PUSHKIT_PREFIX,
  PUSHKIT_STORE_CONF,
  post,
  pushkitOwn,
  put,
  referenceOwn,
  sendPipelined,
  sendReq,
  snapshot,
  startReferenceWithAdmin,
  wipe,
  type Peer,
  type NormalGroup,
  type Req,
  type Snapshot,
  type Step,
} from "../support/store-sequences.ts";

// ---- Where pushkit differs from the reference on purpose: the one table ---------------------

interface StepOutcome {
  pk: Answer;
  ref: Answer;
  pkSnap: Snapshot;
  refSnap: Snapshot;
  /** The run with equivalents (sequences that have a difference): what the reference answered (undefined: skipped) and held. */
  shadow?: { answer?: Answer; snap: Snapshot };
  /** Timestamps pushkit must expose after the step. */
  pkStamps: Record<string, string>;
}

interface Difference {
  name: string;
  match: (s: Step) => boolean;
  reason: string;
  /** Undefined when the difference shows in this step's outcome, else what is missing. */
  occurs: (s: Step, o: StepOutcome) => string | undefined;
  /**
   * For a difference in how pushkit's JSON API shows what both hold (not in what they hold):
   * the reference's API as pushkit must show it, applied at every step.
   */
  apiAsPushkitShowsIt?: (api: NormalGroup[]) => NormalGroup[];
}

const has = (f: string) => (s: Step) => s.features.includes(f);
const isPush = (s: Step) => (s.request.method === "PUT" || s.request.method === "POST") && s.request.path.startsWith("/metrics/job");
const groupKey = (labels: Record<string, string>) => JSON.stringify(Object.entries(labels).sort());
const COLLIDES = "was collected before with the same name and label values";

/** Histogram metrics of the API without a "+Inf" bucket, with where they are. */
function withoutInf(api: NormalGroup[]): string[] {
  const out: string[] = [];
  for (const g of api)
    for (const [name, f] of Object.entries(g.families))
      if (f.type === "HISTOGRAM") for (const m of f.metrics) if (!("+Inf" in (m.buckets as Record<string, string>))) out.push(`${name}${JSON.stringify(m.labels)}`);
  return out;
}

/** Families pushed without metrics: "group labels / family name". */
function emptyFamilies(api: NormalGroup[]): string[] {
  return api.flatMap((g) => Object.entries(g.families).filter(([, f]) => f.metrics.length === 0).map(([name]) => `${JSON.stringify(g.labels)} ${name}`));
}

const DIFFERENCES: Difference[] = [
  {
    name: "a family without metrics in the JSON API",
    match: has("protobuf-empty-family"),
    reason:
      "a protobuf family without metrics replaces its namesake in both, but pushkit does not keep it (it would serve nothing); the reference keeps it and lists it in /api/v1/metrics with \"metrics\": [] (neither serves anything for it on /metrics)",
    occurs: (_s, o) =>
      emptyFamilies(o.refSnap.api).length > 0 && emptyFamilies(o.pkSnap.api).length === 0
        ? undefined
        : `empty families: reference ${JSON.stringify(emptyFamilies(o.refSnap.api))}, pushkit ${JSON.stringify(emptyFamilies(o.pkSnap.api))}`,
    apiAsPushkitShowsIt: (api) => api.map((g) => ({ ...g, families: Object.fromEntries(Object.entries(g.families).filter(([, f]) => f.metrics.length > 0)) })),
  },
  {
    name: "implied +Inf bucket in the JSON API",
    match: has("protobuf-implied-inf"),
    reason:
      "the protobuf parser gives a classic histogram the +Inf bucket that protobuf leaves implied (count = sample count), as the text parser would, so pushkit's /api/v1/metrics lists it; the reference's API lists the stored buckets only (both serve the +Inf bucket on /metrics)",
    occurs: (_s, o) => {
      const refOnly = withoutInf(o.refSnap.api);
      return refOnly.length > 0 && withoutInf(o.pkSnap.api).length === 0 ? undefined : `histograms without +Inf: reference ${JSON.stringify(refOnly)}, pushkit ${JSON.stringify(withoutInf(o.pkSnap.api))}`;
    },
    apiAsPushkitShowsIt: (api) =>
      api.map((g) => ({
        ...g,
        families: Object.fromEntries(
          Object.entries(g.families).map(([name, f]) => [
            name,
            f.type !== "HISTOGRAM"
              ? f
              : { ...f, metrics: f.metrics.map((m) => ("+Inf" in (m.buckets as Record<string, string>) ? m : { ...m, buckets: { ...(m.buckets as Record<string, string>), "+Inf": m.count } })) },
          ]),
        ),
      })),
  },
  {
    name: "a refused push creates a group that poisons the store",
    match: has("refused-new-group"),
    reason:
      "both refuse the push (400) and the reference still creates its group (push_time_seconds 0, push_failure_time_seconds now), as pushkit does for a refused first push; but this group's push-time gauges would be another group's, so pushkit creates nothing",
    occurs: (_s, o) => {
      if (o.pk.status !== 400 || o.ref.status !== 400) return `both should refuse: pushkit ${o.pk.status}, reference ${o.ref.status}`;
      const pkGroups = new Set(o.pkSnap.api.map((g) => groupKey(g.labels)));
      const created = o.refSnap.api.filter((g) => !pkGroups.has(groupKey(g.labels)));
      const asExpected = created.filter(
        (g) =>
          !g.last_push_successful &&
          Object.keys(g.families).sort().join() === "push_failure_time_seconds,push_time_seconds" &&
          g.families.push_time_seconds.metrics[0]?.value === "0" &&
          g.families.push_failure_time_seconds.metrics[0]?.value === "non-zero",
      );
      return asExpected.length === 1 ? undefined : `expected the reference to hold one group more than pushkit, with push-time gauges only; it holds ${JSON.stringify(created)}`;
    },
  },
  {
    name: "store poisoning",
    match: has("poisoned"),
    reason:
      "after a refused push created a group whose push-time gauges are another group's ({job=x} and {job=x,instance=\"\"}), the reference refuses every push (400) and answers GET /metrics with 500 until that group is deleted; pushkit never holds such a pair and goes on",
    occurs: (s, o) => {
      if (o.refSnap.metricsStatus !== 500 || !o.refSnap.metricsText.includes(COLLIDES)) return `reference GET /metrics: ${o.refSnap.metricsStatus} ${o.refSnap.metricsText.slice(0, 200)}`;
      if (isPush(s) && !(o.ref.status === 400 && o.ref.text.includes(COLLIDES) && o.pk.status === 200)) return `reference ${o.ref.status} ${o.ref.text.slice(0, 200)}, pushkit ${o.pk.status}`;
      return undefined;
    },
  },
  {
    name: "pushed timestamps",
    match: has("timestamps"),
    reason:
      "with reject_timestamps = false (the default) pushkit stores samples with their timestamps and serves them with them; the reference refuses the push (\"pushed metrics must not have timestamps\"); pushkit must otherwise hold what the reference holds for the same body without timestamps",
    occurs: (_s, o) =>
      o.pk.status === 200 && o.ref.status === 400 && o.ref.text.includes("pushed metrics must not have timestamps") && Object.keys(o.pkSnap.exposition.stamps).length > 0
        ? undefined
        : `pushkit ${o.pk.status} (timestamps served: ${JSON.stringify(o.pkSnap.exposition.stamps)}), reference ${o.ref.status} ${o.ref.text}`,
  },
  {
    name: "histogram with an le label",
    match: has("histogram-le-label"),
    reason:
      "pushkit refuses a histogram metric with an explicit le label (400, as the reference refuses a summary's quantile label); the reference stores it and serves _bucket series with le twice, which Prometheus cannot ingest",
    occurs: (_s, o) =>
      o.ref.status === 200 && o.pk.status === 400 && Object.keys(o.refSnap.exposition.series).some((k) => /le="[^"]*",le="/.test(k))
        ? undefined
        : `pushkit ${o.pk.status}, reference ${o.ref.status}; reference series ${JSON.stringify(Object.keys(o.refSnap.exposition.series).filter((k) => k.includes("le=")))}`,
  },
  {
    name: "pushed push_time_seconds",
    match: has("pushed-push-time"),
    reason: "pushkit refuses a push holding push_time_seconds (the store keeps it for every group); the reference answers 200 and silently serves its own value instead of the pushed one",
    occurs: (s, o) => {
      const served = o.refSnap.exposition.series[s.probe!.series];
      return o.ref.status === 200 && o.pk.status === 400 && o.pk.text.includes("push_time_seconds") && served !== undefined && served !== s.probe!.pushed && Number(served) > 0
        ? undefined
        : `pushkit ${o.pk.status} ${o.pk.text}, reference ${o.ref.status}, serving ${s.probe!.series} = ${served}`;
    },
  },
  {
    name: "pushed push_failure_time_seconds",
    match: has("pushed-push-failure-time"),
    reason:
      "pushkit refuses a push holding push_failure_time_seconds; the reference answers 200 and, on an existing group, stores the pushed gauge in place of the group's own failure time (which is then no longer served)",
    occurs: (s, o) => {
      const series = o.refSnap.exposition.series;
      return o.ref.status === 200 && o.pk.status === 400 && o.pk.text.includes("push_failure_time_seconds") && series[s.probe!.pushed] === "5" && !(s.probe!.series in series)
        ? undefined
        : `pushkit ${o.pk.status} ${o.pk.text}, reference ${o.ref.status}, serving ${JSON.stringify(Object.entries(series).filter(([k]) => k.startsWith("push_failure")))}`;
    },
  },
];

// ---- Running the sequences ----------------------------------------------------------------------

function short(s: string, n = 240): string {
  return s.length > n ? s.slice(0, n) + `... (${s.length} chars)` : s;
}

function describeReq(r: Req): string {
  const body = r.body === undefined ? "" : r.headers["Content-Type"] ? ` [protobuf, ${r.body.length} bytes]` : ` ${JSON.stringify(short(r.body.toString("utf8"), 200))}`;
  return `${r.method} ${r.path}${body}`;
}

describe("group store side by side with the reference Pushgateway 1.5.1", function () {
  this.timeout(30_000);
  const sequences = buildSequences();
  const steps = sequences.flatMap((q) => q.steps);
  const outcomes = new Map<string, StepOutcome>();
  /** Problems of the run itself (a wipe that did not empty a store), by sequence. */
  const runProblems: string[] = [];
  let reference: Peer | undefined;
  let agent: RunningTestAgent | undefined;
  let setupError: Error | undefined;

  before(async function () {
    this.timeout(180_000);
    try {
      [reference, agent] = await Promise.all([startReferenceWithAdmin(), startTestAgent({ conf: { "inputs/pushgateway.conf": PUSHKIT_STORE_CONF } })]);
      const ref = reference.url;
      const pk = agent.url;
      const refSnap = () => snapshot(ref, "", referenceOwn);
      const pkSnap = () => snapshot(pk, PUSHKIT_PREFIX, pushkitOwn);
      const wipeBoth = async (where: string, only?: "ref") => {
        const answers = await Promise.all([sendReq(ref, "", wipe()), only ? undefined : sendReq(pk, PUSHKIT_PREFIX, wipe())]);
        const empty = (s: Awaited<ReturnType<typeof refSnap>>) => s.api.length === 0 && Object.keys(s.exposition.series).length === 0;
        // The reference queues the deletes of a wipe and answers 202 before they are done (its
        // writes go through one queue): its store is looked at until it is empty, for a while.
        // pushkit wipes before it answers: its store must be empty at once.
        let refState = await refSnap();
        for (let tries = 0; !empty(refState) && tries < 40; tries++) {
          await new Promise((r) => setTimeout(r, 50));
          refState = await refSnap();
        }
        const pkState = only ? undefined : await pkSnap();
        for (const a of answers) if (a && a.status !== 202) runProblems.push(`${where}: wipe answered ${a.status} ${a.text}`);
        for (const [side, s] of [["reference", refState], ["pushkit", pkState]] as const) if (s && !empty(s)) runProblems.push(`${where}: ${side}'s store not empty after wipe: ${JSON.stringify(s.api)}`);
      };

      for (const q of sequences) {
        await wipeBoth(`before ${q.name}`);
        let stamps: Record<string, string> = {};
        for (const s of q.steps) {
          const pkAnswer = await sendReq(pk, PUSHKIT_PREFIX, s.request);
          const refAnswer = await sendReq(ref, "", s.request);
          if (s.pushkitTimestamps) stamps = s.pushkitTimestamps;
          outcomes.set(s.id, { pk: pkAnswer, ref: refAnswer, pkSnap: await pkSnap(), refSnap: await refSnap(), pkStamps: stamps });
        }
        if (q.steps.some((s) => s.referenceEquivalent !== undefined)) {
          await wipeBoth(`before the run with equivalents of ${q.name}`, "ref");
          for (const s of q.steps) {
            const eq = s.referenceEquivalent ?? s.request;
            const answer = eq === "skip" ? undefined : await sendReq(ref, "", eq);
            outcomes.get(s.id)!.shadow = { answer, snap: await refSnap() };
          }
        }
      }
      if (process.env.STORE_REPORT) writeFileSync(process.env.STORE_REPORT, JSON.stringify(Object.fromEntries(outcomes), null, 1));
    } catch (e) {
      setupError = e as Error;
      throw e;
    }
  });

  after(async () => {
    await reference?.stop();
    agent?.cleanup();
    closeConnections();
  });

  function outcome(s: Step): StepOutcome {
    if (setupError) throw new Error(`the side-by-side run failed: ${setupError.message}`);
    const o = outcomes.get(s.id);
    if (!o) throw new Error(`no outcome for ${s.id}`);
    return o;
  }

  it(`replays at least 60 steps over several sequences, ids unique (${steps.length} steps, ${sequences.length} sequences)`, () => {
    expect(steps.length).to.be.at.least(60);
    expect(sequences.length).to.be.at.least(5);
    expect(new Set(steps.map((s) => s.id)).size).to.equal(steps.length);
  });

  it("lists only differences that match some step; every step sent differently to the reference is explained by one", () => {
    for (const d of DIFFERENCES) expect(steps.some(d.match), `difference "${d.name}" matches no step`).to.equal(true);
    for (const s of steps) {
      const ds = DIFFERENCES.filter((d) => d.match(s));
      expect(ds.length, `${s.id}: ${ds.map((d) => d.name).join(", ")}`).to.be.at.most(1);
      if (s.referenceEquivalent !== undefined) expect(ds.length, `${s.id} has a referenceEquivalent but no listed difference`).to.equal(1);
    }
  });

  it("starts every sequence from an empty store on both sides", () => {
    if (setupError) throw setupError;
    expect(runProblems).to.deep.equal([]);
  });

  for (const q of sequences) {
    describe(`sequence ${q.name}: ${q.note}`, () => {
      for (const s of q.steps) {
        it(`${s.id}: ${s.note}`, () => {
          const o = outcome(s);
          const diff = DIFFERENCES.find((d) => d.match(s));
          const what =
            `${s.id} ${describeReq(s.request)}\n      pushkit:   ${o.pk.status} ${JSON.stringify(short(o.pk.text))}\n      reference: ${o.ref.status} ${JSON.stringify(short(o.ref.text))}` +
            (o.shadow && s.referenceEquivalent !== undefined ? `\n      reference, equivalent (${s.referenceEquivalent === "skip" ? "not sent" : describeReq(s.referenceEquivalent)}): ${o.shadow.answer ? `${o.shadow.answer.status} ${JSON.stringify(short(o.shadow.answer.text))}` : "-"}` : "");

          // 1. The status code.
          if (diff) {
            const missing = diff.occurs(s, o);
            expect(missing, `listed difference "${diff.name}" does not occur (${diff.reason}):\n    ${what}`).to.equal(undefined);
          } else {
            expect(o.pk.status, `status differs:\n    ${what}`).to.equal(o.ref.status);
          }
          if (o.shadow?.answer) expect(o.pk.status, `status differs from the reference's answer to the equivalent request:\n    ${what}`).to.equal(o.shadow.answer.status);
          if (o.pk.status >= 400) expect(o.pk.text.trim(), `pushkit's refusal has no message:\n    ${what}`).to.not.equal("");

          // 2. What pushkit holds: what the reference holds (after the equivalent run, when there is one).
          const expected = o.shadow?.snap ?? o.refSnap;
          const source = o.shadow ? "the reference (run with equivalents)" : "the reference";
          expect(o.pkSnap.apiStatus, what).to.equal(200);
          const expectedApi = DIFFERENCES.reduce((api, d) => d.apiAsPushkitShowsIt?.(api) ?? api, expected.api);
          expect(o.pkSnap.api, `GET /api/v1/metrics differs from ${source}:\n    ${what}`).to.deep.equal(expectedApi);
          expect(o.pkSnap.metricsStatus, `GET /metrics status differs from ${source}:\n    ${what}\n      pushkit body: ${short(o.pkSnap.metricsText)}`).to.equal(expected.metricsStatus);
          expect(maskTimes(o.pkSnap.exposition.series), `GET /metrics series differ from ${source}:\n    ${what}`).to.deep.equal(maskTimes(expected.exposition.series));
          expect(o.pkSnap.exposition.types, `GET /metrics TYPE lines differ from ${source}:\n    ${what}`).to.deep.equal(expected.exposition.types);

          // 3. Timestamps: served by pushkit exactly for the samples pushed with one, never by the reference.
          expect(o.pkSnap.exposition.stamps, `pushkit's exposition timestamps:\n    ${what}`).to.deep.equal(o.pkStamps);
          expect(o.refSnap.exposition.stamps, what).to.deep.equal({});
        });
      }
    });
  }

  // Not a sequence step: a good push and a refused one to the same group, pipelined on one
  // connection so that they are stored back to back (often within the same millisecond).
  it("last_push_successful is false right after a refused push that closely follows a good one (20 pipelined pairs)", async () => {
    if (setupError) throw setupError;
    const pairs = 20;
    const results: Record<"pushkit" | "reference", { codes: number[]; last: boolean | undefined }[]> = { pushkit: [], reference: [] };
    for (const [name, base, prefix, own] of [
      ["pushkit", agent!.url, PUSHKIT_PREFIX, pushkitOwn],
      ["reference", reference!.url, "", referenceOwn],
    ] as const) {
      await sendReq(base, prefix, wipe());
      expect((await sendReq(base, prefix, put("/metrics/job/lp_other", "# TYPE lp_x counter\nlp_x 1\n"))).status).to.equal(200);
      for (let i = 0; i < pairs; i++) {
        const codes = await sendPipelined(base, prefix, [put("/metrics/job/lp", `lp_ok ${i}\n`), post("/metrics/job/lp", "# TYPE lp_x gauge\nlp_x 1\n")]);
        const group = (await snapshot(base, prefix, own)).api.find((g) => g.labels.job === "lp");
        results[name].push({ codes, last: group?.last_push_successful });
      }
      await sendReq(base, prefix, wipe());
    }
    const wrong = (list: { codes: number[]; last: boolean | undefined }[]) =>
      list.flatMap((r, i) => (r.codes.join() === "200,400" && r.last === false ? [] : [`pair ${i + 1}: ${r.codes.join(", ")}, last_push_successful ${r.last}`]));
    expect(wrong(results.reference), "the reference").to.deep.equal([]);
    expect(wrong(results.pushkit), "pushkit: {job=lp} after a PUT (200) and a refused POST (400) sent back to back").to.deep.equal([]);
  });

  it("the run with equivalents agrees with the live reference up to each sequence's first listed difference", () => {
    if (setupError) throw setupError;
    const problems: string[] = [];
    for (const q of sequences) {
      for (const s of q.steps) {
        if (DIFFERENCES.some((d) => d.match(s))) break;
        const o = outcomes.get(s.id)!;
        if (!o.shadow) break;
        const same = JSON.stringify(o.shadow.snap.api) === JSON.stringify(o.refSnap.api) && JSON.stringify(maskTimes(o.shadow.snap.exposition.series)) === JSON.stringify(maskTimes(o.refSnap.exposition.series));
        if (!same || o.shadow.answer?.status !== o.ref.status) problems.push(s.id);
      }
    }
    expect(problems, "the reference answered the same steps differently in its two runs").to.deep.equal([]);
  });
});
