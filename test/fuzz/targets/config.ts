// Configuration (core/config.ts over the real option schemas) as a fuzz target: whatever the
// conf files and ENV_* variables hold, loading gives a configuration or a ConfigError with a
// message (the CLI's exit 2 with "pushkit: <message>"), never another exception (a stack trace
// and exit 1); so do the checks across options made when the agent starts.
//   schema   one option, any TOML value or variable text: a value or a ConfigError; a value
//            accepted, printed as check-config and the samples print it, reads back the same
//   files    conf.d/agent.conf and an input conf file, with variables: loaded or refused
//   mutated  the same documents with bytes mutated
import fc from "fast-check";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import toml from "toml";
import { loadConfig, values, type AgentConfig } from "../../../core/config.ts";
import { ConfigError } from "../../../core/options.ts";
import { checkSecurityOptions, type SecurityOptions } from "../../../core/security/http-security.ts";
import { checkOptions as checkInfluxdb, type InfluxdbOptions } from "../../../plugins/sinks/influxdb/index.ts";
import { validateOptions as checkRemoteWrite } from "../../../plugins/sinks/prometheus_remote_write/options.ts";
import { agentConf, ALL_OPTIONS, env, inputConf, registry, tomlValue } from "../gen/toml-config.ts";
import { apply, mutation } from "../gen/mutate.ts";
import { probe, SlowInput, timed } from "../probe.ts";
import type { FuzzTarget } from "./target.ts";

/** Runs fn; a ConfigError with a message is a refusal, anything else thrown is a crash. */
function refusedOrDone<T>(what: string, fn: () => T): T | ConfigError {
  try {
    return timed(what, fn);
  } catch (e) {
    if (e instanceof SlowInput) throw e;
    if (!(e instanceof ConfigError)) throw new Error(`${what} threw ${(e as Error)?.name}, not a ConfigError: ${(e as Error)?.stack ?? e}`);
    if (e.message.trim() === "") throw new Error(`${what}: a ConfigError without a message`);
    return e;
  }
}

/** The checks across options that starting the agent makes (http security, each sink's). */
function startChecks(config: AgentConfig): void {
  checkSecurityOptions(values(config.sections.http) as SecurityOptions);
  for (const s of config.sinks) {
    if (s.type === "influxdb") checkInfluxdb(values(s.settings) as InfluxdbOptions);
    if (s.type === "prometheus_remote_write") checkRemoteWrite(values(s.settings) as Parameters<typeof checkRemoteWrite>[0]);
  }
}

interface Files {
  agent?: string;
  input?: string;
}

function load(dir: string, files: Files, vars: Record<string, string>): void {
  // The same two files each time, written or removed: a fresh directory per input costs more than the load.
  for (const [name, text] of [["agent.conf", files.agent], ["pushgateway.conf", files.input]] as const) {
    if (text !== undefined) writeFileSync(path.join(dir, name), text);
    else rmSync(path.join(dir, name), { force: true });
  }
  probe.input(JSON.stringify({ files, env: vars }));
  const config = refusedOrDone("loading the configuration", () => loadConfig({ confDir: dir, env: vars, registry }));
  if (config instanceof ConfigError) return;
  refusedOrDone("checking the options together", () => startChecks(config));
}

const files: fc.Arbitrary<Files> = fc.record({ agent: agentConf, input: inputConf }, { requiredKeys: [] });

const mutatedFiles: fc.Arbitrary<Files> = fc.tuple(files, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([f, ms]) => {
  const m = (text: string | undefined) => {
    if (text === undefined) return undefined;
    let b: Buffer = Buffer.from(text);
    for (const x of ms) b = apply(b, x).subarray(0, 16384);
    return b.toString("utf8");
  };
  return { agent: m(f.agent), input: m(f.input) };
});

/** A value as the option prints it (samples, check-config) and reads back; credentials print masked. */
function printedBack(o: (typeof ALL_OPTIONS)[number], value: unknown): void {
  const printed = o.spec.toToml(value);
  if (printed.includes("***")) return;
  let raw: unknown;
  try {
    raw = (toml.parse(`v = ${printed}`) as { v: unknown }).v;
  } catch (e) {
    throw new Error(`${o.key}: ${JSON.stringify(value)} prints as ${printed}, which is not TOML: ${(e as Error).message}`);
  }
  const back = refusedOrDone(`reading ${o.key} back`, () => o.spec.fromToml(raw));
  if (back instanceof ConfigError) throw new Error(`${o.key}: ${JSON.stringify(value)} prints as ${printed}, which it refuses: ${back.message}`);
  // JSON's view: -0 and 0 are the same setting.
  if (JSON.stringify(back) !== JSON.stringify(value)) throw new Error(`${o.key}: ${JSON.stringify(value)} prints as ${printed}, which reads back as ${JSON.stringify(back)}`);
}

export const configTarget: FuzzTarget = {
  name: "config",
  description: "TOML conf files and ENV_* variables (loadConfig and the start-up checks)",
  async open() {
    const dir = mkdtempSync(path.join(tmpdir(), "pushkit-fuzz-config-"));
    const option = fc.integer({ min: 0, max: ALL_OPTIONS.length - 1 }).map((i) => ALL_OPTIONS[i]);
    return {
      properties: [
        {
          name: "schema",
          share: 0.3,
          property: fc.property(option, tomlValue, fc.string({ unit: "binary", maxLength: 12 }), (o, text, envText) => {
            let raw: unknown;
            try {
              raw = (toml.parse(`v = ${text}`) as { v: unknown }).v;
            } catch {
              return;
            }
            probe.input(`${o.key} = ${text}`);
            const value = refusedOrDone(`reading ${o.key} from TOML`, () => o.spec.fromToml(raw));
            if (!(value instanceof ConfigError)) printedBack(o, value);
            refusedOrDone(`reading ${o.key} from ${JSON.stringify(envText)}`, () => o.spec.fromEnv(envText));
          }),
        },
        { name: "files", share: 0.4, property: fc.property(files, env, (f, vars) => load(dir, f, vars)) },
        { name: "mutated", share: 0.3, property: fc.property(mutatedFiles, env, (f, vars) => load(dir, f, vars)) },
      ],
      close: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};
