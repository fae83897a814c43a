// Side by side with the reference: the same corpus of requests (test/support/reference-corpus.ts)
// goes to Debian's prometheus-pushgateway 1.5.1 and to pushkit. For every request pushkit must
// make the reference's decision (accepted 2xx / redirected 3xx / rejected 4xx-5xx), and for every
// accepted push it must write exactly the points that correspond to what the reference stored
// (GET /api/v1/metrics, converted by test/support/reference-expect.ts), except where the table
// below says we differ on purpose. Each listed difference must actually occur, so the table
// cannot go stale. REFERENCE_REPORT=<file> writes every request's two answers and lines as JSON.
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { buildCorpus, statusClass, type RefCase, type RefRequest, type StatusClass } from "../support/reference-corpus.ts";
import { expectedLines, groupKey, lineTags, withoutTimestamp, type ApiAnswer, type ApiGroup } from "../support/reference-expect.ts";
import { closeConnections, getJson, send, startReference, type Answer, type RunningReference } from "../support/reference-peer.ts";

// ---- Where pushkit differs from the reference on purpose: the one table ---------------------
//
// aspect "status":   the accept/reject decision differs (the check asserts that it does);
// aspect "content":  both accept, but what pushkit writes differs from what the reference
//                    stores (asserted to differ);
// aspect "not sent": the request is sent to pushkit only.

type Aspect = "status" | "content" | "not sent";

interface Difference {
  name: string;
  aspect: Aspect;
  match: (c: RefCase) => boolean;
  reason: string;
}

const has =
  (...features: string[]) =>
  (c: RefCase) =>
    features.some((f) => c.features.includes(f));
const ids =
  (...list: string[]) =>
  (c: RefCase) =>
    list.includes(c.id);

const DIFFERENCES: Difference[] = [
  {
    name: "pushed timestamps",
    aspect: "status",
    match: has("timestamps"),
    reason:
      'pushkit accepts samples with timestamps (and honours them, honor_timestamps); the reference refuses the push: "pushed metrics must not have timestamps"',
  },
  {
    name: "unknown Content-Encoding",
    aspect: "status",
    match: has("unknown-encoding"),
    reason: "pushkit answers 415 naming the encoding; the reference ignores any Content-Encoding but gzip and parses the body raw",
  },
  {
    name: "Content-Encoding is case-insensitive",
    aspect: "status",
    match: has("gzip-not-lowercase"),
    reason: 'pushkit decompresses GZIP/Gzip (HTTP content codings are case-insensitive; protocol spec §3); 1.5.1 decompresses only the exact "gzip" and parses anything else raw',
  },
  {
    name: "snappy",
    aspect: "status",
    match: has("snappy", "snappy-on-plain-text"),
    reason: "pushkit decodes Content-Encoding: snappy (framed); reference 1.5.1 predates snappy support (added in 1.6) and parses the compressed bytes as text",
  },
  {
    name: "size limits",
    aspect: "status",
    match: has("over-size-limit"),
    reason: "pushkit answers 413 over max_body_bytes / max_decompressed_bytes (set to 256 KiB / 1 MiB here); the reference has no limits",
  },
  {
    name: "router redirects",
    aspect: "status",
    match: (c) => has("empty-segment", "dot-segment")(c) || ids("url-empty-job", "url-empty-job-post", "method-delete-empty-job", "url-b64-job-name-upper")(c),
    reason:
      "the reference's router redirects (301 to the cleaned path for // and dot segments, 307 without the trailing slash of /metrics/job/, 307 from job@BASE64 to job@base64); pushkit refuses such paths with 400/404 naming them",
  },
  {
    name: "invalid base64 job",
    aspect: "not sent",
    match: has("invalid-base64-job"),
    reason: "reference 1.5.1 deadlocks its job@base64 route after one such request (fixed upstream); sent to pushkit only, which must refuse it with 400",
  },
  {
    name: "TYPE gaugehistogram",
    aspect: "status",
    match: ids("conf-valid-15"),
    reason: 'pushkit parses TYPE gaugehistogram as the current upstream parser does; 1.5.1\'s parser answers "unknown metric type"',
  },
  {
    name: "TYPE gauge_histogram",
    aspect: "content",
    match: ids("conf-valid-16", "conf-valid-17"),
    reason:
      "pushkit parses a gauge_histogram family as a histogram (count and sum in one line); 1.5.1 knows the type name but not its samples, and stores _bucket, _count and _sum as separate untyped families",
  },
  {
    name: "negative histogram counts",
    aspect: "status",
    match: ids("conf-error-43", "conf-error-44", "conf-error-45", "conf-error-46"),
    reason: "pushkit refuses negative histogram counts and bucket populations, as the current upstream parser (and its corpus) does; 1.5.1's parser accepts them",
  },
  {
    name: "gzip integrity",
    aspect: "status",
    match: ids("body-enc-gzip-bad-crc", "body-enc-gzip-trailing-garbage"),
    reason: "pushkit refuses a gzip body with a wrong checksum or trailing garbage (400); 1.5.1 ignores a read error after the last complete line and stores the push",
  },
  {
    name: "empty protobuf metric names",
    aspect: "status",
    match: ids("body-pb-empty-name"),
    reason: "pushkit refuses an empty metric name in protobuf (Prometheus 3 takes any non-empty UTF-8 name); 1.5.1 stores it, and then serves an exposition Prometheus cannot parse",
  },
  {
    name: "UTF-8 label names in protobuf",
    aspect: "status",
    match: ids("body-pb-invalid-label-name"),
    reason: "pushkit takes any UTF-8 label name in protobuf, as Pushgateway >= 1.11.2 and Prometheus 3 do (a scrape escapes it, a-b -> a_b, unless asked for allow-utf-8); 1.5.1 refuses it in its consistency check",
  },
  {
    name: "unknown protobuf MetricType",
    aspect: "status",
    match: ids("body-pb-unknown-type"),
    reason:
      'pushkit reads an unknown MetricType as COUNTER (a closed proto2 enum, as current protobuf-go does) and refuses the gauge payload; 1.5.1 stores type "9" and then serves "# TYPE pb_unknown_type" without a type or the sample',
  },
  {
    name: "protobuf length prefix cut short",
    aspect: "status",
    match: ids("body-pb-truncated-prefix"),
    reason: "pushkit refuses a body that ends inside a length prefix (a truncated push, protocol spec §3); 1.5.1 takes it as the end of the body",
  },
  {
    name: "unset count and sum",
    aspect: "content",
    match: ids("conf-valid-3"),
    reason:
      "pushkit writes only the _count and _sum a summary or histogram was pushed with; the reference stores an unset count or sum as 0 (and serves _sum 0)",
  },
  {
    name: "repeated quantile",
    aspect: "content",
    match: ids("body-dup-quantile"),
    reason: "pushkit writes both samples of a repeated quantile (as the reference's store and /metrics keep both); its JSON API keys quantiles by value and shows the last only",
  },
  {
    name: "float histogram counts",
    aspect: "content",
    match: (c) => ids("conf-valid-12", "conf-valid-13", "conf-valid-14")(c) || has("float-histogram")(c),
    reason:
      "pushkit keeps float bucket counts and sample counts (current upstream parser and client_model); 1.5.1 truncates them to integers (text) or does not know the float fields at all (protobuf)",
  },
  {
    name: "implied +Inf bucket of protobuf histograms",
    aspect: "content",
    match: has("protobuf-implied-inf"),
    reason:
      "pushkit adds the +Inf bucket that a protobuf classic histogram leaves implied (count = sample count), as the reference's own /metrics exposition does; the reference's JSON API lists the stored buckets only",
  },
  {
    name: "gauge histograms in the reference API",
    aspect: "content",
    match: has("gauge-histogram"),
    reason: "1.5.1's JSON API renders a GAUGE_HISTOGRAM as a plain value 0; pushkit writes its count, sum and buckets",
  },
  {
    name: "native histograms",
    aspect: "content",
    match: has("native-histogram"),
    reason: "pushkit turns a native histogram's spans into cumulative le buckets; 1.5.1 does not know native histograms and stores count and sum only",
  },
  {
    name: "OpenMetrics syntax",
    aspect: "status",
    match: has("openmetrics-only-syntax"),
    reason: "pushkit parses OpenMetrics bodies as OpenMetrics (e.g. TYPE unknown); the reference reads them as text 0.0.4",
  },
];

// ---- Running the corpus -----------------------------------------------------------------------

interface Outcome {
  pk: Answer;
  ref?: Answer;
  /** Groups the reference showed after this push (not present before it). */
  refGroups: ApiGroup[];
  /** Groups of earlier cases still present after this push (their DELETE failed). */
  leftovers: string[];
  equivalent?: Answer;
  equivalentGroups: ApiGroup[];
}

// label_value_length_limit is raised so that the long-line case compares the parsers on a
// 100,000-character value (by default pushkit refuses it: test/integration/limits.test.ts).
const PUSHKIT_CONF = '[[inputs.pushgateway]]\nmax_body_bytes = "256KiB"\nmax_decompressed_bytes = "1MiB"\nlabel_value_length_limit = 200000\n';
const MARKER_JOB = "refmarker";

function isPush(r: RefRequest): boolean {
  return (r.method === "PUT" || r.method === "POST") && r.path.startsWith("/metrics/job");
}

function deleteOf(r: RefRequest): RefRequest {
  return { method: "DELETE", path: r.path, headers: {} };
}

async function apiGroups(base: string): Promise<ApiGroup[]> {
  const a = (await getJson(base, "/api/v1/metrics")) as ApiAnswer;
  return a.data ?? [];
}

function short(s: string, n = 300): string {
  return s.length > n ? s.slice(0, n) + `... (${s.length} chars)` : s;
}

function describeCase(c: RefCase, o: Outcome): string {
  const ref = o.ref ? `${o.ref.status} ${JSON.stringify(short(o.ref.text))}` : "(not sent)";
  return (
    `${c.method} ${short(c.path, 120)} ${JSON.stringify(c.headers)} body ${c.body?.length ?? 0} bytes\n` +
    `      reference: ${ref}\n      pushkit:   ${o.pk.status} ${JSON.stringify(short(o.pk.text))}`
  );
}

describe("side by side with the reference Pushgateway 1.5.1", function () {
  this.timeout(30_000);
  const cases = buildCorpus();
  const results = new Map<string, Outcome>();
  const linesByJob = new Map<string, string[]>();
  const unmatchedLines: string[] = [];
  let reference: RunningReference | undefined;
  let agent: RunningTestAgent | undefined;
  let setupError: Error | undefined;

  before(async function () {
    this.timeout(110_000);
    try {
      [reference, agent] = await Promise.all([startReference(), startTestAgent({ conf: { "inputs/pushgateway.conf": PUSHKIT_CONF } })]);
      const ref = reference.url;
      const pk = agent.url;
      const seen = new Set<string>();
      for (const c of cases) {
        const o: Outcome = { pk: await send(pk, c), refGroups: [], leftovers: [], equivalentGroups: [] };
        if (!c.pushkitOnly) {
          o.ref = await send(ref, c);
          if (isPush(c)) {
            const after = await apiGroups(ref);
            o.refGroups = after.filter((g) => !seen.has(groupKey(g)));
            // Earlier DELETEs are applied before this push (writes are applied in order).
            if (statusClass(o.ref.status) === "accepted") o.leftovers = after.filter((g) => seen.has(groupKey(g))).map(groupKey);
            // The reference keeps groups of rejected pushes too, and would refuse later pushes.
            await send(ref, deleteOf(c));
            if (c.referenceEquivalent) {
              o.equivalent = await send(ref, c.referenceEquivalent);
              o.equivalentGroups = (await apiGroups(ref)).filter((g) => !seen.has(groupKey(g)));
              await send(ref, deleteOf(c.referenceEquivalent));
            }
            for (const g of [...o.refGroups, ...o.equivalentGroups]) seen.add(groupKey(g));
          }
        }
        if (isPush(c)) await send(pk, deleteOf(c));
        results.set(c.id, o);
      }

      // Pushes answer 200 once their points are queued, in order: the marker's line comes last.
      const marker = await send(pk, { method: "PUT", path: `/metrics/job/${MARKER_JOB}`, headers: {}, body: Buffer.from("refmarker_done 1\n") });
      if (marker.status !== 200) throw new Error(`marker push: ${marker.status} ${marker.text}`);
      const until = Date.now() + 10_000;
      let lines = agent.lines();
      while (!lines.some((l) => lineTags(l).job === MARKER_JOB)) {
        if (Date.now() > until) throw new Error("pushkit did not write the marker line within 10 s");
        await new Promise((r) => setTimeout(r, 25));
        lines = agent.lines();
      }
      const jobs = new Set(cases.map((c) => c.job).filter((j): j is string => j !== undefined));
      for (const l of lines) {
        const j = lineTags(l).job;
        if (j === MARKER_JOB) continue;
        if (j === undefined || !jobs.has(j)) {
          unmatchedLines.push(l);
          continue;
        }
        let list = linesByJob.get(j);
        if (!list) linesByJob.set(j, (list = []));
        list.push(withoutTimestamp(l));
      }
      if (process.env.REFERENCE_REPORT) writeReport(process.env.REFERENCE_REPORT);
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

  function writeReport(file: string): void {
    const rows = cases.map((c) => {
      const o = results.get(c.id)!;
      return {
        id: c.id,
        differences: DIFFERENCES.filter((d) => d.match(c)).map((d) => d.name),
        reference: o.ref ? [o.ref.status, short(o.ref.text, 200)] : null,
        pushkit: [o.pk.status, short(o.pk.text, 200)],
        equivalent: o.equivalent ? [o.equivalent.status, short(o.equivalent.text, 200)] : null,
        expected: expectedLines(o.refGroups.length > 0 ? o.refGroups : o.equivalentGroups).slice(0, 20),
        actual: (c.job ? (linesByJob.get(c.job) ?? []) : []).slice().sort().slice(0, 20),
      };
    });
    writeFileSync(file, JSON.stringify(rows, null, 1));
  }

  function outcome(c: RefCase): Outcome {
    if (setupError) throw new Error(`the side-by-side run failed: ${setupError.message}`);
    const o = results.get(c.id);
    if (!o) throw new Error(`no outcome for ${c.id}`);
    return o;
  }

  it(`sends a corpus of at least 150 requests with unique ids (${cases.length})`, () => {
    expect(cases.length).to.be.at.least(150);
    expect(new Set(cases.map((c) => c.id)).size).to.equal(cases.length);
    const jobs = cases.map((c) => c.job).filter((j) => j !== undefined);
    expect(new Set(jobs).size, "jobs are unique per case").to.equal(jobs.length);
  });

  it("lists only differences that match some case, at most one per aspect for a case", () => {
    for (const d of DIFFERENCES) expect(cases.some(d.match), `difference "${d.name}" matches no case`).to.equal(true);
    for (const c of cases) {
      const aspects = DIFFERENCES.filter((d) => d.match(c)).map((d) => d.aspect);
      expect(new Set(aspects).size, `${c.id}: ${aspects.join(", ")}`).to.equal(aspects.length);
      expect(Boolean(c.pushkitOnly), `${c.id}: pushkit-only cases are exactly the "not sent" ones`).to.equal(aspects.includes("not sent"));
    }
  });

  describe("each request", () => {
    for (const c of cases) {
      it(`${c.id}: ${c.note}`, () => {
        const o = outcome(c);
        const diffs = DIFFERENCES.filter((d) => d.match(c));
        const statusDiff = diffs.find((d) => d.aspect === "status");
        const contentDiff = diffs.find((d) => d.aspect === "content");
        const pkClass = statusClass(o.pk.status);
        const what = describeCase(c, o);

        // 1. The decision.
        if (c.pushkitOnly) {
          expect(pkClass, `${what}\n    (${c.pushkitOnly.reason})`).to.equal(c.pushkitOnly.expect);
          expect(o.pk.text, what).to.match(c.pushkitOnly.message);
        } else {
          const refClass: StatusClass = statusClass(o.ref!.status);
          expect(refClass, `the reference did not answer:\n    ${what}`).to.not.equal("no answer");
          if (statusDiff) {
            expect(pkClass, `listed difference "${statusDiff.name}" no longer occurs (${statusDiff.reason}):\n    ${what}`).to.not.equal(refClass);
          } else {
            expect(pkClass, `pushkit decides differently from the reference:\n    ${what}`).to.equal(refClass);
          }
        }

        // 2. A refusal says what is wrong (HEAD answers carry no body), and ingests nothing.
        if (pkClass === "rejected") {
          if (c.method !== "HEAD") expect(o.pk.text.trim(), `pushkit's refusal has no message:\n    ${what}`).to.not.equal("");
          if (c.job) expect(linesByJob.get(c.job) ?? [], `pushkit refused the push but wrote lines:\n    ${what}`).to.deep.equal([]);
        }

        // 3. What an accepted push becomes.
        if (pkClass !== "accepted" || !c.job || !isPush(c) || c.pushkitOnly) return;
        let groups: ApiGroup[] | undefined;
        if (statusClass(o.ref!.status) === "accepted") groups = o.refGroups;
        else if (c.referenceEquivalent) {
          expect(statusClass(o.equivalent!.status), `the reference refused the equivalent request ${o.equivalent!.status} ${o.equivalent!.text}`).to.equal("accepted");
          groups = o.equivalentGroups;
        }
        if (!groups) return;
        for (const g of groups) expect(g.labels.job, `the reference stored the push under another job:\n    ${what}`).to.equal(c.job);
        const expected = expectedLines(groups);
        const actual = (linesByJob.get(c.job) ?? []).slice().sort();
        if (contentDiff) {
          expect(actual, `listed difference "${contentDiff.name}" no longer occurs (${contentDiff.reason}):\n    ${what}`).to.not.deep.equal(expected);
        } else {
          expect(actual, `pushkit's lines differ from what the reference stored:\n    ${what}`).to.deep.equal(expected);
        }
      });
    }
  });

  it("left no group of an earlier request in the reference (every DELETE took)", () => {
    if (setupError) throw setupError;
    const left = cases.flatMap((c) => results.get(c.id)!.leftovers.map((k) => `${c.id}: ${k}`));
    expect(left).to.deep.equal([]);
  });

  it("wrote no line that belongs to no request", () => {
    if (setupError) throw setupError;
    expect(unmatchedLines).to.deep.equal([]);
  });
});
