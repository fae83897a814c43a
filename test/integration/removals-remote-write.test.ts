// Removals end series in a real Prometheus 2.42: an agent (started in this process, with a
// test input that hands points and removals to the pipeline as an input would) writes through
// its durable prometheus_remote_write queue, and a file sink beside it shows that line-protocol
// sinks get nothing for removals.
import { expect } from "chai";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { startAgent, type RunningAgent } from "../../core/agent.ts";
import { PointBatch } from "../../core/batch.ts";
import { loadConfig } from "../../core/config.ts";
import { defineInput, type InputContext } from "../../core/plugin.ts";
import type { Point } from "../../core/point.ts";
import { Registry } from "../../core/registry.ts";
import file from "../../plugins/sinks/file/index.ts";
import prometheusRemoteWrite from "../../plugins/sinks/prometheus_remote_write/index.ts";
import { startPrometheus, type RunningPrometheus, type VectorSample } from "../support/prometheus.ts";

/** Hands whatever the test gives it to the pipeline, as the pushgateway's group store will. */
let probe: InputContext | undefined;
const probeInput = defineInput({
  name: "probe",
  description: "test input: exposes its context",
  options: {},
  create(_options, ctx) {
    probe = ctx;
    return {};
  },
});

function point(job: string, value: number, timeMs: number): Point {
  return { measurement: "rmtest", tags: { job }, fields: { value }, time: BigInt(timeMs) * 1_000_000n };
}

function rows(result: VectorSample[]): string[] {
  return result.map((r) => `${r.metric.job} => ${r.value[1]}`).sort();
}

/** Polls an instant query until `done` holds for its rows; fails with what it last saw. */
async function until(prom: RunningPrometheus, expr: string, timeMs: number, done: (rows: string[]) => boolean, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = rows(await prom.query(expr, timeMs));
    if (done(got)) return got;
    if (Date.now() > deadline) throw new Error(`${expr} at ${timeMs}: still ${JSON.stringify(got)}\nprometheus:\n${prom.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("removals through the agent to Prometheus 2.42 (integration)", function () {
  this.timeout(40_000);

  let prom: RunningPrometheus;
  let agent: RunningAgent | undefined;
  let dir: string;
  let pointsFile: string;

  before(async () => {
    prom = await startPrometheus();
    dir = mkdtempSync(path.join(tmpdir(), "pushkit-removals-"));
    pointsFile = path.join(dir, "points.lp");
    const confDir = path.join(dir, "conf.d");
    mkdirSync(path.join(confDir, "inputs"), { recursive: true });
    writeFileSync(
      path.join(confDir, "agent.conf"),
      `[agent]
data_dir = ${JSON.stringify(path.join(dir, "data"))}
[http]
listen = "127.0.0.1:0"
[[sinks.prometheus_remote_write]]
url = ${JSON.stringify(prom.writeUrl)}
flush_interval = "50ms"
[[sinks.file]]
path = ${JSON.stringify(pointsFile)}
flush_interval = "20ms"
`,
    );
    writeFileSync(path.join(confDir, "inputs", "probe.conf"), "[[inputs.probe]]\n");
    const registry = new Registry().addInput(probeInput).addSink(prometheusRemoteWrite).addSink(file);
    agent = await startAgent(loadConfig({ confDir, env: {}, registry }), registry, pino({ level: "silent" }));
  });
  after(async () => {
    await agent?.stop();
    await prom?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a removed series is gone from queries after its removal time; one not removed stays; the file sink gets only the points", async () => {
    const ctx = probe!;
    expect(ctx.removalsWanted()).to.equal(true);
    const t0 = Date.now() - 30_000;
    await ctx.emit(PointBatch.fromPoints([point("gone", 1, t0), point("kept", 2, t0)]));
    await until(prom, "rmtest_value", t0 + 5000, (r) => r.length === 2);

    await ctx.retract(PointBatch.removals([point("gone", 0, t0 + 1000)]));
    expect(await until(prom, "rmtest_value", t0 + 5000, (r) => r.length < 2)).to.deep.equal(["kept => 2"]);
    // Before its end the series still answers with its last value.
    expect(rows(await prom.query("rmtest_value", t0 + 500))).to.deep.equal(["gone => 1", "kept => 2"]);
    // Without the marker it would have answered for 5 minutes.
    expect(rows(await prom.query("rmtest_value", t0 + 200_000))).to.deep.equal(["kept => 2"]);

    // Emitted back to back, the removal still reaches Prometheus after the point it ends: in
    // the other order the point would be refused as out of order and never be seen at all.
    await ctx.emit(PointBatch.fromPoints([point("brief", 3, t0 + 2000)]));
    await ctx.retract(PointBatch.removals([point("brief", 0, t0 + 3000)]));
    await until(prom, 'rmtest_value{job="brief"}', t0 + 2500, (r) => r.length === 1);
    expect(rows(await prom.query('rmtest_value{job="brief"}', t0 + 3500))).to.deep.equal([]);

    expect(await agent!.stop()).to.equal(true);
    agent = undefined;
    expect(readFileSync(pointsFile, "utf8").split("\n").sort()).to.deep.equal([
      "",
      `rmtest,job=brief value=3 ${BigInt(t0 + 2000) * 1_000_000n}`,
      `rmtest,job=gone value=1 ${BigInt(t0) * 1_000_000n}`,
      `rmtest,job=kept value=2 ${BigInt(t0) * 1_000_000n}`,
    ]);
  });
});
