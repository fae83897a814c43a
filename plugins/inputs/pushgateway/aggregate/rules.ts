// Aggregation rules: which jobs' pushes are added into one group instead of replacing it, and
// which grouping and body labels are dropped first so that many processes meet in that group.
import { opt, type OptionsOf } from "../../../../core/options.ts";
import { LABEL_NAME } from "../../../formats/prometheus/model.ts";

export const GAUGE_MODES = ["last", "sum", "min", "max"] as const;
export type GaugeMode = (typeof GAUGE_MODES)[number];

/** A shell-style glob (* ? [abc] [!a-z], \ escapes) as a RegExp over the whole name; throws on a bad one. */
export function globToRegExp(glob: string): RegExp {
  if (glob === "") throw new Error("an empty glob matches no job");
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "\\") {
      if (i + 1 >= glob.length) throw new Error(`glob "${glob}" ends with a lone "\\"`);
      re += escape(glob[++i]);
    } else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) throw new Error(`glob "${glob}" has a "[" without its "]"`);
      let set = glob.slice(i + 1, end);
      const negate = set.startsWith("!");
      if (negate) set = set.slice(1);
      re += `[${negate ? "^" : ""}${set.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else re += escape(c);
  }
  return new RegExp(`^${re}$`, "s");
}

function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

const ruleSchema = {
  jobs: opt.stringList({
    default: [],
    required: true,
    description: 'Globs on the job name, e.g. ["lambda-*", "ci-build"].',
    checkItem: (g) => {
      try {
        globToRegExp(g);
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    },
    check: (list) => (list.length === 0 ? "needs at least one glob" : undefined),
  }),
  drop_labels: opt.stringList({
    default: [],
    description: "Grouping-key and body labels removed from a push before it is added in, e.g. the instance or an invocation id.",
    checkItem: (n) => (n === "job" ? 'the job cannot be dropped: it names the aggregated group' : LABEL_NAME.test(n) ? undefined : `"${n}" is not a label name`),
  }),
  gauges: opt.string({
    default: "last",
    choices: GAUGE_MODES,
    description: "How gauges and untyped metrics combine: last (the latest push wins), sum, min or max.",
  }),
  honor_timestamps: opt.boolean({
    default: false,
    description: "Take pushed timestamps (the latest wins); by default a push with timestamps is refused, since a sum has no single time.",
  }),
};

export type RuleOptions = OptionsOf<typeof ruleSchema>;

export const aggregateOption = opt.tableArray({
  what: "aggregate rule",
  schema: ruleSchema,
  example: { jobs: ["lambda-*", "ci-build"], drop_labels: ["instance", "invocation_id"] },
  description:
    "Aggregation rules ([[inputs.pushgateway.aggregate]] tables): a push whose job matches a rule's jobs is added into the group its grouping key names once drop_labels are removed (counters, histograms and summary counts add; gauges as the rule's gauges says) instead of replacing it. The first matching rule applies.",
});

export interface AggregateRule {
  /** "1" for the first rule: the self-metric's label, the marker in the API and the page. */
  readonly id: string;
  readonly options: RuleOptions;
  readonly gauges: GaugeMode;
  /** The description shown with an aggregated group. */
  readonly summary: string;
}

export class AggregateRules {
  private readonly compiled: { rule: AggregateRule; globs: RegExp[] }[];

  constructor(rules: readonly RuleOptions[]) {
    this.compiled = rules.map((options, i) => ({
      rule: {
        id: String(i + 1),
        options,
        gauges: options.gauges as GaugeMode,
        summary: `rule #${i + 1}: jobs ${options.jobs.join(", ")}${options.drop_labels.length ? `; drops ${options.drop_labels.join(", ")}` : ""}; gauges ${options.gauges}`,
      },
      globs: options.jobs.map(globToRegExp),
    }));
  }

  get size(): number {
    return this.compiled.length;
  }

  get rules(): AggregateRule[] {
    return this.compiled.map((c) => c.rule);
  }

  /** The rule of a stored group (by its job): the group pushes are added into. */
  ruleForGroup(labels: readonly (readonly [string, string])[]): AggregateRule | undefined {
    if (this.compiled.length === 0) return undefined;
    const job = labels.find(([n]) => n === "job")?.[1];
    return job === undefined ? undefined : this.ruleFor(job);
  }

  /** The first rule whose globs match the job. */
  ruleFor(job: string): AggregateRule | undefined {
    for (const c of this.compiled) if (c.globs.some((g) => g.test(job))) return c.rule;
    return undefined;
  }
}

/** The grouping key of the aggregated group: the pushed one without the rule's dropped labels. */
export function aggregatedGrouping(grouping: ReadonlyMap<string, string>, rule: AggregateRule): Map<string, string> {
  const out = new Map(grouping);
  for (const n of rule.options.drop_labels) out.delete(n);
  return out;
}
