// Configuration as a user may write it: TOML documents for conf.d (agent.conf with its
// sections, sinks and inputs; input conf files) and ENV_* variables, built from the real option
// schemas so that most keys are real and values are of every kind: valid for the option,
// of the wrong type, out of range, and TOML of odd spellings, with $VAR references.
import fc from "fast-check";
import { agentSections } from "../../../core/agent-options.ts";
import { sinkSchema } from "../../../core/config.ts";
import { envName, type OptionSpec, type Schema } from "../../../core/options.ts";
import { builtinRegistry } from "../../../plugins/index.ts";

export const registry = builtinRegistry();

export interface Option {
  key: string;
  spec: OptionSpec<unknown>;
  /** The option's environment variable, if it has one. */
  env?: string;
}

function options(schema: Schema, env?: (key: string) => string): Option[] {
  return Object.entries(schema).map(([key, spec]) => ({ key, spec, env: spec.env ?? env?.(key) }));
}

export const SECTIONS: Record<string, Option[]> = Object.fromEntries(
  Object.entries(agentSections).map(([name, schema]) => [name, options(schema as Schema, (k) => envName(`ENV_${name}`, k))]),
);
export const INPUTS: Record<string, Option[]> = Object.fromEntries([...registry.inputs].map(([name, d]) => [name, options(d.options, (k) => envName(envName("ENV_INPUT", name), k))]));
export const SINKS: Record<string, Option[]> = Object.fromEntries([...registry.sinks].map(([name, d]) => [name, options(sinkSchema(d))]));

export const ALL_OPTIONS: Option[] = [...Object.values(SECTIONS), ...Object.values(INPUTS), ...Object.values(SINKS)].flat();

/** Keys that are no option: typos, other tools' keys, and names every JavaScript object has. */
const ODD_KEYS = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "prototype", "listen ", "Listen", "lisen", "level", "", "a.b", "inputs", "sinks"];

const str = (s: string) => JSON.stringify(s).replace(/\\u007f/g, "\u007f");

/** TOML spellings of strings: basic (with escapes), literal, multi-line; with $VAR references now and then. */
const tomlString: fc.Arbitrary<string> = fc
  .tuple(fc.oneof(fc.string({ unit: "grapheme-ascii", maxLength: 12 }), fc.string({ unit: "binary", maxLength: 6 }), fc.constantFrom("$X", "${X}", "$$", "$UNSET", "a$", "${", "\\", "'", '"')), fc.integer({ min: 0, max: 9 }))
  .map(([s, how]) => (how === 0 && !s.includes("'") && !/[\n\r]/.test(s) ? `'${s}'` : how === 1 ? `"""${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"""` : str(s)));

const tomlInteger = fc.oneof(fc.integer().map(String), fc.constantFrom("0", "-1", "+5", "1_000", "0x10", "0o7", "0b1", "9223372036854775807", "-9223372036854775808", "99999999999999999999", "007"));
const tomlFloat = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => (Number.isInteger(v) ? `${v}.0` : String(v).replace("e+", "e"))), fc.constantFrom("inf", "-inf", "nan", "1e3", "0.5", "-0.0", "1e400"));

/** Any TOML value, nested a little. */
export const tomlValue: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    tomlString,
    tomlInteger,
    tomlFloat,
    fc.constantFrom("true", "false", "1979-05-27T07:32:00Z", "1979-05-27", "07:32:00", "1979-05-27T00:32:00.999999-07:00"),
    fc.array(tie("v"), { maxLength: 3 }).map((xs) => `[${xs.join(", ")}]`),
    fc.array(fc.tuple(fc.constantFrom("a", "b", "jobs", "drop_labels", "gauges", "x y"), tie("v")), { maxLength: 3 }).map((kv) => `{ ${kv.map(([k, v]) => `${/^[a-z_]+$/.test(k) ? k : str(k)} = ${v}`).join(", ")} }`),
  ),
})).v;

/** A value meant for the option's kind: usually a plausible one, sometimes wrong. */
function valueFor(spec: OptionSpec<unknown>): fc.Arbitrary<string> {
  const k = spec.kind;
  let plausible: fc.Arbitrary<string>;
  if (k === "duration") plausible = fc.constantFrom('"30s"', '"1m30s"', '"500ms"', '"0"', '"1h"', '"1.5s"', '"30"', '"-1s"', '"1d"', '""', "30");
  else if (k === "byte size") plausible = fc.constantFrom("123", '"16MiB"', '"1.5KiB"', '"1x"', "-1", '""', "0", '"0"', '"1GB"', "1.5");
  else if (k === "boolean") plausible = fc.constantFrom("true", "false", '"true"', "1");
  else if (k === "integer" || k === "number") plausible = fc.oneof(tomlInteger, tomlFloat);
  else if (k === "table of strings") plausible = fc.constantFrom("{}", '{ node = "n1" }', '{ "bad name" = "x" }', "{ a = 1 }", '{ Authorization = "x" }', '{ "X-A" = "a\\u0001b" }');
  else if (k === "array of strings") plausible = fc.constantFrom("[]", '["*"]', '["https://grafana.example.com"]', '["http://a/b"]', "[1]", '"*"');
  else if (k.startsWith("one of ")) plausible = fc.constantFrom(...k.slice(7).split("|").map(str), '"nope"');
  else if (k.startsWith("array of tables")) {
    plausible = fc.constantFrom('[{ jobs = ["a"], drop_labels = ["instance"] }]', "[{}]", '[{ jobs = ["a"], drop_labels = ["instance"], gauges = "sum" }]', '[{ jobs = [], x = 1 }]', "[]", "{}");
  } else {
    plausible = fc.constantFrom('"127.0.0.1:0"', '"[::1]:9529"', '"0.0.0.0:70000"', '""', '"/tmp/pushkit-fuzz/x"', '"http://127.0.0.1:1/write?db=x"', '"https://u:p@h/x#f"', '"ftp://x"', '"/v1/pushgateway"', '"/a/"', '"TLS1.3"');
  }
  return fc.oneof({ arbitrary: plausible, weight: 3 }, tomlString, tomlValue);
}

function key(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : str(k);
}

/** key = value lines of a table, with keys of the schema mostly. */
function table(opts: Option[]): fc.Arbitrary<string[]> {
  const odd = fc.tuple(fc.constantFrom(...ODD_KEYS), tomlValue).map(([k, v]) => `${key(k)} = ${v}`);
  const line = opts.length === 0 ? odd : fc.oneof({ arbitrary: fc.constantFrom(...opts).chain((o) => valueFor(o.spec).map((v) => `${key(o.key)} = ${v}`)), weight: 8 }, odd);
  return fc.array(line, { maxLength: 5 });
}

function component(kind: "inputs" | "sinks", names: Record<string, Option[]>): fc.Arbitrary<string[]> {
  return fc
    .tuple(fc.constantFrom(...Object.keys(names), "nope", "pushgatway"), fc.boolean())
    .chain(([name, array]) => table(names[name] ?? []).map((lines) => [array ? `[[${kind}.${key(name)}]]` : `[${kind}.${key(name)}]`, ...lines]));
}

export const agentConf: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      { arbitrary: fc.constantFrom(...Object.keys(SECTIONS)).chain((s) => table(SECTIONS[s]).map((lines) => [`[${s}]`, ...lines])), weight: 4 },
      { arbitrary: component("sinks", SINKS), weight: 2 },
      { arbitrary: component("inputs", INPUTS), weight: 2 },
      fc.constantFrom(["[nope]", "a = 1"], ["x = 1"], ["[http]", "[http]"], ["[inputs]", "pushgateway = 1"], ["[[inputs.pushgateway.aggregate]]", 'jobs = ["a"]', 'drop_labels = ["instance"]'], ["[sinks]", 'file = "x"']),
    ),
    { maxLength: 5 },
  )
  .map((blocks) => blocks.flat().join("\n") + "\n");

/** An input conf file: [[inputs.<name>]] tables, or something that does not belong there. */
export const inputConf: fc.Arbitrary<string> = fc
  .array(fc.oneof({ arbitrary: component("inputs", INPUTS), weight: 4 }, fc.constant(["[http]", 'listen = "x"'])), { maxLength: 3 })
  .map((blocks) => blocks.flat().join("\n") + "\n");

/** A TOML basic string's text (a variable holds "30s", not "\"30s\""); anything else as it is. */
function unquoted(v: string): string {
  if (!v.startsWith('"')) return v;
  try {
    return JSON.parse(v) as string;
  } catch {
    return v;
  }
}

/** The text of an option's environment variable: plausible for its kind, or anything. */
function envText(spec: OptionSpec<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    valueFor(spec).map(unquoted),
    fc.string({ unit: "binary", maxLength: 10 }),
    fc.constantFrom("k1=v1,k2=v2", "=x", "a=", " 5 ", "1e3", "yes", "off", ""),
  );
}

const withEnv = ALL_OPTIONS.filter((o) => o.env !== undefined);

export const env: fc.Arbitrary<Record<string, string>> = fc
  .tuple(
    fc.array(fc.constantFrom(...withEnv).chain((o) => envText(o.spec).map((v) => [o.env!, v] as const)), { maxLength: 4 }),
    fc.option(fc.oneof(inputConf, agentConf), { nil: undefined, freq: 4 }),
    fc.option(fc.array(fc.constantFrom("stdout://", "file:///tmp/pushkit-fuzz/points.lp", "file://host/x", "influxdb+http://u:p@127.0.0.1:8086/write?db=x", "remote_write+http://127.0.0.1:1/api/v1/write", "nope://x", "::", "stdout://?batch_points=5", ""), { maxLength: 3 }).map((l) => l.join(",")), { nil: undefined, freq: 4 }),
    fc.option(fc.constantFrom("pushgateway", "-pushgateway", "pushgatewy", "cpu,mem", "pushgateway,-pushgateway", " ", "PUSHGATEWAY"), { nil: undefined, freq: 4 }),
    fc.array(fc.tuple(fc.constantFrom("ENV_HTTP_LISTN", "ENV_INPUT_PUSHGATEWAY_NOPE", "ENV_FOO", "ENV_LOG_LEVL", "X", "UNSET", "ENV_"), fc.string({ maxLength: 6 })), { maxLength: 2 }),
  )
  .map(([options, inputs, sinks, enabled, extra]) => {
    const out: Record<string, string> = Object.fromEntries([...options, ...extra]);
    if (inputs !== undefined) out.ENV_INPUTS = inputs;
    if (sinks !== undefined) out.ENV_SINKS = sinks;
    if (enabled !== undefined) out.ENV_DEFAULT_ENABLED_INPUTS = enabled;
    return out;
  });
