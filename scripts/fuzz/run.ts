// npm run fuzz: long fuzz runs of the targets in test/fuzz/targets, one worker thread per
// target, several targets at once (--jobs). Prints inputs tried per target and property as it
// goes, every failure with the seed and path that replay it, and a summary; exits 1 on any
// failure.
//
//   npm run fuzz -- --runs 1000000                 every parser target, a million inputs each
//   npm run fuzz -- --only text,protobuf --runs 1e5
//   npm run fuzz -- --only http --runs 20000       pushes to a running agent
//   npm run fuzz -- --only text --property mutated --replay=<seed>:<path>   replay one failure here
//
// Other options: --seed N (default: from the clock, printed), --jobs N (default: the cores, at
// most 2), --chunk N (inputs per fast-check run), --keep-going N (failures per property before
// it stops), --slow-ms N (one input taking longer fails), --hang-ms N, --out DIR, --minutes M
// (stop starting chunks after M minutes and report what was done: with --jobs as large as the
// number of targets, every target gets its share of the time).
import fc from "fast-check";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { probe } from "../../test/fuzz/probe.ts";
import { PARSER_TARGETS, TARGETS } from "../../test/fuzz/targets/index.ts";
import { describeFailure, runTarget, type RunResult } from "./supervise.ts";

const { values: a } = parseArgs({
  options: {
    runs: { type: "string", default: "100000" },
    only: { type: "string" },
    property: { type: "string" },
    seed: { type: "string" },
    jobs: { type: "string" },
    chunk: { type: "string", default: "2000" },
    "keep-going": { type: "string", default: "0" },
    "slow-ms": { type: "string", default: "2000" },
    "hang-ms": { type: "string", default: "30000" },
    out: { type: "string", default: "/tmp/pushkit-fuzz" },
    replay: { type: "string" },
    minutes: { type: "string" },
  },
});

const int = (s: string | undefined, name: string): number => {
  const n = Number(s);
  if (!Number.isFinite(n)) throw new Error(`--${name} needs a number, got ${JSON.stringify(s)}`);
  return Math.round(n);
};

const names = a.only ? a.only.split(",").map((s) => s.trim()) : PARSER_TARGETS;
for (const n of names) if (!TARGETS[n]) throw new Error(`no fuzz target "${n}"; known: ${Object.keys(TARGETS).join(", ")}`);

/** --replay: the failing case once more, in this process, with its whole stack trace. */
async function replay(spec: string): Promise<number> {
  const [seed, ...path] = spec.split(":");
  if (names.length !== 1 || !a.property) throw new Error("--replay needs --only <one target> and --property <name>");
  probe.slowMs = int(a["slow-ms"], "slow-ms");
  const opened = await (await TARGETS[names[0]]()).open();
  try {
    const p = opened.properties.find((x) => x.name === a.property);
    if (!p) throw new Error(`${names[0]} has no property "${a.property}"; it has ${opened.properties.map((x) => x.name).join(", ")}`);
    const r = await fc.check(p.property, { seed: int(seed, "replay"), path: path.join(":"), numRuns: 1 });
    if (!r.failed) {
      console.log("replayed: the property holds for this case now");
      return 0;
    }
    console.log(`counterexample: ${fc.stringify(r.counterexample)}\n`);
    console.log((r.errorInstance as Error)?.stack ?? r.errorInstance);
    return 1;
  } finally {
    await opened.close();
  }
}

function rate(done: number, ms: number): string {
  return `${Math.round((done * 1000) / Math.max(ms, 1)).toLocaleString("en-US")}/s`;
}

async function run(): Promise<number> {
  const runs = int(a.runs, "runs");
  const seed = a.seed !== undefined ? int(a.seed, "seed") : Date.now() % 2 ** 31;
  const jobs = a.jobs !== undefined ? int(a.jobs, "jobs") : Math.min(2, availableParallelism());
  const deadline = a.minutes !== undefined ? Date.now() + int(a.minutes, "minutes") * 60_000 : 0;
  console.log(`fuzzing ${names.join(", ")}: ${runs.toLocaleString("en-US")} inputs each, seed ${seed}, ${jobs} at once`);
  const queue = [...names];
  const results: RunResult[] = [];
  const t0 = Date.now();
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const started = Date.now();
      let lastPrint = 0;
      const done: Record<string, number> = {};
      const r = await runTarget({
        target: name,
        runs,
        seed,
        chunk: int(a.chunk, "chunk"),
        properties: a.property ? a.property.split(",") : [],
        keepGoing: int(a["keep-going"], "keep-going"),
        slowMs: int(a["slow-ms"], "slow-ms"),
        hangMs: int(a["hang-ms"], "hang-ms"),
        outDir: a.out,
        deadline,
        onProgress(property, n) {
          done[property] = n;
          if (Date.now() - lastPrint < 10_000) return;
          lastPrint = Date.now();
          const total = Object.values(done).reduce((x, y) => x + y, 0);
          console.log(`  ${name}: ${total.toLocaleString("en-US")} inputs (${rate(total, Date.now() - started)}), ${property} at ${n.toLocaleString("en-US")}`);
        },
        onFailure(f) {
          console.log(`\nFAILURE ${describeFailure(f)}\n`);
        },
      });
      results.push(r);
      const total = Object.values(r.done).reduce((x, y) => x + y, 0);
      console.log(`${name}: done, ${total.toLocaleString("en-US")} inputs in ${(r.ms / 1000).toFixed(1)} s (${rate(total, r.ms)}), ${r.failures.length} failure(s)`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));

  console.log(`\nsummary (seed ${seed}, ${((Date.now() - t0) / 1000).toFixed(1)} s in all)`);
  for (const r of results) {
    const total = Object.values(r.done).reduce((x, y) => x + y, 0);
    const by = r.plan.map((p) => `${p.name} ${(r.done[p.name] ?? 0).toLocaleString("en-US")}`).join(", ");
    console.log(`  ${r.target.padEnd(12)} ${total.toLocaleString("en-US").padStart(11)} inputs  ${(r.ms / 1000).toFixed(1).padStart(7)} s  ${rate(total, r.ms).padStart(9)}  failures ${r.failures.length}   (${by})`);
  }
  const failures = results.flatMap((r) => r.failures);
  // One of each: --keep-going finds the same failure again and again.
  const distinct = new Map<string, (typeof failures)[number]>();
  for (const f of failures) distinct.set(`${f.target}/${f.property}/${f.kind}/${f.message.split("\n")[0].replace(/\d+/g, "N")}`, f);
  if (distinct.size > 0) console.log(`\n${failures.length} failure(s), ${distinct.size} distinct:`);
  for (const f of distinct.values()) console.log(`\n${describeFailure(f)}`);
  return failures.length > 0 ? 1 : 0;
}

(a.replay !== undefined ? replay(a.replay) : run()).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
