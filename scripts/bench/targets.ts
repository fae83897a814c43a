// Performance goals for pushkit relative to the reference implementations.
// They are reported as PASS/MISS only: a miss is information for whoever
// reads the report, never a reason for the benchmark to fail.

import type { AggregateRatio } from './aggregate.ts';
import type { DeliverySummary } from './delivery.ts';
import type { GroupGrowth } from './groups.ts';
import type { HttpRatio } from './http.ts';
import type { ParserRun } from './parse-bench.ts';
import type { FormatRun } from './protobuf.ts';
import { num, ratio, table } from './format.ts';

export interface TargetCheck {
  goal: string;
  want: number;
  /** Whether `got` must be at least (the default) or at most `want`. */
  direction?: '>=' | '<=';
  got?: number;
  status: 'PASS' | 'MISS' | 'n/a';
}

function check(goal: string, want: number, got: number | undefined, direction: '>=' | '<=' = '>='): TargetCheck {
  const met = got !== undefined && (direction === '>=' ? got >= want : got <= want);
  return { goal, want, direction, got, status: got === undefined ? 'n/a' : met ? 'PASS' : 'MISS' };
}

export function evaluateTargets(
  http: HttpRatio[] | undefined,
  parser: ParserRun[] | undefined,
  formats?: FormatRun[],
  delivery?: DeliverySummary[],
  groups?: GroupGrowth[],
  aggregate?: AggregateRatio,
): TargetCheck[] {
  const out: TargetCheck[] = [];
  if (http) {
    const small = http.find((r) => r.body === 'small');
    const large = http.find((r) => r.body === 'large');
    if (small) out.push(check('http small: pushes/s vs pushgateway', 4, small.pushesPerS));
    if (large) out.push(check('http large: samples/s vs pushgateway', 3, large.samplesPerS));
  }
  // The parser goal applies to every body measured.
  for (const r of parser ?? []) out.push(check(`parser ${r.body}: samples/s vs go expfmt`, 2, r.ratio));
  for (const r of formats ?? []) out.push(check(`protobuf ${r.body}: samples/s vs pushkit text`, 1, r.ratio));
  // Durability may cost, but not more than half the end-to-end throughput.
  for (const r of delivery ?? []) out.push(check(`delivery ${r.backend}: durable vs non-durable end-to-end points/s`, 0.5, r.ratio));
  // A push must not get slower as the store grows: p50 at the most groups within 1.5x of p50 at the fewest.
  const g = groups?.find((r) => r.target === 'pushkit');
  if (g) out.push(check(`groups: pushkit p50 at ${num(g.maxGroups)} groups vs at ${num(g.minGroups)}`, 1.5, g.p50Ratio, '<='));
  // Merging a push into one aggregated group may cost, but keep 80 % of the pushes/s of a plain push to one group.
  if (aggregate) out.push(check('aggregate small: pushes/s merged into one group vs plain pushes to one group', 0.8, aggregate.pushesPerS));
  return out;
}

export function targetsReport(checks: TargetCheck[]): string {
  return table(
    ['goal', 'target', 'measured', 'result'],
    checks.map((c) => [c.goal, `${c.direction ?? '>='} ${c.want}x`, ratio(c.got), c.status]),
  );
}
