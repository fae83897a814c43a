// Protobuf against text: the same families, as the text body and as its delimited-protobuf
// twin (protobuf-body.ts), each parsed by pushkit on one thread, in alternating rounds so the
// machine's drift hits both alike. The goal: protobuf decoding at least as fast in samples/s.

import { parseProtobuf } from '../../plugins/formats/prometheus/parse-protobuf.ts';
import { parseText } from '../../plugins/formats/prometheus/parse-text.ts';
import type { Body } from './bodies.ts';
import { num, ratio, table } from './format.ts';
import { measureTs, median, medianRate, type Rate } from './parse-bench.ts';
import { protobufTwin } from './protobuf-body.ts';

export interface FormatRun {
  body: string;
  samples: number;
  textBytes: number;
  protobufBytes: number;
  text?: Rate;
  protobuf?: Rate;
  /** protobuf / text samples per second: the median of the rounds' ratios. */
  ratio?: number;
  roundRatios?: number[];
  error?: string;
}

export function runFormatBench(o: { bodies: Body[]; seconds: number; warmupS: number; rounds?: number; log: (line: string) => void }): FormatRun[] {
  const rounds = Math.max(1, o.rounds ?? 3);
  const per = o.seconds / rounds;
  return o.bodies.map((body) => {
    const twin = { ...body, body: protobufTwin(body.body) };
    const run: FormatRun = { body: body.name, samples: body.samples, textBytes: body.body.length, protobufBytes: twin.body.length };
    const texts: Rate[] = [];
    const protos: Rate[] = [];
    const ratios: number[] = [];
    try {
      // The twin must hold what the text holds, or the comparison means nothing.
      const count = (fams: ReturnType<typeof parseText>) => fams.reduce((n, f) => n + f.metrics.length, 0);
      if (count(parseProtobuf(twin.body)) !== count(parseText(body.body))) throw new Error('the protobuf twin has other metrics than the text body');
      for (let round = 1; round <= rounds; round++) {
        o.log(`formats: round ${round}/${rounds}: text and protobuf <- ${body.name} (${per.toFixed(1)} s each)`);
        const warm = round === 1 ? o.warmupS : 0;
        const t = measureTs(parseText, body, per, warm);
        const p = measureTs(parseProtobuf, twin, per, warm);
        texts.push(t);
        protos.push(p);
        ratios.push(p.samplesPerS / t.samplesPerS);
      }
      run.text = medianRate(texts);
      run.protobuf = medianRate(protos);
      run.ratio = median(ratios);
      run.roundRatios = ratios;
    } catch (err) {
      run.error = (err as Error).message;
    }
    return run;
  });
}

export function formatReport(runs: FormatRun[]): string {
  const rows = runs.map((r) => [r.body, num(r.samples), num(r.textBytes), num(r.protobufBytes), num(r.text?.samplesPerS), num(r.protobuf?.samplesPerS), ratio(r.ratio)]);
  const out = [table(['body', 'samples', 'text bytes', 'protobuf bytes', 'text samples/s', 'protobuf samples/s', 'protobuf/text'], rows)];
  for (const r of runs) if (r.roundRatios?.length) out.push(`${r.body}: protobuf/text by round: ${r.roundRatios.map((x) => ratio(x)).join(', ')} (median shown)`);
  for (const r of runs) if (r.error) out.push(`error: ${r.body}: ${r.error}`);
  return out.join('\n');
}
