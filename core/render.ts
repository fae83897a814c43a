// Renders configuration as TOML: sample files for inputs, and the effective configuration
// (with where each value came from) for check-config.
import type { AgentConfig, ComponentConfig, Setting, Source } from "./config.ts";
import { envName, type Schema } from "./options.ts";
import type { InputDefinition } from "./plugin.ts";
import { agentSections } from "./agent-options.ts";

function wrap(text: string, width = 88): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > width) {
      out.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(line);
  return out;
}

export function renderSample(def: InputDefinition): string {
  const lines = [
    `# ${def.name}: ${def.description}.`,
    `# Copy this file to conf.d/${def.name}.conf (any *.conf under conf.d/ works) to enable the input,`,
    `# or set ENV_DEFAULT_ENABLED_INPUTS=${def.name} to enable it with exactly these defaults.`,
    `# Each option can also be set by its environment variable, which wins over this file.`,
    "",
    `[[inputs.${def.name}]]`,
  ];
  for (const [key, spec] of Object.entries(def.options as Schema)) {
    lines.push("");
    for (const l of wrap(spec.description)) lines.push(`  ## ${l}`);
    lines.push(`  ## ${spec.kind}; env ${envName(`ENV_INPUT_${def.name}`, key)}`);
    if (spec.tableExample) {
      // A table array cannot be shown as "key = []": the [[...]] tables of a user would clash with it.
      lines.push(`  # [[inputs.${def.name}.${key}]]`, ...Object.entries(spec.tableExample).map(([k, v]) => `  #   ${k} = ${v}`));
    } else {
      lines.push(`  ${key} = ${spec.toToml(spec.default)}`);
    }
  }
  return lines.join("\n") + "\n";
}

function describe(source: Source): string {
  switch (source.kind) {
    case "default": return "default";
    case "file": return `file ${source.file}`;
    case "env": return `env ${source.name}`;
  }
}

function renderSettings(schema: Schema, settings: Record<string, Setting>): string[] {
  const rows = Object.entries(settings).map(([k, s]) => [`  ${k} = ${schema[k].toToml(s.value)}`, describe(s.source)]);
  const width = Math.max(0, ...rows.map(([l]) => l.length));
  return rows.map(([l, d]) => `${l.padEnd(width)}  # ${d}`);
}

function renderComponents(kind: string, list: ComponentConfig[], schemaOf: (t: string) => Schema): string[] {
  const lines: string[] = [];
  for (const c of list) {
    lines.push("", `[[${kind}.${c.type}]]  # from ${c.origin}`, ...renderSettings(schemaOf(c.type), c.settings));
  }
  return lines;
}

export function renderEffective(config: AgentConfig, inputSchema: (t: string) => Schema, sinkSchema: (t: string) => Schema): string {
  const lines = [`# pushkit effective configuration (conf dir ${config.confDir})`];
  for (const [section, schema] of Object.entries(agentSections)) {
    lines.push("", `[${section}]`, ...renderSettings(schema as Schema, config.sections[section as keyof typeof agentSections]));
  }
  lines.push(...renderComponents("sinks", config.sinks, sinkSchema));
  if (config.inputs.length === 0) lines.push("", "# no inputs enabled (add a conf file or set ENV_DEFAULT_ENABLED_INPUTS)");
  lines.push(...renderComponents("inputs", config.inputs, inputSchema));
  return lines.join("\n") + "\n";
}
