// A fuzz target: a named set of fast-check properties over one entry point, each taking its
// share of the inputs a run is given. The same targets run bounded in `npm test`
// (test/fuzz/*.test.ts) and long in `npm run fuzz` (scripts/fuzz/run.ts).
import type fc from "fast-check";

export interface FuzzProperty {
  name: string;
  /** Fraction of the target's inputs this property gets. */
  share: number;
  property: fc.IRawProperty<any>;
}

export interface OpenTarget {
  properties: FuzzProperty[];
  /** Ends what open() started (an agent, temporary files). */
  close(): Promise<void>;
}

export interface FuzzTarget {
  name: string;
  description: string;
  open(): Promise<OpenTarget>;
}
