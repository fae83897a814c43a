// Command-line flags of the soak and the abuse replay: every flag takes a value (with an optional
// default), --help prints the usage, and positive() reads a flag that must be a positive number.
import { parseArgs } from 'node:util';

export function flags<K extends string>(
  defaults: Record<K, string | undefined>,
  help: string,
): { values: Record<K, string | undefined>; positive(k: K): number } {
  const options = Object.fromEntries(Object.entries(defaults).map(([k, d]) => [k, d === undefined ? { type: 'string' as const } : { type: 'string' as const, default: d as string }]));
  const { values } = parseArgs({ options: { ...options, help: { type: 'boolean', default: false } } });
  if (values.help) {
    console.log(help);
    process.exit(0);
  }
  const v = values as unknown as Record<K, string | undefined>;
  return {
    values: v,
    positive(k) {
      const n = Number(v[k]);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`--${k}: expected a positive number, got "${v[k]}"`);
      return n;
    },
  };
}
