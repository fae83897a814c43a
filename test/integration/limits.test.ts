// The push limits against the real agent: a push over a limit is refused whole (400, or 507 for
// max_series) with a message naming the limit, nothing of it is stored or forwarded, and the
// refusals are counted by limit. Issue 14's finding 1 (a gzip body of millions of series) and
// finding 6 (timestamps past int64 nanoseconds) replayed.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { encodeFamilies, PROTOBUF_CONTENT_TYPE } from "../support/protobuf.ts";

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]) / 1024;
}

async function push(agent: RunningTestAgent, path: string, body: Buffer | string, headers: Record<string, string> = {}, method = "PUT"): Promise<{ status: number; text: string }> {
  const res = await fetch(`${agent.url}/metrics/job/${path}`, { method, body: typeof body === "string" ? body : new Uint8Array(body), headers });
  return { status: res.status, text: await res.text() };
}

async function limitedCount(agent: RunningTestAgent, limit: string): Promise<number> {
  const text = await (await fetch(`${agent.url}/metrics`)).text();
  const m = new RegExp(`^pushkit_pushgateway_pushes_limited_total\\{limit="${limit}"\\} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

function series(n: number, from = 0): string {
  const out: string[] = [];
  for (let i = from; i < from + n; i++) out.push(`m{a="${i}"} 1`);
  return out.join("\n") + "\n";
}

describe("push limits against the agent", function () {
  this.timeout(120_000);
  let agent: RunningTestAgent;

  afterEach(async () => {
    await agent?.stop();
    agent?.cleanup();
  });

  it("refuses each limit whole with a message naming it, stores and forwards nothing, and counts it", async () => {
    agent = await startTestAgent({
      conf: {
        "pushgateway.conf":
          '[[inputs.pushgateway]]\nsample_limit = 100\nlabel_limit = 3\nlabel_name_length_limit = 20\nlabel_value_length_limit = 30\nmax_series = 150\nparse_worker_min_bytes = "1KiB"\n',
      },
    });
    const cases: [string, string | Buffer, Record<string, string>, number, RegExp, string][] = [
      ["a", series(101), {}, 400, /^the push has more than 100 series \(refused at line 101\); the limit is 100 \(sample_limit\)$/, "sample_limit"],
      ["a", gzipSync(series(5000)), { "Content-Encoding": "gzip" }, 400, /\(sample_limit\)$/, "sample_limit"],
      ["a", 'm{a="1",b="2",c="3",d="4"} 1\n', {}, 400, /^series of "m" at line 1 has 4 labels; the limit is 3 \(label_limit\)$/, "label_limit"],
      // Two body labels and two grouping labels (job, x): 4 > 3.
      ["a/x/1", 'm{a="1",b="2"} 1\n', {}, 400, /has 4 labels, grouping labels included; the limit is 3 \(label_limit\)$/, "label_limit"],
      ["a", `m{${"n".repeat(21)}="v"} 1\n`, {}, 400, /has a label name of 21 characters .* \(label_name_length_limit\)$/, "label_name_length_limit"],
      ["a", `m{a="${"v".repeat(31)}"} 1\n`, {}, 400, /has a value of 31 characters for label "a"; the limit is 30 \(label_value_length_limit\)$/, "label_value_length_limit"],
      [`a/x/${"v".repeat(31)}`, "m 1\n", {}, 400, /^the grouping key has a value of 31 characters for label "x"; the limit is 30 \(label_value_length_limit\)$/, "label_value_length_limit"],
      ["a", `${"m".repeat(31)} 1\n`, {}, 400, /^metric name at line 1 has 31 characters/, "label_value_length_limit"],
      ["a", encodeFamilies({ name: "p", type: 1, metric: Array.from({ length: 101 }, (_, i) => ({ label: [{ name: "a", value: String(i) }], gauge: { value: 1 } })) }), { "Content-Type": PROTOBUF_CONTENT_TYPE }, 400, /\(sample_limit\)$/, "sample_limit"],
    ];
    for (const [path, body, headers, status, message, limit] of cases) {
      const before = await limitedCount(agent, limit);
      const res = await push(agent, path, body, headers);
      expect(res.status, `${limit}: ${res.text}`).to.equal(status);
      expect(res.text.trim()).to.match(message);
      expect(await limitedCount(agent, limit)).to.equal(before + 1);
    }
    const api = (await (await fetch(`${agent.url}/api/v1/metrics`)).json()) as { data: unknown[] };
    expect(api.data).to.deep.equal([]);

    // max_series: 100 + 50 fit, one more does not (507), and nothing of it is kept.
    expect((await push(agent, "a", series(100))).status).to.equal(200);
    expect((await push(agent, "b", series(50, 100))).status).to.equal(200);
    const full = await push(agent, "c", "n 1\n");
    expect(full.status).to.equal(507);
    expect(full.text.trim()).to.equal("the store holds 150 series and this push would make it 151 (the push has 1, replacing 0); the limit is 150 (max_series): delete groups or raise max_series");
    expect(await limitedCount(agent, "max_series")).to.equal(1);
    // Replacing a group with as many series still fits.
    expect((await push(agent, "b", series(50, 200))).status).to.equal(200);
    await agent.waitForLines(200);
    await new Promise((r) => setTimeout(r, 200));
    // The three accepted pushes, and nothing of any refused one (which would carry job=c, x=1, or a p or long name).
    const lines = agent.lines();
    expect(lines).to.have.length(200);
    expect(lines.every((l) => /^unknown,a=\d+,job=[ab] unknown=1 \d+$/.test(l)), lines.join("\n")).to.equal(true);
  });

  it("finding 1: a gzip body of millions of series is refused by sample_limit at once, and the agent stays small and alive", async () => {
    agent = await startTestAgent({ conf: { "pushgateway.conf": "[[inputs.pushgateway]]\n" } });
    // 2,000,000 series (30 MB decompressed, well under max_decompressed_bytes) in a ~5 MB gzip body.
    const text = Buffer.from(series(2_000_000));
    const body = gzipSync(text, { level: 1 });
    const rssBefore = rssMiB(agent.child.pid!);
    for (const job of ["a", "b", "c"]) {
      const res = await push(agent, job, body, { "Content-Encoding": "gzip" });
      expect(res.status, res.text).to.equal(400);
      expect(res.text.trim()).to.equal("the push has more than 100000 series (refused at line 100001); the limit is 100000 (sample_limit)");
      const health = await fetch(`${agent.url}/-/healthy`);
      expect(health.status).to.equal(200);
    }
    // The body itself is held (30 MB) and 100,000 series parsed, never 2,000,000.
    expect(rssMiB(agent.child.pid!) - rssBefore).to.be.below(400);
    const api = (await (await fetch(`${agent.url}/api/v1/metrics`)).json()) as { data: unknown[] };
    expect(api.data).to.deep.equal([]);
  });

  it("finding 6: timestamps past int64 nanoseconds are a 400 naming the sample in all three formats, and other jobs' points are delivered", async () => {
    agent = await startTestAgent({ conf: { "pushgateway.conf": "[[inputs.pushgateway]]\n" } });
    expect((await push(agent, "good", "ok 1\n")).status).to.equal(200);
    const text = await push(agent, "t", "x 1 9223372036854775807\n");
    expect(text.status).to.equal(400);
    expect(text.text).to.match(/timestamp 9223372036854775807 is outside the range a timestamp may have .*, for metric "x"/);
    const om = await push(agent, "o", "om_t 1 1e30\n# EOF\n", { "Content-Type": "application/openmetrics-text; version=1.0.0" });
    expect(om.status).to.equal(400);
    expect(om.text).to.match(/timestamp "1e30" \(seconds\) is outside the range .*, on sample "om_t"/);
    const pb = await push(agent, "p", encodeFamilies({ name: "pb", type: 1, metric: [{ gauge: { value: 1 }, timestamp_ms: 9223372036855 }] }), { "Content-Type": PROTOBUF_CONTENT_TYPE });
    expect(pb.status).to.equal(400);
    expect(pb.text).to.match(/metric "pb" \{\}: timestamp 9223372036855 is outside the range/);
    const scrape = await (await fetch(`${agent.url}/metrics`)).text();
    expect(scrape).to.match(/^ok\{instance="",job="good"\} 1$/m);
    expect(scrape).not.to.match(/^(x|om_t|pb)\b/m);
    const lines = await agent.waitForLines(1);
    expect(lines.filter((l) => l.startsWith("ok,"))).to.have.length(1);
  });
});
