// Loads the effective configuration: conf.d/agent.conf, every other *.conf under conf.d
// (recursively, never samples/), and the ENV_* variables. Every value remembers where it
// came from, so check-config can show it. Any unknown key, wrong type or bad value is an
// error naming the file (or variable), the table and the key.
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import toml from "toml";
import { agentSections } from "./agent-options.ts";
import { deliveryOptions } from "./delivery.ts";
import { ConfigError, envName, type OptionSpec, type Schema } from "./options.ts";
import type { SinkDefinition } from "./plugin.ts";
import type { Registry } from "./registry.ts";

export type Source =
  | { kind: "default" }
  | { kind: "file"; file: string }
  | { kind: "env"; name: string };

export interface Setting {
  value: unknown;
  source: Source;
}

export type Settings = Record<string, Setting>;

export interface ComponentConfig {
  /** Input or sink name, e.g. "pushgateway", "file". */
  type: string;
  /** Where the component was declared: a file path, ENV_INPUTS, ENV_SINKS, ENV_DEFAULT_ENABLED_INPUTS or "default". */
  origin: string;
  settings: Settings;
}

export interface AgentConfig {
  confDir: string;
  sections: Record<keyof typeof agentSections, Settings>;
  sinks: ComponentConfig[];
  inputs: ComponentConfig[];
  warnings: string[];
}

type Env = Record<string, string | undefined>;

export function values(settings: Settings): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [k, s] of Object.entries(settings)) out[k] = s.value;
  return out;
}

export function sinkSchema(def: SinkDefinition): Schema {
  return { ...deliveryOptions(def.deliveryDefaults), ...def.options };
}

const ENV_SUBST = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Substitutes $VAR and ${VAR} ($$ is a literal $); comment lines are left alone. */
export function substituteEnv(text: string, env: Env, where: string): string {
  return text
    .split("\n")
    .map((line, i) => {
      if (/^\s*#/.test(line)) return line;
      return line.replace(ENV_SUBST, (all, braced: string | undefined, bare: string | undefined) => {
        if (all === "$$") return "$";
        const name = (braced ?? bare)!;
        const v = env[name];
        if (v === undefined) throw new ConfigError(`${where} line ${i + 1}: environment variable ${name} is not set (write $$ for a literal $)`);
        return v;
      });
    })
    .join("\n");
}

function parseToml(text: string, where: string): Record<string, unknown> {
  try {
    return toml.parse(text) as Record<string, unknown>;
  } catch (e) {
    const err = e as { message: string; line?: number; column?: number; location?: { start: { line: number; column: number } } };
    const line = err.line ?? err.location?.start.line;
    const column = err.column ?? err.location?.start.column;
    const at = line !== undefined ? ` at line ${line}, column ${column}` : "";
    throw new ConfigError(`${where}: TOML syntax error${at}: ${err.message}`);
  }
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** The known name closest to `key`, if it is a likely typo of it (at most two edits away). */
function nearest(key: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(k, key);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function unknownKey(kind: string, key: string, known: Iterable<string>): string {
  const list = [...known];
  const near = nearest(key, list);
  const hint = near ? ` (did you mean "${near}"?)` : "";
  return `unknown ${kind} "${key}"${hint}; known: ${list.join(", ") || "none"}`;
}

/** Settings for a schema from a TOML table: defaults, then the table's values. */
function settingsFromTable(schema: Schema, table: Record<string, unknown>, where: string, source: Source): Settings {
  const settings = defaults(schema);
  for (const [key, raw] of Object.entries(table)) {
    // Own keys only: a plain object's own names (constructor, toString, ...) are no options.
    const spec = Object.hasOwn(schema, key) ? schema[key] : undefined;
    if (!spec) throw new ConfigError(`${where}: ${unknownKey("key", key, Object.keys(schema))}`);
    settings[key] = { value: parseWith(spec, raw, `${where} key "${key}"`, "toml"), source };
  }
  for (const [key, spec] of Object.entries(schema)) {
    if (spec.required && !(key in table)) throw new ConfigError(`${where}: key "${key}" is required (${spec.description})`);
  }
  return settings;
}

function defaults(schema: Schema): Settings {
  const settings: Settings = {};
  for (const [key, spec] of Object.entries(schema)) settings[key] = { value: spec.default, source: { kind: "default" } };
  return settings;
}

function parseWith(spec: OptionSpec<unknown>, raw: unknown, where: string, from: "toml" | "env"): unknown {
  try {
    return from === "toml" ? spec.fromToml(raw) : spec.fromEnv(raw as string);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${where}: ${e.message}`);
    throw e;
  }
}

/** `[[inputs.x]]` gives an array of tables, `[inputs.x]` one table: both mean instances. */
function instances(v: unknown, where: string): Record<string, unknown>[] {
  if (isTable(v)) return [v];
  if (Array.isArray(v) && v.every(isTable)) return v as Record<string, unknown>[];
  throw new ConfigError(`${where}: expected a table ([${where.split(" ").pop()}] or [[...]])`);
}

function componentsFromTable(
  kind: "inputs" | "sinks",
  table: unknown,
  where: string,
  schemaOf: (type: string) => Schema | undefined,
  known: Iterable<string>,
  source: Source = { kind: "file", file: where },
): ComponentConfig[] {
  if (!isTable(table)) throw new ConfigError(`${where}: "${kind}" must be a table of [[${kind}.<name>]] tables`);
  const out: ComponentConfig[] = [];
  for (const [type, v] of Object.entries(table)) {
    const schema = schemaOf(type);
    if (!schema) throw new ConfigError(`${where}: ${unknownKey(kind === "inputs" ? "input" : "sink", type, known)}`);
    const list = instances(v, `${where} [${kind}.${type}]`);
    list.forEach((t, i) => {
      const label = list.length > 1 ? `[[${kind}.${type}]] #${i + 1}` : `[${kind}.${type}]`;
      out.push({ type, origin: where, settings: settingsFromTable(schema, t, `${where} ${label}`, source) });
    });
  }
  return out;
}

function listConfFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "samples") walk(full);
      } else if (entry.name.endsWith(".conf") && (entry.isFile() || entry.isSymbolicLink())) {
        out.push(full);
      }
    }
  };
  walk(dir);
  return out;
}

function splitNames(text: string): string[] {
  return text.split(/[\s,]+/).filter((s) => s !== "");
}

export interface LoadOptions {
  confDir: string;
  env: Env;
  registry: Registry;
}

export function loadConfig({ confDir, env, registry }: LoadOptions): AgentConfig {
  const warnings: string[] = [];
  const inputSchema = (t: string) => registry.inputs.get(t)?.options;
  const sinkSchemaOf = (t: string) => {
    const def = registry.sinks.get(t);
    return def ? sinkSchema(def) : undefined;
  };

  const sections = {} as AgentConfig["sections"];
  for (const [name, schema] of Object.entries(agentSections)) sections[name as keyof typeof agentSections] = defaults(schema);
  let sinks: ComponentConfig[] = [];
  const inputs: ComponentConfig[] = [];

  let files: string[] = [];
  let dirExists = false;
  try {
    dirExists = statSync(confDir).isDirectory();
    if (!dirExists) throw new ConfigError(`conf dir ${confDir} is not a directory`);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new ConfigError(`conf dir ${confDir}: ${(e as Error).message}`);
  }
  if (dirExists) files = listConfFiles(confDir);

  const readConf = (file: string) => {
    const where = path.relative(process.cwd(), file) || file;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new ConfigError(`${where}: cannot read: ${(e as Error).message}`);
    }
    return { where, doc: parseToml(substituteEnv(text, env, where), where) };
  };

  const agentConf = path.join(confDir, "agent.conf");
  for (const file of files) {
    const { where, doc } = readConf(file);
    if (file === agentConf) {
      for (const [key, v] of Object.entries(doc)) {
        if (key === "sinks") {
          sinks.push(...componentsFromTable("sinks", v, where, sinkSchemaOf, registry.sinks.keys()));
        } else if (key === "inputs") {
          inputs.push(...componentsFromTable("inputs", v, where, inputSchema, registry.inputs.keys()));
        } else if (Object.hasOwn(agentSections, key)) {
          if (!isTable(v)) throw new ConfigError(`${where}: [${key}] must be a table`);
          const schema = agentSections[key as keyof typeof agentSections] as Schema;
          const parsed = settingsFromTable(schema, v, `${where} [${key}]`, { kind: "file", file: where });
          for (const k of Object.keys(v)) sections[key as keyof typeof agentSections][k] = parsed[k];
        } else {
          throw new ConfigError(`${where}: ${unknownKey("table", key, [...Object.keys(agentSections), "sinks", "inputs"])}`);
        }
      }
    } else {
      for (const [key, v] of Object.entries(doc)) {
        if (key !== "inputs") throw new ConfigError(`${where}: unknown table "${key}"; input conf files hold [[inputs.<name>]] tables (agent settings belong in agent.conf)`);
        inputs.push(...componentsFromTable("inputs", v, where, inputSchema, registry.inputs.keys()));
      }
    }
  }

  if (env.ENV_INPUTS !== undefined && env.ENV_INPUTS.trim() !== "") {
    const doc = parseToml(env.ENV_INPUTS, "ENV_INPUTS");
    for (const [key, v] of Object.entries(doc)) {
      if (key !== "inputs") throw new ConfigError(`ENV_INPUTS: unknown table "${key}"; it holds [[inputs.<name>]] tables`);
      inputs.push(...componentsFromTable("inputs", v, "ENV_INPUTS", inputSchema, registry.inputs.keys(), { kind: "env", name: "ENV_INPUTS" }));
    }
  }

  // ENV_DEFAULT_ENABLED_INPUTS: enable with the sample (default) config unless a conf configures
  // the input; "-name" disables the input whatever enabled it.
  const enabled = new Set<string>();
  const disabled = new Set<string>();
  for (const item of splitNames(env.ENV_DEFAULT_ENABLED_INPUTS ?? "")) {
    const name = item.startsWith("-") ? item.slice(1) : item;
    if (!registry.inputs.has(name)) {
      // A near miss is a typo that would leave the agent without its input; a name far from
      // every input (DataKit's cpu, mem, ... in a copied manifest) is only a warning.
      if (nearest(name, registry.inputs.keys())) throw new ConfigError(`ENV_DEFAULT_ENABLED_INPUTS: ${unknownKey("input", name, registry.inputs.keys())}`);
      warnings.push(`ENV_DEFAULT_ENABLED_INPUTS: unknown input "${name}" ignored; known: ${[...registry.inputs.keys()].join(", ")}`);
      continue;
    }
    if (item.startsWith("-")) disabled.add(name);
    else enabled.add(name);
  }
  for (const name of enabled) {
    if (disabled.has(name)) continue;
    const configured = inputs.find((i) => i.type === name);
    if (configured) {
      warnings.push(`ENV_DEFAULT_ENABLED_INPUTS: input "${name}" is configured by ${configured.origin}; that configuration is used`);
      continue;
    }
    inputs.push({ type: name, origin: "ENV_DEFAULT_ENABLED_INPUTS", settings: defaults(registry.inputs.get(name)!.options) });
  }

  // ENV_INPUT_<NAME>_<OPTION> overrides that option of every instance of the input: the
  // environment wins over files, as it does for the agent's own settings.
  for (const [name, def] of registry.inputs) {
    const prefix = envName("ENV_INPUT", name);
    const vars = Object.keys(env).filter((k) => k.startsWith(prefix + "_"));
    if (vars.length === 0) continue;
    const byEnvName = new Map(Object.keys(def.options).map((k) => [envName(prefix, k), k]));
    for (const v of vars) {
      const key = byEnvName.get(v);
      if (!key) throw new ConfigError(`${v}: input "${name}" has no such option; its variables: ${[...byEnvName.keys()].join(", ")}`);
      const value = parseWith(def.options[key], env[v], v, "env");
      for (const i of inputs) if (i.type === name) i.settings[key] = { value, source: { kind: "env", name: v } };
    }
  }

  const active = inputs.filter((i) => !disabled.has(i.type));
  for (const name of disabled) {
    if (inputs.some((i) => i.type === name)) warnings.push(`ENV_DEFAULT_ENABLED_INPUTS: input "${name}" disabled by "-${name}"`);
  }

  for (const [section, schema] of Object.entries(agentSections)) {
    for (const [key, spec] of Object.entries(schema as Schema)) {
      const name = spec.env ?? envName(`ENV_${section}`, key);
      const raw = env[name];
      if (raw === undefined) continue;
      sections[section as keyof typeof agentSections][key] = { value: parseWith(spec, raw, name, "env"), source: { kind: "env", name } };
    }
  }

  checkEnvNames(env, registry);
  if (env.ENV_SINKS !== undefined && env.ENV_SINKS.trim() !== "") sinks = sinksFromEnv(env.ENV_SINKS, registry);
  if (sinks.length === 0) {
    const def = registry.sinks.get("stdout");
    if (def) sinks.push({ type: "stdout", origin: "default (no sink configured)", settings: defaults(sinkSchema(def)) });
  }

  return { confDir, sections, sinks, inputs: active, warnings };
}

function sinksFromEnv(text: string, registry: Registry): ComponentConfig[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((raw) => {
      let url: URL;
      try {
        // URL schemes may not hold "_": remote_write+http:// is read as remote-write+http://.
        url = new URL(raw.replace(/^[A-Za-z][A-Za-z0-9+._-]*(?=:)/, (scheme) => scheme.replace(/_/g, "-")));
      } catch {
        throw new ConfigError(`ENV_SINKS: "${raw}" is not a URL (expected e.g. stdout:// or file:///var/lib/pushkit/points.lp)`);
      }
      const scheme = url.protocol.replace(/:$/, "");
      const def = registry.sinkForScheme(scheme);
      if (!def) {
        const schemes = [...registry.sinks.values()].flatMap((d) => d.urlSchemes.map((s) => `${s}://`));
        throw new ConfigError(`ENV_SINKS: unknown sink scheme "${scheme}://" in "${raw}"; known: ${schemes.join(", ")}`);
      }
      const schema = sinkSchema(def);
      let table: Record<string, unknown>;
      try {
        table = def.fromUrl(url);
      } catch (e) {
        throw new ConfigError(`ENV_SINKS: "${raw}": ${(e as Error).message}`);
      }
      return { type: def.name, origin: "ENV_SINKS", settings: settingsFromTable(schema, table, `ENV_SINKS "${raw}"`, { kind: "env", name: "ENV_SINKS" }) };
    });
}

/** Variables read by name, besides the options' own. */
const FIXED_ENV = ["ENV_CONF_DIR", "ENV_INPUTS", "ENV_SINKS", "ENV_DEFAULT_ENABLED_INPUTS"];

/**
 * Prefixes of variables that belong to pushkit: every such variable must be one it reads. Other
 * ENV_ variables are someone else's, unless they are a near miss of one of ours.
 */
const OWNED_ENV_PREFIXES = ["ENV_AGENT_", "ENV_HTTP_", "ENV_LOG_", "ENV_INPUT", "ENV_SINK", "ENV_DATA_", "ENV_CONF_", "ENV_DEFAULT_", "ENV_GLOBAL_"];

/** Every ENV_ variable the agent reads, with the current registry's inputs. */
export function knownEnvNames(registry: Registry): Set<string> {
  const names = new Set(FIXED_ENV);
  for (const [section, schema] of Object.entries(agentSections)) {
    for (const [key, spec] of Object.entries(schema as Schema)) names.add(spec.env ?? envName(`ENV_${section}`, key));
  }
  for (const [name, def] of registry.inputs) {
    for (const key of Object.keys(def.options)) names.add(envName(envName("ENV_INPUT", name), key));
  }
  return names;
}

/** A misspelled variable would be ignored and leave a default in place (in a DaemonSet: the agent on loopback): refuse it. */
function checkEnvNames(env: Env, registry: Registry): void {
  const known = knownEnvNames(registry);
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith("ENV_") || known.has(name)) continue;
    const near = nearest(name, known);
    if (!near && !OWNED_ENV_PREFIXES.some((p) => name.startsWith(p))) continue;
    const hint = near ? `did you mean ${near}?` : `pushkit reads ${[...known].filter((k) => sharedPrefix(k, name) >= 8).join(", ") || [...known].join(", ")}`;
    throw new ConfigError(`environment variable ${name} is not a pushkit setting (${hint})`);
  }
}

function sharedPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i;
}
