// The push endpoint of a real agent under fuzzed pushes (test/fuzz/targets/http.ts): every
// answer 200/202 or 4xx with a message, none 5xx, none later than its timeout, and every
// exposition of what was accepted parses. Run in this process: the agent is a child process,
// so nothing here can hang but a request, which times out.
import { expect } from "chai";
import fc from "fast-check";
import { httpTarget } from "./targets/http.ts";
import type { OpenTarget } from "./targets/target.ts";

const RUNS = { push: 250, scrape: 25 };

describe("fuzzed pushes to a running agent", function () {
  this.timeout(120_000);
  let target: OpenTarget;

  before(async () => {
    target = await httpTarget.open();
  });

  after(async () => {
    await target?.close();
  });

  for (const [name, runs] of Object.entries(RUNS)) {
    it(`${name}: ${runs} requests`, async () => {
      const p = target.properties.find((x) => x.name === name)!;
      const r = await fc.check(p.property, { numRuns: runs, seed: 20_250_614 });
      expect(r.failed ? `${(r.errorInstance as Error)?.message}\nseed ${r.seed} path ${r.counterexamplePath}` : "", `${name} failed`).to.equal("");
    });
  }
});
