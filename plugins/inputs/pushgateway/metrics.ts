// The input's own metrics, on the agent's registry (served at GET /metrics). Several
// pushgateway inputs share them: a metric is registered once.
import { Counter, type Registry } from "prom-client";

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

export class PushMetrics {
  readonly pushes: Counter<"method" | "code">;
  readonly points: Counter<"format">;
  readonly parseErrors: Counter<"format">;

  constructor(registry: Registry) {
    this.pushes = counter(registry, "pushkit_pushgateway_pushes_total", "Pushes answered, by method and status code.", ["method", "code"]);
    this.points = counter(registry, "pushkit_pushgateway_points_total", "Points of accepted pushes, by body format.", ["format"]);
    this.parseErrors = counter(registry, "pushkit_pushgateway_parse_errors_total", "Pushes refused because their body did not parse, by body format.", ["format"]);
  }
}
