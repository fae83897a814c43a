// Families compared as the data they carry: keys in a fixed order, absent and undefined alike,
// an empty HELP as none, and numbers bit-exact where it matters (NaN equals NaN, -0 is not 0).
import type { MetricFamily } from "../../../plugins/formats/prometheus/model.ts";

function number(v: number): unknown {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Object.is(v, -0)) return "-0";
  return v;
}

function canonValue(v: unknown): unknown {
  if (typeof v === "number") return number(v);
  if (Array.isArray(v)) return v.map(canonValue);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined || (k === "help" && x === "")) continue;
      out[k] = canonValue(x);
    }
    return out;
  }
  return v;
}

export function canon(families: readonly MetricFamily[]): string {
  return JSON.stringify(canonValue(families));
}

/** Undefined when equal, else where the two first differ (a path and both values, cut short). */
export function difference(got: readonly MetricFamily[], want: readonly MetricFamily[]): string | undefined {
  const a = canonValue(got);
  const b = canonValue(want);
  const walk = (x: unknown, y: unknown, at: string): string | undefined => {
    if (JSON.stringify(x) === JSON.stringify(y)) return undefined;
    if (x && y && typeof x === "object" && typeof y === "object") {
      const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
      for (const k of keys) {
        const d = walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${at}${Array.isArray(x) ? `[${k}]` : `.${k}`}`);
        if (d) return d;
      }
    }
    const cut = (v: unknown) => (JSON.stringify(v) ?? "absent").slice(0, 300);
    return `${at || "families"}: got ${cut(x)}, want ${cut(y)}`;
  };
  return walk(a, b, "");
}

/** The families without the native-histogram grid, which the writers do not carry. */
export function withoutNative(families: readonly MetricFamily[]): MetricFamily[] {
  return families.map((f) => ({
    ...f,
    metrics: f.metrics.map((m) => (m.histogram?.native ? { ...m, histogram: { ...m.histogram, native: undefined } } : m)),
  }));
}
