// The prometheus_remote_write sink against a real Prometheus 2.42 (Debian's, started here on a
// loopback port with its remote-write receiver): what the agent writes is what PromQL reads
// back, staleness markers end a series, and Prometheus' refusals are judged as they should be.
import { expect } from "chai";
import { SinkWriteError } from "../../core/errors.ts";
import { encodeWriteRequest, RemoteWriteClient, writeStaleMarkers, type TimeSeries } from "../../plugins/sinks/prometheus_remote_write/index.ts";
import { startTestAgent, type RunningTestAgent } from "../support/agent.ts";
import { startPrometheus, type RunningPrometheus, type VectorSample } from "../support/prometheus.ts";

async function push(agent: RunningTestAgent, path: string, body: string): Promise<void> {
  const res = await fetch(`${agent.url}${path}`, { method: "PUT", body });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`push to ${path}: ${res.status} ${text}\nagent stderr:\n${agent.stderr().slice(-4000)}`);
}

/** Polls an instant query until it gives n series (or fails after the timeout). */
async function waitForSeries(prom: RunningPrometheus, expr: string, timeMs: number, n: number, timeoutMs = 10_000): Promise<VectorSample[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const got = await prom.query(expr, timeMs);
    if (got.length >= n) return got;
    if (Date.now() > until) throw new Error(`${expr}: expected ${n} series, got ${JSON.stringify(got)}\nprometheus:\n${prom.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Series as "labels => value", sorted, for exact comparison. */
function rows(result: VectorSample[]): string[] {
  return result
    .map((r) => {
      const labels = Object.keys(r.metric)
        .sort()
        .map((k) => `${k}=${JSON.stringify(r.metric[k])}`)
        .join(",");
      return `{${labels}} => ${r.value[1]}`;
    })
    .sort();
}

function agentConf(writeUrl: string): string {
  return `[http]
listen = "127.0.0.1:0"
[log]
level = "debug"
format = "json"
[[sinks.prometheus_remote_write]]
url = ${JSON.stringify(writeUrl)}
flush_interval = "50ms"
`;
}

describe("prometheus_remote_write sink against Prometheus 2.42 (integration)", function () {
  this.timeout(40_000);

  let prom: RunningPrometheus;
  let client: RemoteWriteClient;
  before(async () => {
    prom = await startPrometheus();
    client = new RemoteWriteClient({ url: prom.writeUrl, username: "", password: "", bearer_token: "", headers: {}, timeout: 5000 });
  });
  after(async () => {
    client?.close();
    await prom?.stop();
  });

  describe("the agent with a [[sinks.prometheus_remote_write]] table", () => {
    let agent: RunningTestAgent;
    before(async () => {
      agent = await startTestAgent({ conf: { "agent.conf": agentConf(prom.writeUrl), "inputs/pushgateway.conf": "[[inputs.pushgateway]]\n" } });
    });
    after(async () => {
      await agent?.stop();
      agent?.cleanup();
    });

    it("writes counter, labelled gauge, histogram buckets and summary quantiles that PromQL reads back exactly", async () => {
      // Prometheus refuses samples older than its head block allows: a recent explicit time.
      const ts = Date.now() - 60_000;
      const body = [
        "# TYPE rwtest_jobs_total counter",
        `rwtest_jobs_total 42 ${ts}`,
        "# TYPE rwtest_queue_depth gauge",
        `rwtest_queue_depth{queue="a b",region="eu-1"} 7.5 ${ts}`,
        `rwtest_queue_depth{queue="c",region="eu-1"} -3 ${ts}`,
        "# TYPE rwtest_latency_seconds histogram",
        `rwtest_latency_seconds_bucket{le="0.1"} 3 ${ts}`,
        `rwtest_latency_seconds_bucket{le="1.0"} 5 ${ts}`,
        `rwtest_latency_seconds_bucket{le="+Inf"} 6 ${ts}`,
        `rwtest_latency_seconds_sum 2.25 ${ts}`,
        `rwtest_latency_seconds_count 6 ${ts}`,
        "# TYPE rwtest_size_bytes summary",
        `rwtest_size_bytes{quantile="0.5"} 100 ${ts}`,
        `rwtest_size_bytes{quantile="0.99"} 250.5 ${ts}`,
        `rwtest_size_bytes_sum 1000 ${ts}`,
        `rwtest_size_bytes_count 8 ${ts}`,
        "",
      ].join("\n");
      await push(agent, "/metrics/job/rw/instance/i1", body);

      const got = await waitForSeries(prom, '{__name__=~"rwtest_.+"}', ts, 12);
      const job = 'instance="i1",job="rw"';
      expect(rows(got)).to.deep.equal(
        [
          `{__name__="rwtest_jobs_total",${job}} => 42`,
          `{__name__="rwtest_queue_depth",${job},queue="a b",region="eu-1"} => 7.5`,
          `{__name__="rwtest_queue_depth",${job},queue="c",region="eu-1"} => -3`,
          `{__name__="rwtest_latency_seconds_bucket",${job},le="0.1"} => 3`,
          `{__name__="rwtest_latency_seconds_bucket",${job},le="1"} => 5`,
          `{__name__="rwtest_latency_seconds_bucket",${job},le="+Inf"} => 6`,
          `{__name__="rwtest_latency_seconds_sum",${job}} => 2.25`,
          `{__name__="rwtest_latency_seconds_count",${job}} => 6`,
          `{__name__="rwtest_size_bytes",${job},quantile="0.5"} => 100`,
          `{__name__="rwtest_size_bytes",${job},quantile="0.99"} => 250.5`,
          `{__name__="rwtest_size_bytes_sum",${job}} => 1000`,
          `{__name__="rwtest_size_bytes_count",${job}} => 8`,
        ].sort(),
      );
      // Each sample sits at the pushed millisecond: nothing one ms before it.
      for (const r of got) expect(r.value[0]).to.equal(ts / 1000);
      expect(await prom.query('{__name__=~"rwtest_.+"}', ts - 1)).to.deep.equal([]);
      // PromQL over them works as over scraped data.
      const [q] = await prom.query('histogram_quantile(0.5, rwtest_latency_seconds_bucket{job="rw"})', ts);
      expect(Number(q.value[1])).to.be.closeTo(0.1, 1e-9); // rank 3 of 6 is the end of the first bucket
    });

    it("writes later pushes of the same series as further samples", async () => {
      const t1 = Date.now() - 50_000;
      const t2 = t1 + 15_000;
      await push(agent, "/metrics/job/rw2", `# TYPE rwtest_runs_total counter\nrwtest_runs_total 1 ${t1}\n`);
      await waitForSeries(prom, "rwtest_runs_total", t1, 1);
      await push(agent, "/metrics/job/rw2", `# TYPE rwtest_runs_total counter\nrwtest_runs_total 4 ${t2}\n`);
      const until = Date.now() + 10_000;
      while ((await prom.query("count_over_time(rwtest_runs_total[1m])", t2))[0]?.value[1] !== "2") {
        if (Date.now() > until) throw new Error(`the second sample did not arrive; prometheus:\n${prom.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const [r] = await prom.query("rwtest_runs_total - rwtest_runs_total offset 15s", t2);
      expect(r.value[1]).to.equal("3");
    });
  });

  it("the ENV_SINKS form remote-write+http://user:pass@host:port/api/v1/write", async () => {
    const u = new URL(prom.writeUrl);
    const agent = await startTestAgent({
      conf: { "agent.conf": '[http]\nlisten = "127.0.0.1:0"\n[log]\nformat = "json"\n', "inputs/pushgateway.conf": "[[inputs.pushgateway]]\n" },
      env: { ENV_SINKS: `remote-write+http://user:p%40ss@${u.host}${u.pathname}` },
    });
    try {
      const ts = Date.now() - 40_000;
      await push(agent, "/metrics/job/envsinks", `rwtest_env_value 11 ${ts}\n`);
      const [r] = await waitForSeries(prom, "rwtest_env_value", ts, 1);
      expect(r.metric).to.deep.equal({ __name__: "rwtest_env_value", job: "envsinks" });
      expect(r.value).to.deep.equal([ts / 1000, "11"]);
    } finally {
      await agent.stop();
      agent.cleanup();
    }
  });

  it("after a staleness marker the series has no value; without one it lingers for 5 minutes", async () => {
    const t0 = Date.now() - 30_000;
    const series = (name: string): TimeSeries => ({
      labels: [
        { name: "__name__", value: name },
        { name: "group", value: "g1" },
      ],
      samples: [{ value: 5, timestamp: t0 }],
    });
    await client.send(encodeWriteRequest([series("rwtest_marked"), series("rwtest_unmarked")]));
    await waitForSeries(prom, '{__name__=~"rwtest_(un)?marked"}', t0, 2);

    await writeStaleMarkers(client, [{ group: "g1", __name__: "rwtest_marked" }], t0 + 1000);

    expect(rows(await prom.query('{__name__=~"rwtest_(un)?marked"}', t0 + 500))).to.deep.equal([
      '{__name__="rwtest_marked",group="g1"} => 5',
      '{__name__="rwtest_unmarked",group="g1"} => 5',
    ]);
    for (const at of [t0 + 1000, t0 + 5000]) {
      expect(rows(await prom.query('{__name__=~"rwtest_(un)?marked"}', at))).to.deep.equal(['{__name__="rwtest_unmarked",group="g1"} => 5']);
    }
    expect(rows(await prom.query("rwtest_unmarked", t0 + 299_000))).to.deep.equal(['{__name__="rwtest_unmarked",group="g1"} => 5']);
    expect(await prom.query("rwtest_unmarked", t0 + 301_000)).to.deep.equal([]);
    // The marker is a sample Prometheus stores (and hides from queries), not a gap.
    const raw = await prom.query("count_over_time(rwtest_marked[1m])", t0 + 2000);
    expect(raw.map((r) => r.value[1])).to.deep.equal(["1"]);
  });

  describe("what Prometheus refuses, and how the sink judges it", () => {
    const t = Date.now() - 20_000;
    const one = (name: string, value: number, timestamp: number): TimeSeries => ({ labels: [{ name: "__name__", value: name }], samples: [{ value, timestamp }] });

    async function refusal(series: TimeSeries[]): Promise<SinkWriteError> {
      try {
        await client.send(encodeWriteRequest(series));
      } catch (e) {
        expect(e).to.be.instanceOf(SinkWriteError);
        return e as SinkWriteError;
      }
      throw new Error("expected Prometheus to refuse the request");
    }

    before(async () => {
      await client.send(encodeWriteRequest([one("rwtest_refusals", 1, t)]));
    });

    it("the same sample again is accepted (204)", async () => {
      await client.send(encodeWriteRequest([one("rwtest_refusals", 1, t)]));
    });

    it("the same timestamp with another value: 400 duplicate sample for timestamp, not retried", async () => {
      const e = await refusal([one("rwtest_refusals", 2, t)]);
      expect(e.retry).to.equal(false);
      expect(e.detail).to.deep.equal({ status: 400, response: "duplicate sample for timestamp" });
    });

    it("an older sample than the series' last: 400 out of order sample, not retried", async () => {
      const e = await refusal([one("rwtest_refusals", 3, t - 1000)]);
      expect(e.retry).to.equal(false);
      expect(e.detail).to.deep.equal({ status: 400, response: "out of order sample" });
    });

    it("a sample older than the head block allows: 400 out of bounds, not retried", async () => {
      const e = await refusal([one("rwtest_too_old", 1, Date.now() - 3 * 3600_000)]);
      expect(e.retry).to.equal(false);
      expect(e.detail).to.deep.equal({ status: 400, response: "out of bounds" });
    });

    it("one refused sample refuses the whole request: its good samples are not stored either", async () => {
      const e = await refusal([one("rwtest_good_neighbour", 1, t), one("rwtest_refusals", 4, t - 5000)]);
      expect(e.detail.status).to.equal(400);
      expect(await prom.query("rwtest_good_neighbour", t)).to.deep.equal([]);
    });
  });
});
