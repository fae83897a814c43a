// The point model every input produces and every sink consumes.

/** A float (number), an integer (bigint), a string or a boolean. */
export type FieldValue = number | bigint | string | boolean;

export interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  /** Unix time in nanoseconds. */
  time: bigint;
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
