// A bounded fuzz run of every parser target (test/fuzz/targets) in `npm test`: a fixed seed and
// a few thousand inputs each, in worker threads watched for hangs (scripts/fuzz/supervise.ts),
// two at a time. `npm run fuzz` runs the same properties for as long as one likes.
import { expect } from "chai";
import { describeFailure, runTarget, type RunResult } from "../../scripts/fuzz/supervise.ts";

/** Inputs per target: enough to pass every property many times, few enough for seconds. */
const RUNS: Record<string, number> = { text: 1500, openmetrics: 1500, protobuf: 1500, grouping: 4000, snappy: 1000, config: 1000 };
const SEED = 20_250_614;

describe("bounded fuzzing (fast-check, fixed seed)", function () {
  this.timeout(240_000);
  const results = new Map<string, RunResult>();

  before(async () => {
    const queue = Object.keys(RUNS);
    const next = async () => {
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
        // The heap bound and hang bound are the harness's: an input that loops or grows without end fails, not the suite.
        results.set(t, await runTarget({ target: t, runs: RUNS[t], seed: SEED, chunk: RUNS[t], hangMs: 60_000, maxHeapMb: 1024 }));
      }
    };
    await Promise.all([next(), next()]);
  });

  for (const target of Object.keys(RUNS)) {
    it(`${target}: every property holds for ${RUNS[target]} inputs`, () => {
      const r = results.get(target)!;
      expect(r.failures.map(describeFailure).join("\n\n"), `${target} failed`).to.equal("");
      const tried = Object.values(r.done).reduce((a, b) => a + b, 0);
      expect(tried, `inputs tried by ${target} (${JSON.stringify(r.done)})`).to.be.at.least(RUNS[target] - r.plan.length);
    });
  }
});
