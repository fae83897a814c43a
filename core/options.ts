// Typed option schemas: one definition per option gives its default, its description,
// how it is read from TOML and from an environment variable, and how it is printed
// back (samples, check-config). Inputs, sinks and the agent itself all use it.
import toml from "toml";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export interface OptionSpec<T> {
  kind: string;
  default: T;
  description: string;
  /** A required option has no usable default: a table that configures the component must set it. */
  required?: boolean;
  /** Parses a TOML value; throws a message (without location) when it does not fit. */
  fromToml(value: unknown): T;
  /** Parses an environment variable's text. */
  fromEnv(text: string): T;
  /** Renders a value as TOML, for samples and check-config. */
  toToml(value: T): string;
  /** An environment variable name other than the derived one. */
  env?: string;
  /** An array of tables: samples show one, commented out, as [[<component>.<key>]] with these values. */
  tableExample?: Record<string, string>;
}

export type Schema = Record<string, OptionSpec<any>>;
export type OptionsOf<S extends Schema> = { [K in keyof S]: S[K] extends OptionSpec<infer T> ? T : never };

type Check<T> = (value: T) => string | undefined;

interface Base<T> {
  default: T;
  description: string;
  required?: boolean;
  check?: Check<T>;
  env?: string;
}

function withCheck<T>(parse: (v: any) => T, check?: Check<T>): (v: any) => T {
  if (!check) return parse;
  return (v) => {
    const parsed = parse(v);
    const problem = check(parsed);
    if (problem) throw new ConfigError(problem);
    return parsed;
  };
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (v instanceof Date) return "datetime";
  if (v === null) return "null";
  return typeof v === "object" ? "table" : typeof v;
}

export function tomlString(s: string): string {
  return JSON.stringify(s);
}

function string(o: Base<string> & { choices?: readonly string[] }): OptionSpec<string> {
  const check: Check<string> | undefined = o.choices
    ? (v) => (o.choices!.includes(v) ? o.check?.(v) : `must be one of ${o.choices!.map((c) => `"${c}"`).join(", ")}, got "${v}"`)
    : o.check;
  const parse = (v: unknown): string => {
    if (typeof v !== "string") throw new ConfigError(`expected a string, got ${typeName(v)}`);
    return v;
  };
  return {
    kind: o.choices ? `one of ${o.choices.join("|")}` : "string",
    env: o.env,
    default: o.default,
    description: o.description,
    required: o.required,
    fromToml: withCheck(parse, check),
    fromEnv: withCheck((t: string) => t, check),
    toToml: tomlString,
  };
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

function boolean(o: Base<boolean>): OptionSpec<boolean> {
  return {
    kind: "boolean",
    env: o.env,
    default: o.default,
    description: o.description,
    fromToml: (v) => {
      if (typeof v !== "boolean") throw new ConfigError(`expected a boolean (true or false), got ${typeName(v)}`);
      return v;
    },
    fromEnv: (t) => {
      const l = t.trim().toLowerCase();
      if (TRUE.has(l)) return true;
      if (FALSE.has(l)) return false;
      throw new ConfigError(`expected a boolean (true/false, 1/0, yes/no, on/off), got "${t}"`);
    },
    toToml: (v) => String(v),
  };
}

function integer(o: Base<number> & { min?: number; max?: number }): OptionSpec<number> {
  const check: Check<number> = (v) => {
    if (o.min !== undefined && v < o.min) return `must be at least ${o.min}, got ${v}`;
    if (o.max !== undefined && v > o.max) return `must be at most ${o.max}, got ${v}`;
    return o.check?.(v);
  };
  return {
    kind: "integer",
    env: o.env,
    default: o.default,
    description: o.description,
    fromToml: withCheck((v: unknown) => {
      // Beyond 2^53 a number is no integer TOML can write back (check-config and the samples print it).
      if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new ConfigError(`expected an integer (at most ${Number.MAX_SAFE_INTEGER} in size), got ${typeName(v)} ${JSON.stringify(v)}`);
      return v;
    }, check),
    fromEnv: withCheck((t: string) => {
      if (!/^\s*[+-]?\d+\s*$/.test(t) || !Number.isSafeInteger(Number(t))) throw new ConfigError(`expected an integer (at most ${Number.MAX_SAFE_INTEGER} in size), got "${t}"`);
      return Number(t);
    }, check),
    toToml: (v) => String(v),
  };
}

const SIZE_UNITS: Record<string, number> = {
  "": 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3,
};

export function parseByteSize(t: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(t);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new ConfigError(`expected a byte size such as 16777216, "512KiB" or "16MiB", got "${t}"`);
  return Math.round(Number(m[1]) * unit);
}

export function formatByteSize(n: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return String(n);
}

/** A size in bytes: an integer, or a string with a unit ("16MiB"). */
function bytes(o: Base<number> & { min?: number }): OptionSpec<number> {
  const check: Check<number> = (v) => (o.min !== undefined && v < o.min ? `must be at least ${o.min} bytes, got ${v}` : undefined);
  return {
    kind: "byte size",
    env: o.env,
    default: o.default,
    description: o.description,
    fromToml: withCheck((v: unknown) => {
      if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
      if (typeof v === "string") return parseByteSize(v);
      throw new ConfigError(`expected a byte size (integer or string such as "16MiB"), got ${typeName(v)}`);
    }, check),
    fromEnv: withCheck(parseByteSize, check),
    toToml: (v) => tomlString(formatByteSize(v)),
  };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(t: string): number {
  const s = t.trim();
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    end = re.lastIndex;
  }
  if (end === 0 || end !== s.length) throw new ConfigError(`expected a duration such as "500ms", "30s", "5m" or "1h30m", got "${t}"`);
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration in milliseconds, written as "30s", "1m30s", "250ms". */
function duration(o: Base<number> & { min?: number }): OptionSpec<number> {
  const check: Check<number> = (v) => (o.min !== undefined && v < o.min ? `must be at least ${formatDuration(o.min)}` : undefined);
  return {
    kind: "duration",
    env: o.env,
    default: o.default,
    description: o.description,
    fromToml: withCheck((v: unknown) => {
      if (typeof v !== "string") throw new ConfigError(`expected a duration string such as "30s", got ${typeName(v)}`);
      return parseDuration(v);
    }, check),
    fromEnv: withCheck(parseDuration, check),
    toToml: (v) => tomlString(formatDuration(v)),
  };
}

/** A table of string values, e.g. static tags; from the environment as "k1=v1,k2=v2". */
function stringMap(o: Base<Record<string, string>> & { checkKey?: (k: string) => string | undefined }): OptionSpec<Record<string, string>> {
  const check: Check<Record<string, string>> = (m) => {
    for (const k of Object.keys(m)) {
      const problem = o.checkKey?.(k);
      if (problem) return problem;
    }
    return undefined;
  };
  return {
    kind: "table of strings",
    env: o.env,
    default: o.default,
    description: o.description,
    fromToml: withCheck((v: unknown) => {
      if (typeName(v) !== "table") throw new ConfigError(`expected a table of strings, got ${typeName(v)}`);
      const out: Record<string, string> = {};
      for (const [k, val] of Object.entries(v as object)) {
        if (typeof val !== "string") throw new ConfigError(`expected a string for key "${k}", got ${typeName(val)}`);
        out[k] = val;
      }
      return out;
    }, check),
    fromEnv: withCheck((t: string) => {
      const out: Record<string, string> = {};
      for (const part of t.split(",")) {
        if (part.trim() === "") continue;
        const eq = part.indexOf("=");
        if (eq <= 0) throw new ConfigError(`expected "key=value" pairs separated by commas, got "${part}"`);
        out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
      }
      return out;
    }, check),
    toToml: (m) => `{ ${Object.entries(m).map(([k, v]) => `${/^[A-Za-z0-9_-]+$/.test(k) ? k : tomlString(k)} = ${tomlString(v)}`).join(", ")} }`.replace("{  }", "{}"),
  };
}

/** A number that may have a fraction, e.g. a rate per second. */
function number(o: Base<number> & { min?: number }): OptionSpec<number> {
  const check: Check<number> = (v) => (o.min !== undefined && v < o.min ? `must be at least ${o.min}, got ${v}` : o.check?.(v));
  return {
    kind: "number",
    env: o.env,
    default: o.default,
    description: o.description,
    fromToml: withCheck((v: unknown) => {
      if (typeof v !== "number" || !Number.isFinite(v)) throw new ConfigError(`expected a number, got ${typeName(v)} ${JSON.stringify(v)}`);
      return v;
    }, check),
    fromEnv: withCheck((t: string) => {
      if (!/^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$/.test(t)) throw new ConfigError(`expected a number, got "${t}"`);
      return Number(t);
    }, check),
    toToml: (v) => String(v),
  };
}

/** An array of strings; from the environment as "a,b,c". */
function stringList(o: Base<string[]> & { checkItem?: (item: string) => string | undefined }): OptionSpec<string[]> {
  const check: Check<string[]> = (list) => {
    for (const item of list) {
      const problem = o.checkItem?.(item);
      if (problem) return problem;
    }
    return o.check?.(list);
  };
  return {
    kind: "array of strings",
    env: o.env,
    default: o.default,
    description: o.description,
    required: o.required,
    fromToml: withCheck((v: unknown) => {
      if (!Array.isArray(v)) throw new ConfigError(`expected an array of strings, got ${typeName(v)}`);
      for (const item of v) if (typeof item !== "string") throw new ConfigError(`expected an array of strings, got an item of type ${typeName(item)}`);
      return v as string[];
    }, check),
    fromEnv: withCheck(
      (t: string) =>
        t
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== ""),
      check,
    ),
    toToml: (list) => `[${list.map(tomlString).join(", ")}]`,
  };
}

/**
 * An array of tables that share one schema, e.g. [[inputs.x.rule]] tables; each key is read by
 * its own spec, unknown keys and missing required ones are refused naming the table. From the
 * environment, a TOML array of inline tables: [{ a = 1 }, { a = 2 }].
 */
function tableArray<S extends Schema>(o: { description: string; schema: S; what: string; example: Partial<OptionsOf<S>>; check?: Check<OptionsOf<S>> }): OptionSpec<OptionsOf<S>[]> {
  const readTable = (v: unknown, i: number): OptionsOf<S> => {
    const where = `${o.what} #${i + 1}`;
    if (typeName(v) !== "table") throw new ConfigError(`${where}: expected a table, got ${typeName(v)}`);
    const table = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(table)) {
      if (!(key in o.schema)) throw new ConfigError(`${where}: unknown key "${key}" (known: ${Object.keys(o.schema).join(", ")})`);
    }
    for (const [key, spec] of Object.entries(o.schema)) {
      if (!(key in table)) {
        if (spec.required) throw new ConfigError(`${where}: "${key}" is required`);
        out[key] = spec.default;
        continue;
      }
      try {
        out[key] = spec.fromToml(table[key]);
      } catch (e) {
        if (e instanceof ConfigError) throw new ConfigError(`${where} key "${key}": ${e.message}`);
        throw e;
      }
    }
    const problem = o.check?.(out as OptionsOf<S>);
    if (problem) throw new ConfigError(`${where}: ${problem}`);
    return out as OptionsOf<S>;
  };
  const fromToml = (v: unknown): OptionsOf<S>[] => {
    if (!Array.isArray(v)) throw new ConfigError(`expected an array of tables ([[...]]), got ${typeName(v)}`);
    return v.map(readTable);
  };
  return {
    kind: `array of tables (${Object.keys(o.schema).join(", ")})`,
    default: [],
    description: o.description,
    tableExample: Object.fromEntries(Object.entries(o.schema).map(([k, spec]) => [k, spec.toToml((o.example as Record<string, unknown>)[k] ?? spec.default)])),
    fromToml,
    fromEnv: (t: string) => {
      let parsed: unknown;
      try {
        parsed = (toml.parse(`v = ${t}`) as { v: unknown }).v;
      } catch (e) {
        throw new ConfigError(`expected a TOML array of inline tables such as [{ key = "value" }], got "${t}": ${(e as Error).message}`);
      }
      return fromToml(parsed);
    },
    toToml: (list) =>
      `[${list
        .map((item) => `{ ${Object.entries(o.schema).map(([k, spec]) => `${k} = ${spec.toToml((item as Record<string, unknown>)[k])}`).join(", ")} }`)
        .join(", ")}]`,
  };
}

export const opt = { string, boolean, integer, number, bytes, duration, stringMap, stringList, tableArray };

/** Env variable name of an option: ENV_INPUT_PUSHGATEWAY_ROUTE_PREFIX. */
export function envName(prefix: string, option: string): string {
  return `${prefix}_${option}`.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
}
