// Parser micro-benchmark of pushkit's own text-format parser against Go's
// expfmt.TextParser. Only the wiring lives here; the measuring loop and the
// report are in parse-bench.ts.

import { parseText } from '../../plugins/formats/prometheus/parse-text.ts';
import { parserReport, runParserBench, type ParserOptions, type ParserRun } from './parse-bench.ts';

export type { ParserOptions, ParserRun };
export { parserReport };

export function runParser(o: ParserOptions): Promise<ParserRun[]> {
  return runParserBench(parseText, o);
}
