// The input's own metrics, on the agent's registry (served at GET /metrics). Several
// pushgateway inputs share them: a metric is registered once.
import { Counter, type Registry } from "prom-client";
import { Tally } from "../../../core/tally.ts";
import { BODY_FORMATS } from "../../formats/prometheus/mediatypes.ts";

const LIMITS = ["sample_limit", "label_limit", "label_name_length_limit", "label_value_length_limit", "max_series", "max_groups"] as const;

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

export class PushMetrics {
  /** add(n, method, code) */
  readonly pushes: Tally<"method" | "code">;
  /** add(n, format) */
  readonly points: Tally<"format">;
  /** add(n, format) */
  readonly parseErrors: Tally<"format">;
  /** add(n, rule) */
  readonly merges: Tally<"rule">;
  /** add(n, limit) */
  readonly limited: Tally<"limit">;

  constructor(registry: Registry, ruleIds: readonly string[] = []) {
    this.pushes = new Tally(counter(registry, "pushkit_pushgateway_pushes_total", "Pushes answered, by method and status code.", ["method", "code"]));
    this.points = new Tally(counter(registry, "pushkit_pushgateway_points_total", "Points of accepted pushes, by body format.", ["format"]));
    this.parseErrors = new Tally(counter(registry, "pushkit_pushgateway_parse_errors_total", "Pushes refused because their body did not parse, by body format.", ["format"]));
    this.merges = new Tally(counter(registry, "pushkit_pushgateway_aggregate_merges_total", "Pushes added into an aggregated group, by aggregate rule (1 for the first).", ["rule"]));
    this.limited = new Tally(counter(registry, "pushkit_pushgateway_pushes_limited_total", "Pushes refused whole because they went over a limit, by the limit's option name.", ["limit"]));
    for (const limit of LIMITS) this.limited.add(0, limit);
    for (const rule of ruleIds) this.merges.add(0, rule);
    // Shown as 0 from the start, so that rate() and alerts on them work on a healthy agent.
    for (const format of BODY_FORMATS) {
      this.points.add(0, format);
      this.parseErrors.add(0, format);
    }
  }
}
