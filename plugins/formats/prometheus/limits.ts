// Limits on what one body may hold, checked by the parsers while they parse: a body over a limit
// is refused as soon as it goes over, before the rest of it becomes objects. The names are those
// of Prometheus' scrape config, so that an operator knows them.
import { BodyParseError } from "./model.ts";

/** Each limit 0 for none. */
export interface BodyLimits {
  /** Series in one body: one per label set of a family (a summary or histogram with all its quantiles or buckets is one). */
  sample_limit: number;
  /** Labels on one series (the parsers see the body's own; the caller adds what it merges in). */
  label_limit: number;
  /** Length of a label name, in characters (UTF-16 code units, as JavaScript counts). */
  label_name_length_limit: number;
  /** Length of a label value, in characters. */
  label_value_length_limit: number;
}

export type LimitName = keyof BodyLimits | "max_series";

export const NO_LIMITS: BodyLimits = { sample_limit: 0, label_limit: 0, label_name_length_limit: 0, label_value_length_limit: 0 };

/** A body (or a push) over a limit: refused whole; the message names the limit, its value and what the push had. */
export class LimitError extends BodyParseError {
  constructor(
    readonly limit: LimitName,
    readonly value: number,
    /** What the push had, and where. */
    readonly detail: string,
  ) {
    super(`${detail}; the limit is ${value} (${limit})`);
    this.name = "LimitError";
  }
}

function cut(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
}

export function hasLimits(l: BodyLimits): boolean {
  return l.sample_limit > 0 || l.label_limit > 0 || l.label_name_length_limit > 0 || l.label_value_length_limit > 0;
}

/**
 * The limits as a parser checks them, once per series as it is created (repeated lines of a
 * histogram or summary are not series of their own) and once per family.
 */
export class LimitCheck {
  private count = 0;
  private families = 0;

  constructor(
    private readonly l: BodyLimits,
    /** Where the parser is, for the message: e.g. "line 12". */
    private readonly where: () => string,
  ) {}

  /**
   * A new family. Its name is the value of Prometheus' __name__ label, so label_value_length_limit
   * bounds it; families count against sample_limit too, since a body of metadata alone would
   * otherwise be unbounded objects.
   */
  addFamily(name: string): void {
    const l = this.l;
    if (l.label_value_length_limit > 0 && name.length > l.label_value_length_limit) {
      throw new LimitError("label_value_length_limit", l.label_value_length_limit, `metric name at ${this.where()} has ${name.length} characters (${cut(name)})`);
    }
    if (++this.families > l.sample_limit && l.sample_limit > 0) {
      throw new LimitError("sample_limit", l.sample_limit, `the push has more than ${l.sample_limit} metric families (refused at ${this.where()})`);
    }
  }

  /** A new series of metric `name`, labelled by the first n entries of `labels` ([name, value, ...]). */
  series(name: string, labels: readonly string[], n: number): void {
    const l = this.l;
    if (++this.count > l.sample_limit && l.sample_limit > 0) {
      throw new LimitError("sample_limit", l.sample_limit, `the push has more than ${l.sample_limit} series (refused at ${this.where()})`);
    }
    if (l.label_limit > 0 && n / 2 > l.label_limit) {
      throw new LimitError("label_limit", l.label_limit, `series of ${cut(name)} at ${this.where()} has ${n / 2} labels`);
    }
    if (l.label_name_length_limit === 0 && l.label_value_length_limit === 0) return;
    for (let i = 0; i < n; i += 2) {
      labelLength(l, labels[i], labels[i + 1], () => `series of ${cut(name)} at ${this.where()}`);
    }
  }
}

/** Checks one label's name and value lengths; `where` names the series or grouping key for the message. */
export function labelLength(l: BodyLimits, labelName: string, value: string, where: () => string): void {
  if (l.label_name_length_limit > 0 && labelName.length > l.label_name_length_limit) {
    throw new LimitError("label_name_length_limit", l.label_name_length_limit, `${where()} has a label name of ${labelName.length} characters (${cut(labelName)})`);
  }
  if (l.label_value_length_limit > 0 && value.length > l.label_value_length_limit) {
    throw new LimitError("label_value_length_limit", l.label_value_length_limit, `${where()} has a value of ${value.length} characters for label ${cut(labelName)}`);
  }
}
