// Large scrapes against a real agent process (issue 14, finding 3): with 200,000 series stored,
// GET /metrics (text and protobuf), GET /api/v1/metrics and the status page are written in
// slices, so /-/healthy keeps answering while they are (before: each blocked the event loop for
// the whole answer, seconds at this size); and the answers are whole.
import http from "node:http";
import { expect } from "chai";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";

// A fleet's shape: many groups of a few thousand series each.
const GROUPS = 40;
const PER_GROUP = 5_000;

function request(url: string, method = "GET", body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Probes /-/healthy every 10 ms until `work` is done: every answer's time, in ms. */
async function healthWhile(url: string, work: Promise<unknown>): Promise<number[]> {
  let done = false;
  void work.finally(() => (done = true));
  const times: number[] = [];
  while (!done) {
    const r = await request(`${url}/-/healthy`);
    expect(r.status).to.equal(200);
    times.push(r.ms);
    await new Promise((r) => setTimeout(r, 10));
  }
  await work;
  return times;
}

describe("large scrapes keep the agent responsive (integration)", function () {
  this.timeout(180_000);
  let agent: RunningTestAgent;

  before(async () => {
    agent = await startTestAgent({ conf: { "pushgateway.conf": "[[inputs.pushgateway]]\nmax_series = 300000\n" } });
    for (let g = 0; g < GROUPS; g++) {
      let body = "# HELP load_series A series of the load.\n# TYPE load_series gauge\n";
      for (let i = 0; i < PER_GROUP; i++) body += `load_series{shard="${i % 97}",series="${i}"} ${i / 7}\n`;
      const r = await request(`${agent.url}/metrics/job/load/instance/g${g}`, "PUT", body);
      expect(r.status, r.body.toString()).to.equal(200);
    }
  });
  after(() => agent.cleanup());

  it("answers /-/healthy within 500 ms while /metrics (text, protobuf), /api/v1/metrics and the status page of 200,000 series are written", async () => {
    const scrapes = Promise.all([
      request(`${agent.url}/metrics`),
      request(`${agent.url}/metrics`, "GET", undefined, { Accept: "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited" }),
      request(`${agent.url}/api/v1/metrics`),
      request(`${agent.url}/`),
    ]);
    const health = await healthWhile(agent.url, scrapes);
    const [text, protobuf, json, page] = await scrapes;
    const slowest = Math.max(...health);
    console.log(`      /-/healthy: ${health.length} probes, slowest ${slowest.toFixed(0)} ms; answers took ${[text, protobuf, json, page].map((r) => r.ms.toFixed(0)).join(", ")} ms`);
    // Probes ran during the scrapes, not only after them.
    expect(health.length).to.be.greaterThan(5);
    expect(slowest).to.be.below(500);

    for (const r of [text, protobuf, json, page]) expect(r.status).to.equal(200);
    const series = text.body.toString().split("\n").filter((l) => l.startsWith("load_series{"));
    expect(series).to.have.length(GROUPS * PER_GROUP);
    expect(protobuf.body.length).to.be.greaterThan(GROUPS * PER_GROUP * 20);
    const data = (JSON.parse(json.body.toString()) as { data: { load_series: { metrics: unknown[] } }[] }).data;
    expect(data.map((g) => g.load_series.metrics.length)).to.deep.equal(Array(GROUPS).fill(PER_GROUP));
    expect(page.body.toString()).to.contain(`${GROUPS} groups, as of`);
  });

  it("serves the same text again from what it wrote before, and what a push changed", async () => {
    const first = (await request(`${agent.url}/metrics`)).body.toString();
    const pushed = await request(`${agent.url}/metrics/job/load/instance/g1`, "POST", "# TYPE load_extra gauge\nload_extra 42\n");
    expect(pushed.status, pushed.body.toString()).to.equal(200);
    const again = (await request(`${agent.url}/metrics`)).body.toString();
    const changed = (text: string) => text.split("\n").filter((l) => !l.startsWith("load_series{") && !/^(pushkit|process|nodejs)_/.test(l) && !l.startsWith("# "));
    expect(again.split("\n").filter((l) => l.startsWith("load_series{"))).to.deep.equal(first.split("\n").filter((l) => l.startsWith("load_series{")));
    expect(changed(again)).to.include('load_extra{instance="g1",job="load"} 42');
    expect(changed(first).some((l) => l.startsWith("load_extra"))).to.equal(false);
  });
});
