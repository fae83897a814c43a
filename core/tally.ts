// Counts taken on a request's path as plain additions, handed to a prom-client counter when
// the registry is read. prom-client hashes and checks the labels on every inc(); on a push of
// one sample, three of those cost about as much as parsing the push.
import type { Counter, LabelValues } from "prom-client";

interface Entry<L extends string> {
  labels: LabelValues<L>;
  n: number;
  /** Handed to the counter once at least: from then on, a zero count has nothing to add. */
  shown: boolean;
}

export class Tally<L extends string> {
  private readonly counts = new Map<string, Entry<L>>();

  constructor(private readonly counter: Counter<L>) {
    // The counter may be shared (several inputs of one kind): each tally adds its own counts.
    const c = counter as unknown as { collect?: () => unknown };
    const before = c.collect;
    c.collect = () => {
      this.flush();
      return before?.call(counter);
    };
  }

  /** Adds n for the label values `values` (in the counter's label order, joined into the key). */
  add(n: number, ...values: string[]): void {
    const key = values.length === 1 ? values[0] : values.join("\u0000");
    const e = this.counts.get(key);
    if (e) e.n += n;
    else this.counts.set(key, { labels: this.labelsOf(values), n, shown: false });
  }

  private labelsOf(values: string[]): LabelValues<L> {
    const names = (this.counter as unknown as { labelNames: L[] }).labelNames;
    const labels: Partial<Record<L, string>> = {};
    names.forEach((name, i) => (labels[name] = values[i]));
    return labels as LabelValues<L>;
  }

  private flush(): void {
    for (const e of this.counts.values()) {
      if (e.n === 0 && e.shown) continue;
      this.counter.inc(e.labels, e.n);
      e.n = 0;
      e.shown = true;
    }
  }
}
