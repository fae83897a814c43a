// Parser micro-benchmark machinery, independent of which parser is measured:
// parser.ts plugs in pushkit's real parseText; a stand-in can be plugged in
// the same way while that module does not exist yet.

import type { Body } from './bodies.ts';
import { div, num, ratio, table } from './format.ts';
import { runGoparse } from './goparse.ts';

/** Anything with parseText's shape: parse one body, throw on bad input. */
export type ParseFn = (body: Buffer) => unknown;

export interface ParserRun {
  body: string;
  bytes: number;
  samples: number;
  pushkit?: { iterations: number; seconds: number; mbPerS: number; samplesPerS: number };
  go?: { iterations: number; seconds: number; mbPerS: number; samplesPerS: number };
  /** pushkit / go samples per second: the median of the rounds' ratios. */
  ratio?: number;
  /** The ratio in each round, pushkit and Go measured back to back. */
  roundRatios?: number[];
  error?: string;
}

export interface ParserOptions {
  bodies: Body[];
  bodyFiles: Map<string, string>;
  seconds: number;
  warmupS: number;
  /** Alternating rounds of pushkit and Go (default 3). */
  rounds?: number;
  log: (line: string) => void;
}

// Keeps results reachable so the JIT cannot drop the parse as dead code.
let sink = 0;

/**
 * Calls parse(body) until `budgetS` has elapsed. The clock is read once per
 * batch and batches grow toward 1/20 of the budget, so timing overhead is
 * negligible even for a one-sample body. Mirrors goparse's loop.
 */
function timeLoop(parse: ParseFn, body: Buffer, budgetS: number): { iterations: number; seconds: number } {
  const budgetNs = BigInt(Math.round(budgetS * 1e9));
  const start = process.hrtime.bigint();
  let iterations = 0;
  let batch = 1;
  for (;;) {
    for (let i = 0; i < batch; i++) {
      const r = parse(body);
      if (Array.isArray(r)) sink += r.length;
    }
    iterations += batch;
    const elapsed = process.hrtime.bigint() - start;
    if (elapsed >= budgetNs) return { iterations, seconds: Number(elapsed) / 1e9 };
    const perIter = Number(elapsed) / iterations || 1;
    batch = Math.max(batch, Math.floor(Number(budgetNs) / 20 / perIter));
  }
}

export function measureTs(parse: ParseFn, body: Body, seconds: number, warmupS: number) {
  // Check once, outside the timed loop, that the parser accepts the body and
  // returns something non-empty: timing a parser that bails early is useless.
  const first = parse(body.body);
  if (Array.isArray(first) && first.length === 0) throw new Error('parser returned no metric families');
  if (warmupS > 0) timeLoop(parse, body.body, warmupS);
  const { iterations, seconds: s } = timeLoop(parse, body.body, seconds);
  return {
    iterations,
    seconds: s,
    mbPerS: (body.body.length * iterations) / s / 1e6,
    samplesPerS: (body.samples * iterations) / s,
  };
}

export type Rate = { iterations: number; seconds: number; mbPerS: number; samplesPerS: number };

export function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The run with the median samples/s, totals of iterations and seconds kept for the record. */
export function medianRate(rates: Rate[]): Rate {
  const m = median(rates.map((r) => r.samplesPerS));
  const at = rates.find((r) => r.samplesPerS === m) ?? rates[0];
  return { ...at, samplesPerS: m, mbPerS: at.mbPerS * (m / at.samplesPerS) };
}

/**
 * Times `parse` and goparse on every body in `rounds` alternating rounds (pushkit, then Go,
 * then pushkit again...), each getting seconds/rounds per body. This machine's speed drifts by
 * tens of percent over a minute; alternating short rounds and taking medians keeps that drift
 * out of the ratio.
 */
export async function runParserBench(parse: ParseFn, o: ParserOptions): Promise<ParserRun[]> {
  const runs: ParserRun[] = o.bodies.map((b) => ({ body: b.name, bytes: b.body.length, samples: b.samples }));
  const rounds = Math.max(1, o.rounds ?? 3);
  const per = o.seconds / rounds;
  const ours: Rate[][] = o.bodies.map(() => []);
  const theirs: Rate[][] = o.bodies.map(() => []);
  const ratios: number[][] = o.bodies.map(() => []);
  const files = o.bodies.map((b) => o.bodyFiles.get(b.name) ?? "");

  for (let round = 1; round <= rounds; round++) {
    for (const [i, body] of o.bodies.entries()) {
      if (runs[i].error) continue;
      o.log(`parser: round ${round}/${rounds}: pushkit <- ${body.name} (${per.toFixed(1)} s)`);
      try {
        ours[i].push(measureTs(parse, body, per, round === 1 ? o.warmupS : 0));
      } catch (err) {
        runs[i].error = `pushkit parser: ${(err as Error).message}`;
      }
    }
    o.log(`parser: round ${round}/${rounds}: go expfmt <- ${o.bodies.map((b) => b.name).join(', ')} (${per.toFixed(1)} s each)`);
    try {
      if (files.some((f) => f === "")) throw new Error("a body has no file");
      const go = await runGoparse(files, per, round === 1 ? o.warmupS : 0);
      for (const [i, g] of go.entries()) {
        if (g.samples !== runs[i].samples) {
          throw new Error(`goparse counted ${g.samples} samples in ${runs[i].body}, expected ${runs[i].samples}`);
        }
        theirs[i].push({ iterations: g.iterations, seconds: g.seconds, mbPerS: g.mb_per_s, samplesPerS: g.samples_per_s });
      }
    } catch (err) {
      const msg = `go parser: ${(err as Error).message}`;
      for (const r of runs) r.error = r.error ? `${r.error}; ${msg}` : msg;
      break;
    }
    for (let i = 0; i < o.bodies.length; i++) {
      const a = ours[i][round - 1];
      const b = theirs[i][round - 1];
      if (a && b) ratios[i].push(a.samplesPerS / b.samplesPerS);
    }
  }
  if (sink < 0) console.log(sink); // never true; keeps `sink` observable

  for (const [i, r] of runs.entries()) {
    if (ours[i].length) r.pushkit = medianRate(ours[i]);
    if (theirs[i].length) r.go = medianRate(theirs[i]);
    r.ratio = ratios[i].length ? median(ratios[i]) : div(r.pushkit?.samplesPerS, r.go?.samplesPerS);
    r.roundRatios = ratios[i];
  }
  return runs;
}

export function parserReport(runs: ParserRun[]): string {
  const rows = runs.map((r) => [
    r.body,
    num(r.bytes),
    num(r.samples),
    num(r.pushkit?.mbPerS, 1),
    num(r.pushkit?.samplesPerS),
    num(r.go?.mbPerS, 1),
    num(r.go?.samplesPerS),
    ratio(r.ratio),
  ]);
  const out = [
    table(['body', 'bytes', 'samples', 'pushkit MB/s', 'pushkit samples/s', 'go MB/s', 'go samples/s', 'pushkit/go'], rows),
  ];
  for (const r of runs) {
    if (r.roundRatios?.length) out.push(`${r.body}: pushkit/go by round: ${r.roundRatios.map((x) => ratio(x)).join(', ')} (median shown)`);
  }
  for (const r of runs) if (r.error) out.push(`error: ${r.body}: ${r.error}`);
  return out.join('\n');
}
